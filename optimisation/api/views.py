"""Sweep endpoints: thin views over the user-scoped selectors and one service each."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from algosaas.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from algosaas.api.viewsets import UserScopedMixin, UserScopedReadOnlyViewSet
from optimisation import selectors
from optimisation.api.filters import StrategySweepFilter, SweepFilter
from optimisation.api.serializers import (
    SweepRequestSerializer,
    SweepResultSerializer,
    SweepSerializer,
)
from optimisation.models import Sweep
from optimisation.services import sweep_cancel, sweep_request
from strategies.selectors import strategy_get_for_user


class StrategyOptimisationsView(UserScopedMixin, generics.ListCreateAPIView):
    """Sweeps of one of your strategies' parameters; POST queues a new one (202)."""

    model = Sweep
    serializer_class = SweepSerializer
    filterset_class = StrategySweepFilter
    ordering_fields = ["created_at"]

    def scoped_queryset(self, user) -> QuerySet[Sweep]:
        strategy = strategy_get_for_user(user=user, strategy_id=self.kwargs["pk"])
        return selectors.sweeps_for_user(user=user).filter(strategy=strategy)

    @extend_schema(
        request=SweepRequestSerializer,
        responses={202: SweepSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, pk: str) -> Response:
        strategy = strategy_get_for_user(user=request.user, strategy_id=pk)

        def start() -> Response:
            body = SweepRequestSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            sweep = sweep_request(strategy=strategy, user=request.user, **body.validated_data)
            sweep.refresh_from_db()  # a synchronous cluster (tests) may have run it already
            return Response(SweepSerializer(sweep).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, start)


class OptimisationViewSet(UserScopedReadOnlyViewSet):
    """Your sweeps with their progress (done / total, best so far, ETA); cancel; results."""

    model = Sweep
    serializer_class = SweepSerializer
    filterset_class = SweepFilter
    ordering_fields = ["created_at", "finished_at"]

    def scoped_queryset(self, user) -> QuerySet[Sweep]:
        return selectors.sweeps_for_user(user=user)

    def scoped_object(self, user, pk: str) -> Sweep:
        return selectors.sweep_get_for_user(user=user, sweep_id=pk)

    @extend_schema(request=None, responses=SweepSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        sweep = sweep_cancel(sweep=self.get_object())
        return Response(SweepSerializer(sweep).data)

    @extend_schema(responses=SweepResultSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def results(self, request: Request, pk: str) -> Response:
        """The results, best first by the sweep's objective (undefined values last)."""
        sweep = self.get_object()
        return self.paginated(selectors.sweep_results(sweep=sweep), SweepResultSerializer)
