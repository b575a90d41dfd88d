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
from rest_framework import generics, mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from algosaas.api.idempotency import idempotency_token, idempotent


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


class CancelActionMixin:
    """A ``POST <pk>/cancel/`` action that cancels one of the user's jobs through ``cancel_job``
    and answers the job as it then stands (the service raises 409 once it cannot).

    A subclass documents the action with ``@extend_schema_view(cancel=...)``.
    """

    def cancel_job(self, job: Model) -> Model:
        """Cancel ``job`` through the app's service and return it."""
        raise NotImplementedError

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        # no docstring: the schema describes the action by the subclass's own words
        return Response(self.serializer_class(self.cancel_job(self.get_object())).data)


class UserScopedJobsView(UserScopedMixin, generics.ListCreateAPIView):
    """The jobs (backtests, sweeps, ...) of one of the user's own rows, ``pk`` in the URL.

    GET lists them (``scoped_queryset``); POST validates ``request_serializer_class``, starts one
    through ``start_job`` under the request's idempotency key and answers ``start_status`` with
    the job as ``start_job`` returns it. The parent is looked up (404 if not the user's) before
    the body is read. A subclass documents its POST with ``@extend_schema_view(post=...)``.
    """

    request_serializer_class: type[BaseSerializer]
    start_status = 202

    def scoped_parent(self, user: Any, pk: str) -> Model:
        """Return ``user``'s row ``pk`` the jobs belong to, or raise ``Http404``."""
        raise NotImplementedError

    def start_job(self, parent: Model, user: Any, data: dict[str, Any]) -> Model:
        """Start one job on ``parent`` with the validated body through the app's service."""
        raise NotImplementedError

    def recover_job(self, parent: Model, user: Any, token: str) -> Model | None:
        """The job a request with this key's ``token`` (``idempotency_token``) started, if the
        endpoint links its jobs to the key; None (the default) if it does not or there is none.

        A request that died after its job was committed, before its key recorded the answer,
        leaves the key in flight: the retry that takes the key over answers with this job
        instead of starting a second one.
        """
        return None

    def post(self, request: Request, pk: str) -> Response:
        parent = self.scoped_parent(request.user, pk)

        def start() -> Response:
            body = self.request_serializer_class(data=request.data)
            body.is_valid(raise_exception=True)
            job = self.start_job(parent, request.user, body.validated_data)
            return Response(self.serializer_class(job).data, status=self.start_status)

        def started() -> Response | None:
            token = idempotency_token(request)
            job = None if token is None else self.recover_job(parent, request.user, token)
            return (
                None
                if job is None
                else Response(self.serializer_class(job).data, status=self.start_status)
            )

        return idempotent(request, start, recover=started)
