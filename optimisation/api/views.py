"""Sweep endpoints: thin views over the user-scoped selectors and one service each."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from algosaas.api.idempotency import IDEMPOTENCY_PARAMETER, idempotency_token
from algosaas.api.viewsets import CancelActionMixin, UserScopedJobsView, UserScopedReadOnlyViewSet
from optimisation import selectors
from optimisation.api.filters import StrategySweepFilter, SweepFilter
from optimisation.api.serializers import (
    SweepRequestSerializer,
    SweepResultSerializer,
    SweepSerializer,
)
from optimisation.models import Sweep
from optimisation.services import sweep_cancel, sweep_request
from strategies.models import Strategy
from strategies.selectors import strategy_get_for_user


@extend_schema_view(
    post=extend_schema(
        request=SweepRequestSerializer,
        responses={202: SweepSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
)
class StrategyOptimisationsView(UserScopedJobsView):
    """Sweeps of one of your strategies' parameters; POST queues a new one (202)."""

    model = Sweep
    serializer_class = SweepSerializer
    request_serializer_class = SweepRequestSerializer
    filterset_class = StrategySweepFilter
    ordering_fields = ["created_at"]

    def scoped_parent(self, user, pk: str) -> Strategy:
        return strategy_get_for_user(user=user, strategy_id=pk)

    def scoped_queryset(self, user) -> QuerySet[Sweep]:
        strategy = self.scoped_parent(user, self.kwargs["pk"])
        return selectors.sweeps_for_user(user=user).filter(strategy=strategy)

    def start_job(self, parent: Strategy, user, data: dict) -> Sweep:
        token = idempotency_token(self.request) or ""  # links the sweep to the key
        sweep = sweep_request(strategy=parent, user=user, request_token=token, **data)
        sweep.refresh_from_db()  # a synchronous cluster (tests) may have run it already
        return sweep

    def recover_job(self, parent: Strategy, user, token: str) -> Sweep | None:
        return selectors.sweep_for_request(user=user, strategy=parent, request_token=token)


@extend_schema_view(cancel=extend_schema(request=None, responses=SweepSerializer))
class OptimisationViewSet(CancelActionMixin, UserScopedReadOnlyViewSet):
    """Your sweeps with their progress (done / total, best so far, ETA); cancel; results."""

    model = Sweep
    serializer_class = SweepSerializer
    filterset_class = SweepFilter
    ordering_fields = ["created_at", "finished_at"]

    def scoped_queryset(self, user) -> QuerySet[Sweep]:
        return selectors.sweeps_for_user(user=user)

    def scoped_object(self, user, pk: str) -> Sweep:
        return selectors.sweep_get_for_user(user=user, sweep_id=pk)

    def cancel_job(self, job: Sweep) -> Sweep:
        return sweep_cancel(sweep=job)

    @extend_schema(responses=SweepResultSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def results(self, request: Request, pk: str) -> Response:
        """The results, best first by the sweep's objective (undefined values last)."""
        sweep = self.get_object()
        return self.paginated(selectors.sweep_results(sweep=sweep), SweepResultSerializer)
