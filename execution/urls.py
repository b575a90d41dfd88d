"""Dashboard pages of the execution app: overview, backtests, deployments and orders."""

from django.urls import path

from execution import views

urlpatterns = [
    path("app/", views.overview, name="overview"),
    path("app/strategies/<int:pk>/backtest/", views.backtest_new, name="backtest_new"),
    path(
        "app/strategies/<int:pk>/backtest/estimate/",
        views.backtest_estimate,
        name="backtest_estimate",
    ),
    path("app/backtests/", views.backtest_list, name="backtest_list"),
    path("app/backtests/<int:pk>/", views.backtest_detail, name="backtest_detail"),
    path("app/backtests/<int:pk>/progress/", views.backtest_progress, name="backtest_progress"),
    path(
        "app/backtests/<int:pk>/trades.csv",
        views.backtest_trades_export,
        name="backtest_trades_export",
    ),
    path("app/deployments/", views.deployment_list, name="deployment_list"),
    path("app/deployments/<int:pk>/", views.deployment_detail, name="deployment_detail"),
    path("app/deployments/<int:pk>/live/", views.deployment_live, name="deployment_live"),
    path("app/deployments/<int:pk>/equity/", views.deployment_equity, name="deployment_equity"),
    path("app/deployments/<int:pk>/chart/", views.deployment_chart_data, name="deployment_chart"),
    path(
        "app/deployments/<int:pk>/orders/",
        views.deployment_order_place,
        name="deployment_order_place",
    ),
    path("app/deployments/<int:pk>/stop/", views.deployment_stop, name="deployment_stop"),
    path("app/orders/", views.order_list, name="order_list"),
    path("app/orders/export.csv", views.order_export, name="order_export"),
    path("app/orders/<int:pk>/cancel/", views.order_cancel_view, name="order_cancel"),
]
