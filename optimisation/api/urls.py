from django.urls import path

from algosaas.api.router import router
from optimisation.api.robustness_views import (
    BacktestMonteCarloView,
    RobustnessViewSet,
    StrategyWalkForwardView,
)
from optimisation.api.views import OptimisationViewSet, StrategyOptimisationsView

router.register("optimisations", OptimisationViewSet, basename="optimisation")
router.register("robustness", RobustnessViewSet, basename="robustness")

urlpatterns = [
    path(
        "strategies/<str:pk>/optimisations/",
        StrategyOptimisationsView.as_view(),
        name="strategy-optimisations",
    ),
    path(
        "strategies/<str:pk>/walk-forward/",
        StrategyWalkForwardView.as_view(),
        name="strategy-walk-forward",
    ),
    path(
        "backtests/<str:pk>/monte-carlo/",
        BacktestMonteCarloView.as_view(),
        name="backtest-monte-carlo",
    ),
]
