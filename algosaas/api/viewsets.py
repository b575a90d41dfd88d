"""The one shape of an endpoint over rows that belong to the requesting user.

Every such endpoint reads through its app's user-scoped selectors: the list through
``<entities>_for_user`` and one row through ``<entity>_get_for_user``, which raises 404 for a
row that is missing and for one that belongs to someone else alike. Writing that once here keeps
the three things a copy could forget in one place: the login requirement, the empty queryset
the schema generator needs (it builds views without a user), and a detail lookup that never
falls back to DRF's own (which would filter the detail by the list's query parameters).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import mixins, permissions, viewsets
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer


class UserScopedMixin:
    """A generic view whose rows are the requesting user's own, read through their selectors.

    Set ``model`` and implement ``scoped_queryset`` (the list); a view with a detail route also
    implements ``scoped_object`` (one row or 404). Pagination, filtering and ordering are the
    API's defaults (``REST_FRAMEWORK`` settings), applied to ``scoped_queryset`` as usual.
    """

    model: type[Model]
    permission_classes = [permissions.IsAuthenticated]

    def scoped_queryset(self, user: Any) -> QuerySet:
        """Return ``user``'s rows through the app's ``*_for_user`` selector."""
        raise NotImplementedError

    def scoped_object(self, user: Any, pk: str) -> Model:
        """Return ``user``'s row ``pk`` through ``*_get_for_user``, or raise ``Http404``."""
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return self.model._default_manager.none()
        return self.scoped_queryset(self.request.user)

    def get_object(self) -> Model:
        return self.scoped_object(self.request.user, self.kwargs["pk"])

    def paginated(self, queryset: QuerySet, serializer_class: type[BaseSerializer]) -> Response:
        """One page of ``queryset`` (a detail's sub-collection) in the list's envelope."""
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


class UserScopedViewSet(UserScopedMixin, viewsets.GenericViewSet):
    """A viewset over the user's own rows; add the ``mixins`` of the actions it offers."""


class UserScopedReadOnlyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, UserScopedViewSet
):
    """List and retrieve the user's own rows."""
