from algosaas.api.router import router
from brokers.api.views import BrokerAccountViewSet

router.register("brokers", BrokerAccountViewSet, basename="broker-account")

urlpatterns: list = []
