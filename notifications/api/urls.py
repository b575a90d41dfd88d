from algosaas.api.router import router
from notifications.api.views import DeliveryViewSet, WebhookViewSet

router.register("notifications/webhooks", WebhookViewSet, basename="notification-webhook")
router.register("notifications/deliveries", DeliveryViewSet, basename="notification-delivery")

urlpatterns: list = []
