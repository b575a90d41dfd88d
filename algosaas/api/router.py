"""The one DRF router of the whole API; each app registers its viewsets in ``<app>/api/urls.py``.

No format-suffix routes (``/api/orders/1.json``): the API speaks JSON (content negotiation picks
the browsable renderer), and the suffix routes passed a ``format`` kwarg that views with an
explicit ``pk`` signature did not take, so every one of them answered 500.
"""

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.routers import APIRootView, DefaultRouter

# Routes outside the router that a client needs first: how to get a token, and the docs.
EXTRA_LINKS = {
    "auth/register": "auth-register",
    "auth/token": "auth-token",
    "auth/token/refresh": "auth-token-refresh",
    "auth/token/verify": "auth-token-verify",
    "auth/logout": "auth-logout",
    "auth/password": "auth-password",
    "auth/me": "auth-me",
    "schema": "schema",
    "docs": "swagger-ui",
}


class ApiRoot(APIRootView):
    """The algosaas API: strategies, backtests and paper trading.

    Get a token pair at `auth/token` (or register at `auth/register`), then send
    `Authorization: Bearer <access>`. Every resource is described in `docs` (OpenAPI at `schema`).
    """

    permission_classes = (AllowAny,)  # a map of links: it shows no one's data

    def get(self, request: Request, *args, **kwargs) -> Response:
        response = super().get(request, *args, **kwargs)
        for key, name in EXTRA_LINKS.items():
            response.data[key] = reverse(name, request=request)
        return response


class Router(DefaultRouter):
    include_format_suffixes = False
    APIRootView = ApiRoot


router = Router()
