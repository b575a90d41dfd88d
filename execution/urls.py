"""Dashboard pages of the execution app."""

from django.urls import path

from execution import views

urlpatterns = [
    path("app/", views.overview, name="overview"),
]
