"""Sweep requests and their answers; no rule lives here (``optimisation.services`` decides)."""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from execution.api.serializers import BacktestRequestSerializer
from optimisation.models import Sweep, SweepMethod, SweepObjective, SweepResult
from optimisation.services import sweep_progress

SEED_MAX = 2**31 - 1
# a hard bound for the schema; the per-user limit (MAX_SWEEP_COMBINATIONS) is the service's
COUNT_MAX = 1_000_000


class SweepRequestSerializer(BacktestRequestSerializer):
    """A backtest request's range and costs, plus the space, the method and the objective."""

    space = serializers.JSONField(
        help_text='Per parameter: a list of values, or {"start", "stop", "step"} (inclusive); '
        "parameters left out keep the strategy's value."
    )
    method = serializers.ChoiceField(choices=SweepMethod.choices, default=SweepMethod.GRID)
    objective = serializers.ChoiceField(
        choices=SweepObjective.choices, default=SweepObjective.RETURN
    )
    samples = serializers.IntegerField(
        min_value=1,
        max_value=COUNT_MAX,
        required=False,
        allow_null=True,
        default=None,
        help_text="random: how many.",
    )
    trials = serializers.IntegerField(
        min_value=1,
        max_value=COUNT_MAX,
        required=False,
        allow_null=True,
        default=None,
        help_text="optuna: budget.",
    )
    seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, default=0)
    max_drawdown_pct = serializers.FloatField(
        min_value=0.0,
        max_value=100.0,
        required=False,
        allow_null=True,
        default=None,
        help_text="return_max_dd: the deepest drawdown allowed, in percent.",
    )

    def validate_max_drawdown_pct(self, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise serializers.ValidationError("Must be a finite number.")
        return value


class SweepSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Sweep
        fields = [
            "id",
            "strategy",
            "status",
            "method",
            "objective",
            "space",
            "samples",
            "trials",
            "seed",
            "max_drawdown_pct",
            "start",
            "end",
            "capital",
            "charges",
            "commission_pct",
            "slippage_bps",
            "close_at_end",
            "progress",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "done": {"type": "integer"},
                "total": {"type": "integer"},
                "skipped": {"type": "integer"},
                "percent": {"type": "number"},
                "eta_seconds": {"type": "number", "nullable": True},
                "best_value": {"type": "number", "nullable": True},
                "best_params": {"type": "object", "nullable": True},
            },
        }
    )
    def get_progress(self, sweep: Sweep) -> dict[str, Any]:
        return sweep_progress(sweep)


class SweepResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = SweepResult
        fields = ["params", "value", "stats"]
        read_only_fields = fields
