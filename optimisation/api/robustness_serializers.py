"""Walk-forward and Monte Carlo requests and their reports; the services decide every rule."""

from __future__ import annotations

import math

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from optimisation import montecarlo, walkforward
from optimisation.api.serializers import COUNT_MAX, SEED_MAX, SweepRequestSerializer
from optimisation.models import RobustnessRun, SweepMethod
from optimisation.walkforward_steps import walk_forward_progress

# hard bounds for the schema; the per-user limits (settings) are the services'
WINDOWS_MAX = 1000
RATIO_MAX = 100.0
WALK_FORWARD_METHODS = [
    (SweepMethod.GRID.value, SweepMethod.GRID.label),
    (SweepMethod.RANDOM.value, SweepMethod.RANDOM.label),
]


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise serializers.ValidationError("Must be a finite number.")
    return value


class WalkForwardRequestSerializer(SweepRequestSerializer):
    """A sweep's request (range, costs, space, objective; grid or random) plus the windows."""

    trials = None  # optuna is not offered: each window's search must be exhaustive or seeded
    method = serializers.ChoiceField(choices=WALK_FORWARD_METHODS, default=SweepMethod.GRID)
    windows = serializers.IntegerField(
        min_value=1, max_value=WINDOWS_MAX, default=5, help_text="Out-of-sample windows."
    )
    mode = serializers.ChoiceField(
        choices=walkforward.MODES,
        default="rolling",
        help_text="rolling: a fixed-length in-sample before each window; anchored: from the start.",
    )
    in_sample_ratio = serializers.FloatField(
        min_value=0.01,
        max_value=RATIO_MAX,
        default=3.0,
        help_text="The first in-sample stretch's length over one out-of-sample window's.",
    )

    def validate_in_sample_ratio(self, value: float) -> float:
        return _finite(value)


class _NumberField(serializers.FloatField):
    """A JSON number only: ``false`` or ``"50"`` is a 400, not 0.0 or 50.0 (schemathesis)."""

    def to_internal_value(self, data: object) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class MonteCarloRequestSerializer(serializers.Serializer):
    paths = serializers.IntegerField(min_value=1, max_value=COUNT_MAX, default=1000)
    seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, default=0)
    method = serializers.ChoiceField(
        choices=montecarlo.METHODS,
        default="shuffle",
        help_text="shuffle or bootstrap the trades' P&Ls; bootstrap_returns: resample the "
        "equity curve's bar returns (with replacement, compounded).",
    )
    ruin_equity_pct = _NumberField(
        min_value=0.0,
        max_value=100.0,
        default=50.0,
        help_text="Ruin: the equity falls below this percentage of the starting capital.",
    )

    def to_internal_value(self, data: object) -> dict:
        """Unknown keys are a 400 naming them: a typo (``path``) never runs 1,000 defaults."""
        if isinstance(data, dict) and (unknown := sorted(set(data) - set(self.fields))):
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown[:5]})
        return super().to_internal_value(data)

    def validate_ruin_equity_pct(self, value: float) -> float:
        return _finite(value)


class WalkForwardProgressSerializer(serializers.Serializer):
    windows_done = serializers.IntegerField(help_text="Windows tested out-of-sample, in order.")
    windows_total = serializers.IntegerField()
    chunks_done = serializers.IntegerField(help_text="In-sample chunks done (every window's).")
    chunks_total = serializers.IntegerField()
    percent = serializers.FloatField()


class RobustnessRunSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = RobustnessRun
        fields = [
            "id",
            "kind",
            "strategy",
            "backtest",
            "status",
            "request",
            "report",
            "error",
            "progress",
            "seconds",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(WalkForwardProgressSerializer(allow_null=True))
    def get_progress(self, run: RobustnessRun) -> dict | None:
        """A walk-forward's progress (null for a Monte Carlo)."""
        return walk_forward_progress(run)

    def to_representation(self, instance: RobustnessRun) -> dict:
        data = super().to_representation(instance)
        data["request"] = {k: v for k, v in (data["request"] or {}).items() if k != "config"}
        return data
