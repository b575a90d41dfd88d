from algosaas.api.router import router
from execution.api.views import InstrumentViewSet

router.register("instruments", InstrumentViewSet, basename="instrument")

urlpatterns: list = []
