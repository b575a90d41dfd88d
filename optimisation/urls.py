"""Dashboard pages of the optimisation app: sweeps of a strategy and robustness reports."""

from django.urls import path

from optimisation import views

app_name = "optimisation"

urlpatterns = [
    path("app/strategies/<int:pk>/optimise/", views.sweep_new, name="sweep_new"),
    path("app/optimisations/<int:pk>/", views.sweep_detail, name="sweep"),
    path("app/optimisations/<int:pk>/progress/", views.sweep_body, name="sweep_body"),
    path("app/optimisations/<int:pk>/heatmap/", views.sweep_heatmap_part, name="sweep_heatmap"),
    path("app/optimisations/<int:pk>/results/", views.sweep_results_part, name="sweep_results"),
    path("app/optimisations/<int:pk>/cancel/", views.sweep_cancel_view, name="sweep_cancel"),
    path("app/optimisations/<int:pk>/save/", views.sweep_save_params, name="sweep_save"),
    path("app/optimisations/<int:pk>/backtest/", views.sweep_backtest, name="sweep_backtest"),
    path(
        "app/optimisations/<int:pk>/walk-forward/",
        views.sweep_walk_forward_view,
        name="sweep_walk_forward",
    ),
    path(
        "app/optimisations/<int:pk>/monte-carlo/",
        views.sweep_monte_carlo_view,
        name="sweep_monte_carlo",
    ),
    path("app/robustness/<int:pk>/", views.robustness_detail, name="robustness"),
    path("app/robustness/<int:pk>/progress/", views.robustness_body, name="robustness_body"),
    path("app/robustness/<int:pk>/cancel/", views.robustness_cancel, name="robustness_cancel"),
]
