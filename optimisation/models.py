"""Parameter sweeps: a request, its chunks of work (one django-q2 task each) and its results.

A ``SweepResult`` is unique per (sweep, parameter key), so a chunk that runs twice (its worker
was killed and the broker delivered it again) can never write a result twice.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from execution.models import ChargesChoice, CloseAtEnd


class SweepMethod(models.TextChoices):
    GRID = "grid", "Every combination"
    RANDOM = "random", "A seeded random sample of the grid"
    OPTUNA = "optuna", "Optuna TPE search with a trial budget"


class SweepObjective(models.TextChoices):
    RETURN = "return", "Total return %"
    SHARPE = "sharpe", "Sharpe ratio"
    SORTINO = "sortino", "Sortino ratio"
    CALMAR = "calmar", "Calmar ratio (CAGR / max drawdown)"
    PROFIT_FACTOR = "profit_factor", "Profit factor"
    RETURN_MAX_DD = "return_max_dd", "Total return % with a max-drawdown constraint"


class SweepStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Running"
    COMPLETE = "COMPLETE", "Complete"
    CANCELLED = "CANCELLED", "Cancelled"
    FAILED = "FAILED", "Failed"


ACTIVE_SWEEP_STATUSES = (SweepStatus.QUEUED, SweepStatus.RUNNING)


class ChunkStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    DONE = "DONE", "Done"
    CANCELLED = "CANCELLED", "Cancelled"


class Sweep(models.Model):
    """One optimisation of a strategy's parameters over a space, with its progress and best."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sweeps"
    )
    strategy = models.ForeignKey(
        "strategies.Strategy", on_delete=models.CASCADE, related_name="sweeps"
    )
    config = models.JSONField(help_text="The strategy's configuration when the sweep started.")
    space = models.JSONField(help_text="Per parameter: a list of values or a range with a step.")
    method = models.CharField(max_length=10, choices=SweepMethod.choices)
    objective = models.CharField(max_length=16, choices=SweepObjective.choices)
    max_drawdown_pct = models.FloatField(
        null=True, blank=True, help_text="return_max_dd: results drawing down more are infeasible."
    )
    samples = models.PositiveIntegerField(null=True, blank=True, help_text="random: how many.")
    trials = models.PositiveIntegerField(null=True, blank=True, help_text="optuna: trial budget.")
    seed = models.BigIntegerField(default=0)
    start = models.DateField(null=True, blank=True)
    end = models.DateField(null=True, blank=True)
    capital = models.DecimalField(max_digits=16, decimal_places=2)
    charges = models.CharField(
        max_length=20, choices=ChargesChoice.choices, default=ChargesChoice.INDIA_EQUITY
    )
    commission_pct = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"))
    close_at_end = models.CharField(
        max_length=10, choices=CloseAtEnd.choices, default=CloseAtEnd.CLOSE
    )
    status = models.CharField(
        max_length=10, choices=SweepStatus.choices, default=SweepStatus.QUEUED
    )
    total = models.PositiveIntegerField(default=0, help_text="Parameter sets to run.")
    skipped = models.PositiveIntegerField(
        default=0, help_text="Combinations refused by the strategy's cross-field rules."
    )
    done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    best_params = models.JSONField(null=True, blank=True)
    best_value = models.FloatField(null=True, blank=True)
    study_name = models.CharField(max_length=64, blank=True, help_text="optuna: its study.")
    request_token = models.CharField(
        max_length=32,
        blank=True,
        default="",
        editable=False,
        help_text="The Idempotency-Key's token of the API request that started it (blank "
        "without one): a retry of a request that died after starting it finds it.",
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "request_token"],
                condition=~models.Q(request_token=""),  # nosec B106: "no key", not a password
                name="sweep_unique_request_token",
            )
        ]

    def __str__(self) -> str:
        return f"Sweep {self.pk} of strategy {self.strategy_id} ({self.method}, {self.status})"


class SweepChunk(models.Model):
    """A batch of parameter sets run by one task over bars loaded once."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    params = models.JSONField(help_text="The parameter sets; optuna: its asked trials.")
    trial_numbers = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=10, choices=ChunkStatus.choices, default=ChunkStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    leased_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When its task was last queued or taken (None: not queued yet); a pending "
        "chunk leased longer ago than Q_TIMEOUT plus a margin is queued again (recovery).",
    )
    seconds = models.FloatField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sweep", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["sweep", "seq"], name="sweep_chunk_unique_seq")
        ]

    def __str__(self) -> str:
        return f"Chunk {self.seq} of sweep {self.sweep_id} ({self.status})"


class SweepResult(models.Model):
    """One parameter set's outcome: its objective value (None: undefined or infeasible)."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="results")
    key = models.CharField(max_length=255, help_text="The parameters as canonical JSON.")
    params = models.JSONField()
    value = models.FloatField(null=True, blank=True)
    stats = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sweep", "id"]
        constraints = [
            models.UniqueConstraint(fields=["sweep", "key"], name="sweep_result_unique_params")
        ]
        indexes = [models.Index(fields=["sweep", "value"])]

    def __str__(self) -> str:
        return f"{self.key} = {self.value}"


class RobustnessKind(models.TextChoices):
    WALK_FORWARD = "walk_forward", "Walk-forward"
    MONTE_CARLO = "monte_carlo", "Monte Carlo of a backtest's trades or returns"


class RobustnessStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Running"
    COMPLETE = "COMPLETE", "Complete"
    CANCELLED = "CANCELLED", "Cancelled"
    FAILED = "FAILED", "Failed"


class RobustnessRun(models.Model):
    """A walk-forward of a strategy or a Monte Carlo of a backtest: the request and its report.

    ``request`` holds the validated request as JSON (a walk-forward's also the strategy's
    configuration when it was asked), so the report can always be read beside what produced it.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="robustness_runs"
    )
    kind = models.CharField(max_length=12, choices=RobustnessKind.choices)
    strategy = models.ForeignKey(
        "strategies.Strategy", on_delete=models.CASCADE, related_name="robustness_runs"
    )
    backtest = models.ForeignKey(
        "execution.Backtest",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="robustness_runs",
        help_text="Monte Carlo: the backtest whose trades are resampled.",
    )
    request = models.JSONField()
    report = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=RobustnessStatus.choices, default=RobustnessStatus.QUEUED
    )
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    request_token = models.CharField(
        max_length=32,
        blank=True,
        default="",
        editable=False,
        help_text="The Idempotency-Key's token of the API request that started it (blank "
        "without one): a retry of a request that died after starting it finds it.",
    )
    chunks_total = models.PositiveIntegerField(
        default=0, help_text="Walk-forward: in-sample chunks (one task each), every window's."
    )
    chunks_done = models.PositiveIntegerField(default=0)
    windows_done = models.PositiveIntegerField(
        default=0, help_text="Walk-forward: windows tested out-of-sample and stored, in order."
    )
    window_queued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Walk-forward: when the next window's test was last queued; long ago while "
        "it is due, its task is queued again (optimisation.recovery).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "request_token"],
                condition=~models.Q(request_token=""),  # nosec B106: "no key", not a password
                name="robustness_unique_request_token",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} ({self.status})"


class WalkForwardChunk(models.Model):
    """A slice of the parameter sets run over one window's in-sample bars: one task.

    In-sample runs all start with the run's capital, so every window's chunks are independent
    and run in parallel; ``values`` keeps each set's objective value in order (non-finite
    ones as strings: JSON has no NaN or infinity) so the window's winner is picked exactly as
    a single pass over every set would pick it.
    """

    run = models.ForeignKey(RobustnessRun, on_delete=models.CASCADE, related_name="wf_chunks")
    window = models.PositiveIntegerField()
    seq = models.PositiveIntegerField()
    start = models.PositiveIntegerField(help_text="First parameter set (index in the space).")
    stop = models.PositiveIntegerField(help_text="One past the last parameter set.")
    values = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ChunkStatus.choices, default=ChunkStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    leased_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When its task was last queued or taken (None: not queued yet); a pending "
        "chunk leased longer ago than Q_TIMEOUT plus a margin is queued again (recovery).",
    )
    seconds = models.FloatField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "window", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "window", "seq"], name="walk_forward_chunk_unique_seq"
            )
        ]

    def __str__(self) -> str:
        return f"Chunk {self.seq} of window {self.window} of run {self.run_id} ({self.status})"


class WalkForwardWindow(models.Model):
    """One window's out-of-sample test, stored once: its report row, curve and end equity.

    Windows are tested in order (each starts with the equity the one before ended with), and
    one is unique per (run, index), so a test delivered twice can never store a window twice.
    """

    run = models.ForeignKey(RobustnessRun, on_delete=models.CASCADE, related_name="wf_windows")
    index = models.PositiveIntegerField()
    row = models.JSONField(help_text="The report's row for the window.")
    curve = models.JSONField(help_text="Its out-of-sample equity: ts and equity lists.")
    end_equity = models.FloatField(help_text="What the next window starts with.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="walk_forward_window_unique")
        ]

    def __str__(self) -> str:
        return f"Window {self.index} of run {self.run_id}"
