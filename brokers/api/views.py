"""``/api/brokers/``: list, link (create), read and unlink your broker accounts."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from algosaas.api.viewsets import UserScopedViewSet
from brokers import dhan_link, selectors, services
from brokers.api.serializers import (
    BrokerAccountCreateSerializer,
    BrokerAccountSerializer,
    DhanAccountCreateSerializer,
    DhanTokenSerializer,
    ReconcileResultSerializer,
)
from brokers.models import BrokerAccount
from brokers.reconcile import reconcile_account


class BrokerAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, UserScopedViewSet):
    """Your linked broker accounts. Secrets are write-only; another user's account is 404."""

    model = BrokerAccount
    serializer_class = BrokerAccountSerializer
    ordering_fields = ["created_at"]
    ordering = ["created_at", "id"]

    def scoped_queryset(self, user) -> QuerySet[BrokerAccount]:
        return selectors.broker_accounts_for_user(user=user)

    def scoped_object(self, user, pk: str) -> BrokerAccount:
        return selectors.broker_account_get_for_user(user=user, account_id=pk)

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="BrokerAccountLink",
            serializers={
                "kite": BrokerAccountCreateSerializer,
                "dhan": DhanAccountCreateSerializer,
            },
            resource_type_field_name="vendor",
        ),
        responses={201: BrokerAccountSerializer},
    )
    def create(self, request: Request) -> Response:
        """Kite: ``api_key`` and ``api_secret``, then log in. Dhan: ``client_id``, token."""
        vendor = request.data.get("vendor") if hasattr(request.data, "get") else None
        if vendor == BrokerAccount.Vendor.DHAN:
            dhan = DhanAccountCreateSerializer(data=request.data)
            dhan.is_valid(raise_exception=True)
            fields = {k: v for k, v in dhan.validated_data.items() if k != "vendor"}
            account = dhan_link.dhan_account_create(user=request.user, **fields)
        else:
            data = BrokerAccountCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            account = services.broker_account_create(user=request.user, **data.validated_data)
        return Response(BrokerAccountSerializer(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DhanTokenSerializer, responses=BrokerAccountSerializer)
    @action(detail=True, methods=["post"])
    def token(self, request: Request, pk: str) -> Response:
        """A Dhan account's fresh access token (its "re-login"); never sent back."""
        account = self.get_object()
        body = DhanTokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = dhan_link.dhan_account_relink(account=account, **body.validated_data)
        return Response(BrokerAccountSerializer(account).data)

    @extend_schema(request=None, responses=ReconcileResultSerializer)
    @action(detail=True, methods=["post"])
    def reconcile(self, request: Request, pk: str) -> Response:
        """Reconcile now: fix our orders from the broker's books, list what differs."""
        out = reconcile_account(account=self.get_object())
        return Response(
            ReconcileResultSerializer(
                {
                    "fixed": out.fixed,
                    "replayed": out.replayed,
                    "new_alerts": out.new_alerts,
                    "open_alerts": out.open_alerts,
                    "resolved": out.resolved,
                    "skipped": out.skipped,
                }
            ).data
        )

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.broker_account_delete(account=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
