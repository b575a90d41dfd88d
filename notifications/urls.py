from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.page, name="page"),
    path("email/", views.email_settings, name="email"),
    path("webhooks/", views.webhook_add, name="webhook_add"),
    path("webhooks/<int:pk>/toggle/", views.webhook_toggle, name="webhook_toggle"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    path("webhooks/<int:pk>/test/", views.webhook_test, name="webhook_test"),
]
