"""Execution endpoints: thin views over user-scoped selectors and one service each."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from algosaas.api.filters import UTCDateTimeField
from algosaas.api.idempotency import IDEMPOTENCY_PARAMETER, idempotency_token, idempotent
from algosaas.api.pagination import PageNumberPagination
from algosaas.api.schema import ERROR_RESPONSE
from algosaas.api.viewsets import UserScopedJobsView, UserScopedMixin, UserScopedReadOnlyViewSet
from execution import selectors
from execution.api.filters import BacktestFilter, DeploymentFilter, OrderFilter
from execution.api.serializers import (
    BacktestEquitySerializer,
    BacktestRequestSerializer,
    BacktestSerializer,
    BacktestTradeSerializer,
    DeploymentDetailSerializer,
    EquityPointSerializer,
    InstrumentSerializer,
    OrderEventSerializer,
    OrderModifySerializer,
    OrderPlaceSerializer,
    OrderSerializer,
    PositionSerializer,
    TradeSerializer,
)
from execution.models import Backtest, Instrument, Order
from execution.services import live
from execution.services.backtests import backtest_for_request, backtest_request
from strategies.models import Deployment, Strategy
from strategies.selectors import strategy_get_for_user


class InstrumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Tradable instruments (shared by all users); ``?search=`` matches symbol and name."""

    queryset = Instrument.objects.all()
    serializer_class = InstrumentSerializer
    search_fields = ["symbol", "name"]
    filterset_fields = ["exchange", "currency"]
    ordering_fields = ["symbol", "exchange"]

    def list(self, request: Request, *args, **kwargs) -> Response:
        """The same for every user: served from the cache, keyed by the query string."""
        parent = super().list
        return Response(
            selectors.instruments_cached(
                key=request.get_full_path(), build=lambda: parent(request, *args, **kwargs).data
            )
        )


class SeriesPagination(PageNumberPagination):
    """Curves are read whole by charts: large pages, still bounded."""

    page_size = 1000

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return max(5000, settings.ALGOSAAS["MAX_PAGE_SIZE"])


@extend_schema_view(
    post=extend_schema(
        request=BacktestRequestSerializer,
        responses={202: BacktestSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
)
class StrategyBacktestsView(UserScopedJobsView):
    """Backtests of one of your strategies; POST queues a new one (202) on the job cluster."""

    model = Backtest
    serializer_class = BacktestSerializer
    request_serializer_class = BacktestRequestSerializer
    filterset_fields = ["status"]
    ordering_fields = ["created_at"]

    def scoped_parent(self, user, pk: str) -> Strategy:
        return strategy_get_for_user(user=user, strategy_id=pk)

    def scoped_queryset(self, user) -> QuerySet[Backtest]:
        strategy = self.scoped_parent(user, self.kwargs["pk"])
        return selectors.backtests_for_user(user=user).filter(strategy=strategy)

    def start_job(self, parent: Strategy, user, data: dict) -> Backtest:
        token = idempotency_token(self.request) or ""  # links the backtest to the key
        backtest = backtest_request(strategy=parent, user=user, request_token=token, **data)
        backtest.refresh_from_db()  # a synchronous job (tests) may have finished it
        return backtest

    def recover_job(self, parent: Strategy, user, token: str) -> Backtest | None:
        return backtest_for_request(user=user, strategy=parent, request_token=token)


class BacktestViewSet(UserScopedReadOnlyViewSet):
    """Your backtests: status and progress while they run, then stats, equity and trades."""

    model = Backtest
    serializer_class = BacktestSerializer
    filterset_class = BacktestFilter
    ordering_fields = ["created_at", "finished_at"]

    def scoped_queryset(self, user) -> QuerySet[Backtest]:
        return selectors.backtests_for_user(user=user)

    def scoped_object(self, user, pk: str) -> Backtest:
        return selectors.backtest_get_for_user(user=user, backtest_id=pk)

    @extend_schema(responses=BacktestEquitySerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        pagination_class=SeriesPagination,
        filter_backends=[],
    )
    def equity(self, request: Request, pk: str) -> Response:
        return self.paginated(self.get_object().equity.all(), BacktestEquitySerializer)

    @extend_schema(
        responses=BacktestTradeSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "instrument",
                OpenApiTypes.INT,
                description="Only this instrument's trades (a basket's member).",
                required=False,
            )
        ],
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=SeriesPagination,
        filter_backends=[],
    )
    def trades(self, request: Request, pk: str) -> Response:
        trades = self.get_object().trades.all()
        raw = request.query_params.get("instrument")
        if raw is not None:
            if not raw.isdigit() or len(raw) > 18:
                raise ValidationError({"instrument": ["Must be an instrument id."]})
            trades = trades.filter(instrument_id=int(raw))
        return self.paginated(trades, BacktestTradeSerializer)


class DeploymentViewSet(UserScopedReadOnlyViewSet):
    """Your deployments (runs) with live P&L; their orders, trades, positions and equity."""

    model = Deployment
    serializer_class = DeploymentDetailSerializer
    filterset_class = DeploymentFilter
    ordering_fields = ["started_at", "number"]

    def scoped_queryset(self, user) -> QuerySet[Deployment]:
        return selectors.deployments_for_user(user=user)

    def scoped_object(self, user, pk: str) -> Deployment:
        # Only the detail shows P&L; a run's books need just the (owned) row.
        return selectors.deployment_get_for_user(
            user=user, deployment_id=pk, pnl=self.action == "retrieve"
        )

    @extend_schema(responses=TradeSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def trades(self, request: Request, pk: str) -> Response:
        trades = self.get_object().trades.select_related("order__instrument")
        return self.paginated(trades, TradeSerializer)

    @extend_schema(responses=PositionSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def positions(self, request: Request, pk: str) -> Response:
        qs = self.get_object().positions.select_related("instrument")
        return self.paginated(qs, PositionSerializer)

    @extend_schema(
        responses=EquityPointSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description="Only points after this time."
            )
        ],
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=SeriesPagination,
        filter_backends=[],
    )
    def equity(self, request: Request, pk: str) -> Response:
        qs = self.get_object().equity.order_by("ts")
        since = request.query_params.get("since")
        if since:
            try:
                parsed = UTCDateTimeField().clean(since)
            except DjangoValidationError:
                raise ValidationError({"since": ["Not an ISO 8601 date-time."]}) from None
            qs = qs.filter(ts__gt=parsed)
        return self.paginated(qs, EquityPointSerializer)


class DeploymentOrdersView(UserScopedMixin, generics.ListCreateAPIView):
    """Orders of one of your deployments; POST places a manual order (paper broker)."""

    model = Order
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    ordering_fields = ["created_at", "updated_at"]

    def scoped_queryset(self, user) -> QuerySet[Order]:
        deployment = selectors.deployment_get_for_user(
            user=user, deployment_id=self.kwargs["pk"], pnl=False
        )
        return selectors.orders_for_user(user=user).filter(deployment=deployment)

    @extend_schema(
        request=OrderPlaceSerializer,
        responses={201: OrderSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, pk: str) -> Response:
        deployment = selectors.deployment_get_for_user(
            user=request.user, deployment_id=pk, pnl=False
        )

        def client_order_id() -> str | None:
            token = idempotency_token(request)  # links the order to its Idempotency-Key
            return None if token is None else f"m{deployment.pk}-{token}"

        def place() -> Response:
            body = OrderPlaceSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            order = live.order_place(
                deployment=deployment, client_order_id=client_order_id(), **body.validated_data
            )
            return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)

        def placed() -> Response | None:  # a retry after the first request died mid-way
            order = deployment.orders.filter(client_order_id=client_order_id()).first()
            return None if order is None else Response(OrderSerializer(order).data, status=201)

        return idempotent(request, place, recover=placed)


class OrderViewSet(UserScopedReadOnlyViewSet):
    """Every order of yours across deployments; PATCH modifies and DELETE cancels an open one."""

    model = Order
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    ordering_fields = ["created_at", "updated_at"]

    def scoped_queryset(self, user) -> QuerySet[Order]:
        return selectors.orders_for_user(user=user)

    def scoped_object(self, user, pk: str) -> Order:
        return selectors.order_get_for_user(user=user, order_id=pk)

    @extend_schema(
        request=OrderModifySerializer, responses={200: OrderSerializer, 422: ERROR_RESPONSE}
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        order = self.get_object()
        body = OrderModifySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        order = live.order_modify(order=order, **body.validated_data)
        return Response(OrderSerializer(order).data)

    @extend_schema(request=None, responses={200: OrderSerializer})
    def destroy(self, request: Request, pk: str) -> Response:
        order = live.order_cancel(order=self.get_object())
        return Response(OrderSerializer(order).data)

    @extend_schema(responses=OrderEventSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request: Request, pk: str) -> Response:
        return self.paginated(self.get_object().events.all(), OrderEventSerializer)
