"""The one DRF router of the whole API; each app registers its viewsets in ``<app>/api/urls.py``."""

from rest_framework.routers import DefaultRouter

router = DefaultRouter()
