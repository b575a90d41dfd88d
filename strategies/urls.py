"""Dashboard pages for strategies, under /app/strategies/."""

from django.urls import path

from strategies import views, views_builder

app_name = "strategies"

urlpatterns = [
    path("app/strategies/", views.strategy_list, name="list"),
    path("app/strategies/new/", views.strategy_create, name="create"),
    path("app/strategies/params/", views.strategy_params, name="params"),
    path("app/strategies/basket-picker/", views.basket_picker, name="basket_picker"),
    path("app/strategies/rules/new/", views_builder.rule_builder, name="builder"),
    path("app/strategies/<int:pk>/rules/", views_builder.rule_builder_edit, name="builder_edit"),
    path("app/strategies/<int:pk>/", views.strategy_detail, name="detail"),
    path("app/strategies/<int:pk>/edit/", views.strategy_edit, name="edit"),
    path("app/strategies/<int:pk>/deploy/", views.strategy_deploy, name="deploy"),
    path("app/strategies/<int:pk>/stop/", views.strategy_stop, name="stop"),
    path("app/strategies/<int:pk>/archive/", views.strategy_archive, name="archive"),
    path("app/strategies/<int:pk>/delete/", views.strategy_delete, name="delete"),
]
