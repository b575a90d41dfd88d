"""Execution's tables: instruments and market data (orders, trades and positions follow)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


class Exchange(models.TextChoices):
    NSE = "NSE", "NSE"
    BSE = "BSE", "BSE"
    NASDAQ = "NASDAQ", "NASDAQ"
    NYSE = "NYSE", "NYSE"
    SYNTH = "SYNTH", "Synthetic"


# Indian exchanges forbid short sales in delivery (CNC) orders.
NO_CNC_SHORT_EXCHANGES = frozenset({Exchange.NSE, Exchange.BSE})


class Instrument(models.Model):
    """A tradable symbol on an exchange, with the tick and lot its orders must respect."""

    exchange = models.CharField(max_length=10, choices=Exchange.choices)
    symbol = models.CharField(max_length=32)
    name = models.CharField(max_length=120, blank=True)
    tick_size = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal("0.05"),
        validators=[MinValueValidator(Decimal("0.0001"))],
    )
    lot_size = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    currency = models.CharField(max_length=3, default="INR")

    class Meta:
        ordering = ["exchange", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="instrument_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"

    @property
    def allows_cnc_short(self) -> bool:
        return self.exchange not in NO_CNC_SHORT_EXCHANGES
