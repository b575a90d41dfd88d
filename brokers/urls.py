from django.urls import path

from brokers import views

app_name = "brokers"

urlpatterns = [
    path("", views.account_list, name="list"),
    path("kite/callback/", views.kite_callback, name="kite_callback"),
    path("dhan/", views.dhan_link_account, name="dhan_link"),
    path("<int:pk>/token/", views.dhan_token, name="dhan_token"),
    path("<int:pk>/login/", views.account_login, name="login"),
    path("<int:pk>/unlink/", views.account_unlink, name="unlink"),
    path("<int:pk>/reconcile/", views.account_reconcile, name="reconcile"),
]
