from django.urls import path

from algosaas.api.router import router
from optimisation.api.views import OptimisationViewSet, StrategyOptimisationsView

router.register("optimisations", OptimisationViewSet, basename="optimisation")

urlpatterns = [
    path(
        "strategies/<str:pk>/optimisations/",
        StrategyOptimisationsView.as_view(),
        name="strategy-optimisations",
    ),
]
