from django.urls import path

from brokers import views

app_name = "brokers"

urlpatterns = [
    path("", views.account_list, name="list"),
    path("kite/callback/", views.kite_callback, name="kite_callback"),
    path("<int:pk>/login/", views.account_login, name="login"),
    path("<int:pk>/unlink/", views.account_unlink, name="unlink"),
]
