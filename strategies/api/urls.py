from algosaas.api.router import router
from strategies.api.views import StrategyTypeViewSet, StrategyViewSet

router.register("strategy-types", StrategyTypeViewSet, basename="strategy-type")
router.register("strategies", StrategyViewSet, basename="strategy")

urlpatterns: list = []
