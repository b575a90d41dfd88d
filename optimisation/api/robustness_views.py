"""Walk-forward and Monte Carlo endpoints: thin views over user-scoped selectors and services."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view

from algosaas.api.idempotency import IDEMPOTENCY_PARAMETER, idempotency_token
from algosaas.api.viewsets import CancelActionMixin, UserScopedJobsView, UserScopedReadOnlyViewSet
from execution.models import Backtest
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
from strategies.models import Strategy
from strategies.selectors import strategy_get_for_user


@extend_schema_view(
    post=extend_schema(
        request=WalkForwardRequestSerializer,
        responses={202: RobustnessRunSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
)
class StrategyWalkForwardView(UserScopedJobsView):
    """Walk-forwards of one of your strategies; POST queues a new one (202)."""

    model = RobustnessRun
    serializer_class = RobustnessRunSerializer
    request_serializer_class = WalkForwardRequestSerializer
    ordering_fields = ["created_at"]

    def scoped_parent(self, user, pk: str) -> Strategy:
        return strategy_get_for_user(user=user, strategy_id=pk)

    def scoped_queryset(self, user) -> QuerySet[RobustnessRun]:
        strategy = self.scoped_parent(user, self.kwargs["pk"])
        return selectors.robustness_runs_for_user(user=user).filter(
            strategy=strategy, kind=RobustnessKind.WALK_FORWARD
        )

    def start_job(self, parent: Strategy, user, data: dict) -> RobustnessRun:
        token = idempotency_token(self.request) or ""  # links the run to the key
        run = walk_forward_request(strategy=parent, user=user, request_token=token, **data)
        run.refresh_from_db()  # a synchronous cluster (tests) may have run it already
        return run

    def recover_job(self, parent: Strategy, user, token: str) -> RobustnessRun | None:
        return selectors.robustness_run_for_request(
            user=user, strategy=parent, kind=RobustnessKind.WALK_FORWARD, request_token=token
        )


@extend_schema_view(
    post=extend_schema(
        request=MonteCarloRequestSerializer,
        responses={201: RobustnessRunSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
)
class BacktestMonteCarloView(UserScopedJobsView):
    """Monte Carlo reports of one of your backtests; POST computes one now (201)."""

    model = RobustnessRun
    serializer_class = RobustnessRunSerializer
    request_serializer_class = MonteCarloRequestSerializer
    start_status = 201
    ordering_fields = ["created_at"]

    def scoped_parent(self, user, pk: str) -> Backtest:
        return backtest_get_for_user(user=user, backtest_id=pk)

    def scoped_queryset(self, user) -> QuerySet[RobustnessRun]:
        backtest = self.scoped_parent(user, self.kwargs["pk"])
        return selectors.robustness_runs_for_user(user=user).filter(
            backtest=backtest, kind=RobustnessKind.MONTE_CARLO
        )

    def start_job(self, parent: Backtest, user, data: dict) -> RobustnessRun:
        token = idempotency_token(self.request) or ""  # links the report to the key
        return monte_carlo_request(backtest=parent, user=user, request_token=token, **data)

    def recover_job(self, parent: Backtest, user, token: str) -> RobustnessRun | None:
        return selectors.robustness_run_for_request(
            user=user, backtest=parent, kind=RobustnessKind.MONTE_CARLO, request_token=token
        )


@extend_schema_view(
    cancel=extend_schema(
        request=None,
        responses=RobustnessRunSerializer,
        description="Cancel a queued or running walk-forward (409 once finished, or for a Monte "
        "Carlo).",
    )
)
class RobustnessViewSet(CancelActionMixin, UserScopedReadOnlyViewSet):
    """Your walk-forward and Monte Carlo reports, newest first."""

    model = RobustnessRun
    serializer_class = RobustnessRunSerializer
    ordering_fields = ["created_at", "finished_at"]

    def scoped_queryset(self, user) -> QuerySet[RobustnessRun]:
        return selectors.robustness_runs_for_user(user=user)

    def scoped_object(self, user, pk: str) -> RobustnessRun:
        return selectors.robustness_run_get_for_user(user=user, run_id=pk)

    def cancel_job(self, job: RobustnessRun) -> RobustnessRun:
        """A walk-forward only (409 once finished, or for a Monte Carlo)."""
        return walk_forward_cancel(run=job)
