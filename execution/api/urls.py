from django.urls import path

from algosaas.api.router import router
from execution.api.views import (
    BacktestViewSet,
    DeploymentOrdersView,
    DeploymentViewSet,
    InstrumentViewSet,
    OrderViewSet,
    StrategyBacktestsView,
)

router.register("instruments", InstrumentViewSet, basename="instrument")
router.register("backtests", BacktestViewSet, basename="backtest")
router.register("deployments", DeploymentViewSet, basename="deployment")
router.register("orders", OrderViewSet, basename="order")

urlpatterns = [
    path(
        "deployments/<str:pk>/orders/",
        DeploymentOrdersView.as_view(),
        name="deployment-orders",
    ),
    path(
        "strategies/<str:pk>/backtests/",
        StrategyBacktestsView.as_view(),
        name="strategy-backtests",
    ),
]
