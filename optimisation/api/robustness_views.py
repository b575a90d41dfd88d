"""Walk-forward and Monte Carlo endpoints: thin views over user-scoped selectors and services."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from algosaas.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from algosaas.api.viewsets import UserScopedMixin, UserScopedReadOnlyViewSet
from execution.selectors import backtest_get_for_user
from optimisation import selectors
from optimisation.api.robustness_serializers import (
    MonteCarloRequestSerializer,
    RobustnessRunSerializer,
    WalkForwardRequestSerializer,
)
from optimisation.models import RobustnessKind, RobustnessRun
from optimisation.robustness import (
    monte_carlo_request,
    walk_forward_cancel,
    walk_forward_request,
)
from strategies.selectors import strategy_get_for_user


class StrategyWalkForwardView(UserScopedMixin, generics.ListCreateAPIView):
    """Walk-forwards of one of your strategies; POST queues a new one (202)."""

    model = RobustnessRun
    serializer_class = RobustnessRunSerializer
    ordering_fields = ["created_at"]

    def scoped_queryset(self, user) -> QuerySet[RobustnessRun]:
        strategy = strategy_get_for_user(user=user, strategy_id=self.kwargs["pk"])
        return selectors.robustness_runs_for_user(user=user).filter(
            strategy=strategy, kind=RobustnessKind.WALK_FORWARD
        )

    @extend_schema(
        request=WalkForwardRequestSerializer,
        responses={202: RobustnessRunSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, pk: str) -> Response:
        strategy = strategy_get_for_user(user=request.user, strategy_id=pk)

        def start() -> Response:
            body = WalkForwardRequestSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            run = walk_forward_request(strategy=strategy, user=request.user, **body.validated_data)
            run.refresh_from_db()  # a synchronous cluster (tests) may have run it already
            return Response(RobustnessRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, start)


class BacktestMonteCarloView(UserScopedMixin, generics.ListCreateAPIView):
    """Monte Carlo reports of one of your backtests; POST computes one now (201)."""

    model = RobustnessRun
    serializer_class = RobustnessRunSerializer
    ordering_fields = ["created_at"]

    def scoped_queryset(self, user) -> QuerySet[RobustnessRun]:
        backtest = backtest_get_for_user(user=user, backtest_id=self.kwargs["pk"])
        return selectors.robustness_runs_for_user(user=user).filter(
            backtest=backtest, kind=RobustnessKind.MONTE_CARLO
        )

    @extend_schema(
        request=MonteCarloRequestSerializer,
        responses={201: RobustnessRunSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, pk: str) -> Response:
        backtest = backtest_get_for_user(user=request.user, backtest_id=pk)

        def compute() -> Response:
            body = MonteCarloRequestSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            run = monte_carlo_request(backtest=backtest, user=request.user, **body.validated_data)
            return Response(RobustnessRunSerializer(run).data, status=status.HTTP_201_CREATED)

        return idempotent(request, compute)


class RobustnessViewSet(UserScopedReadOnlyViewSet):
    """Your walk-forward and Monte Carlo reports, newest first."""

    model = RobustnessRun
    serializer_class = RobustnessRunSerializer
    ordering_fields = ["created_at", "finished_at"]

    def scoped_queryset(self, user) -> QuerySet[RobustnessRun]:
        return selectors.robustness_runs_for_user(user=user)

    def scoped_object(self, user, pk: str) -> RobustnessRun:
        return selectors.robustness_run_get_for_user(user=user, run_id=pk)

    @extend_schema(request=None, responses=RobustnessRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel a queued or running walk-forward (409 once finished, or for a Monte Carlo)."""
        run = walk_forward_cancel(run=self.get_object())
        return Response(RobustnessRunSerializer(run).data)
