from django.urls import path

from algosaas.api.router import router
from strategies.api.views import RuleParseView, StrategyTypeViewSet, StrategyViewSet

router.register("strategy-types", StrategyTypeViewSet, basename="strategy-type")
router.register("strategies", StrategyViewSet, basename="strategy")

urlpatterns: list = [path("rules/parse/", RuleParseView.as_view(), name="rules-parse")]
