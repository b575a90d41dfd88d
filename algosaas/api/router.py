"""The one DRF router of the whole API; each app registers its viewsets in ``<app>/api/urls.py``.

No format-suffix routes (``/api/orders/1.json``): the API speaks JSON (content negotiation picks
the browsable renderer), and the suffix routes passed a ``format`` kwarg that views with an
explicit ``pk`` signature did not take, so every one of them answered 500.
"""

from rest_framework.routers import DefaultRouter


class Router(DefaultRouter):
    include_format_suffixes = False


router = Router()
