from django.urls import path

from algosaas.api.router import router
from brokers.api.postback_views import DhanPostbackView, KitePostbackView
from brokers.api.views import BrokerAccountViewSet

router.register("brokers", BrokerAccountViewSet, basename="broker-account")

urlpatterns: list = [
    path("brokers/kite/postback/", KitePostbackView.as_view(), name="broker-kite-postback"),
    path(
        "brokers/dhan/postback/<str:token>/",
        DhanPostbackView.as_view(),
        name="broker-dhan-postback",
    ),
]
