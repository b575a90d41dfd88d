"""A user's strategies, their lifecycle audit trail, and their deployments (runs)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class StrategyStatus(models.TextChoices):
    INACTIVE = "INACTIVE", "Inactive"
    RUNNING = "RUNNING", "Running"
    STOPPED = "STOPPED", "Stopped"
    ERROR = "ERROR", "Error"


class Timeframe(models.TextChoices):
    S5 = "5s", "5 seconds"
    S15 = "15s", "15 seconds"
    M1 = "1m", "1 minute"
    M5 = "5m", "5 minutes"
    M15 = "15m", "15 minutes"
    H1 = "1h", "1 hour"
    D1 = "1d", "1 day"


TIMEFRAME_SECONDS = {"5s": 5, "15s": 15, "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}


class Product(models.TextChoices):
    CNC = "CNC", "CNC (delivery)"
    MIS = "MIS", "MIS (intraday)"


class Strategy(models.Model):
    """A configured instance of a catalogue strategy type on one instrument and timeframe.

    ``status`` changes only through ``strategies.services.strategy_transition``.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="strategies"
    )
    name = models.CharField(max_length=100)
    strategy_type = models.CharField(max_length=64)
    params = models.JSONField(default=dict)
    instrument = models.ForeignKey(
        "execution.Instrument", on_delete=models.PROTECT, related_name="strategies"
    )
    timeframe = models.CharField(max_length=4, choices=Timeframe.choices, default=Timeframe.D1)
    quantity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Fixed units per entry."
    )
    allocation_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text="Percent of available equity per entry, whole units, charges included.",
    )
    product = models.CharField(max_length=3, choices=Product.choices, default=Product.CNC)
    capital = models.DecimalField(
        max_digits=16, decimal_places=2, validators=[MinValueValidator(Decimal("1000.00"))]
    )
    risk_limits = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=StrategyStatus.choices, default=StrategyStatus.INACTIVE
    )
    status_reason = models.CharField(max_length=500, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "strategies"
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=Q(archived_at__isnull=True),
                name="strategy_name_unique_per_owner",
            ),
            models.CheckConstraint(
                condition=(Q(quantity__isnull=False) & Q(allocation_pct__isnull=True))
                | (Q(quantity__isnull=True) & Q(allocation_pct__isnull=False)),
                name="strategy_exactly_one_sizing",
            ),
        ]
        indexes = [models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.strategy_type})"


MAX_BASKET_SIZE = 50


class StrategyInstrument(models.Model):
    """One member of a strategy's basket: an instrument and its cap on the shared capital.

    A strategy without members trades its ``instrument`` alone, as before baskets existed; with
    members it trades each of them with its own signals, orders and position, and its
    ``instrument`` is the first member (the primary one, kept so single-instrument paths work).
    ``allocation_pct`` caps the share of the strategy's capital a member may hold; empty means
    an equal split (100 / members).
    """

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="members")
    instrument = models.ForeignKey(
        "execution.Instrument", on_delete=models.PROTECT, related_name="basket_memberships"
    )
    position = models.PositiveSmallIntegerField()
    allocation_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text="Cap on the share of the capital this member may hold; empty: equal split.",
    )

    class Meta:
        ordering = ["strategy", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["strategy", "instrument"], name="basket_member_unique_instrument"
            ),
            models.UniqueConstraint(
                fields=["strategy", "position"], name="basket_member_unique_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.strategy_id}#{self.position}: {self.instrument_id}"


class StrategyEvent(models.Model):
    """Append-only audit row of one lifecycle transition (who, when, why)."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="events")
    deployment = models.ForeignKey(
        "Deployment", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    from_status = models.CharField(max_length=10, choices=StrategyStatus.choices)
    to_status = models.CharField(max_length=10, choices=StrategyStatus.choices)
    trigger = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="Empty when the system made the change.",
    )
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.strategy_id}: {self.from_status} → {self.to_status}"

    @property
    def actor_label(self) -> str:
        return self.actor.email if self.actor_id else "system"


class DeploymentStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    STOPPED = "STOPPED", "Stopped"
    ERROR = "ERROR", "Error"


class Deployment(models.Model):
    """One run of a strategy: it owns that run's orders, trades, positions and equity.

    Its configuration is a snapshot taken at deploy time, so editing the strategy later never
    rewrites the history of a past run. A redeploy starts a new Deployment with fresh books.
    """

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="deployments")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=DeploymentStatus.choices, default=DeploymentStatus.RUNNING
    )
    config = models.JSONField()
    capital = models.DecimalField(max_digits=16, decimal_places=2)
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=500, blank=True)
    square_off = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "number"], name="deployment_number_unique"),
            models.UniqueConstraint(
                fields=["strategy"],
                condition=Q(status="RUNNING"),
                name="one_running_deployment_per_strategy",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.strategy} #{self.number}"
