"""``/api/notifications/``: webhook endpoints (CRUD + send test) and the delivery log."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from algosaas.api.viewsets import UserScopedReadOnlyViewSet, UserScopedViewSet
from notifications import selectors, services
from notifications.api.serializers import (
    DeliverySerializer,
    WebhookCreatedSerializer,
    WebhookSerializer,
)
from notifications.models import Delivery, DeliveryStatus, EventKind, WebhookEndpoint


class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    UserScopedViewSet,
):
    """Your webhook endpoints. The signing secret is in the create answer only; another
    user's endpoint is 404."""

    model = WebhookEndpoint
    serializer_class = WebhookSerializer
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    def scoped_queryset(self, user) -> QuerySet[WebhookEndpoint]:
        return selectors.webhooks_for_user(user=user)

    def scoped_object(self, user, pk: str) -> WebhookEndpoint:
        return selectors.webhook_get_for_user(user=user, webhook_id=pk)

    @extend_schema(request=WebhookSerializer, responses={201: WebhookCreatedSerializer})
    def create(self, request: Request) -> Response:
        data = WebhookSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_create(user=request.user, **data.validated_data)
        return Response(WebhookCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: WebhookSerializer) -> None:
        services.webhook_update(endpoint=serializer.instance, **serializer.validated_data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        """Send a ``test`` event to this endpoint now; the answer is that attempt's log row."""
        delivery = services.webhook_send_test(endpoint=self.get_object())
        return Response(DeliverySerializer(delivery).data)


class DeliveryFilter(django_filters.FilterSet):
    event = django_filters.ChoiceFilter(choices=EventKind.choices)
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    channel = django_filters.ChoiceFilter(choices=[("webhook", "webhook"), ("email", "email")])
    endpoint = django_filters.NumberFilter(field_name="endpoint_id")

    class Meta:
        model = Delivery
        fields = ["event", "status", "channel", "endpoint"]


class DeliveryViewSet(UserScopedReadOnlyViewSet):
    """The log of your notification attempts, newest first (one row per attempt)."""

    model = Delivery
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilter
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    def scoped_queryset(self, user) -> QuerySet[Delivery]:
        return selectors.deliveries_for_user(user=user)

    def scoped_object(self, user, pk: str) -> Delivery:
        try:
            return self.scoped_queryset(user).get(pk=int(pk))
        except (Delivery.DoesNotExist, TypeError, ValueError) as exc:
            raise Http404("No such delivery.") from exc
