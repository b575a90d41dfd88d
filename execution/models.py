"""Execution's tables: instruments and market data (orders, trades and positions follow)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from execution.engine.legs import OrderRole
from execution.marketdata.exchanges import EXCHANGES
from execution.marketdata.ticks import PRICE_PLACES, TICK_DIGITS, lot_problem, tick_problem

# Built from the one exchange table (currency, charges, default tick live there).
Exchange = models.TextChoices(  # type: ignore[misc]
    "Exchange", [(p.code, (p.code, p.label)) for p in EXCHANGES.values()]
)

# Indian cash markets forbid short sales in delivery (CNC) orders.
NO_CNC_SHORT_EXCHANGES = frozenset(code for code, p in EXCHANGES.items() if not p.cnc_short)

# Prices: 12 digits before the point and PRICE_PLACES after (FX 1e-5, crypto 1e-8 ticks).
PRICE_DIGITS = 12 + PRICE_PLACES


def price_field(**kwargs) -> models.DecimalField:
    """A price column, wide enough for any tick ``Instrument.tick_size`` accepts."""
    return models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES, **kwargs)


def validate_tick_size(value: Decimal) -> None:
    """Refuse a tick the database would round (to zero, even): name the value."""
    problem = tick_problem(value)
    if problem:
        raise ValidationError(problem, code="tick_size")


def validate_lot_size(value: int) -> None:
    problem = lot_problem(value)
    if problem:
        raise ValidationError(problem, code="lot_size")


class Instrument(models.Model):
    """A tradable symbol on an exchange, with the tick and lot its orders must respect."""

    exchange = models.CharField(max_length=10, choices=Exchange.choices)
    symbol = models.CharField(max_length=32)
    name = models.CharField(max_length=120, blank=True)
    tick_size = models.DecimalField(
        max_digits=TICK_DIGITS,
        decimal_places=PRICE_PLACES,
        default=Decimal("0.05"),
        validators=[validate_tick_size],
    )
    lot_size = models.PositiveIntegerField(default=1, validators=[validate_lot_size])
    currency = models.CharField(max_length=8, default="INR")  # ISO 4217, or USDT and the like
    kite_token = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Kite's instrument_token (from its instrument dump), for candles and ticks.",
    )
    dhan_security_id = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Dhan's securityId (from its scrip master), for orders, ticks and charts.",
    )
    dhan_segment = models.CharField(
        max_length=16,
        blank=True,
        help_text="Dhan's exchangeSegment of that securityId (NSE_EQ, NSE_FNO, IDX_I...).",
    )
    dhan_instrument = models.CharField(
        max_length=10,
        blank=True,
        help_text="Dhan's instrument type (EQUITY, INDEX, FUTIDX, OPTSTK...), for its charts.",
    )

    class Meta:
        ordering = ["exchange", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="instrument_unique"),
            # the last line of defence: no path stores a zero tick or lot
            models.CheckConstraint(
                condition=models.Q(tick_size__gt=0), name="instrument_tick_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(lot_size__gte=1), name="instrument_lot_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"

    @property
    def allows_cnc_short(self) -> bool:
        return self.exchange not in NO_CNC_SHORT_EXCHANGES


class Bar(models.Model):
    """One OHLCV bar of an instrument at a timeframe; ``ts`` is the bar's open time (UTC)."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="bars")
    timeframe = models.CharField(max_length=4)
    ts = models.DateTimeField()
    open = price_field()
    high = price_field()
    low = price_field()
    close = price_field()
    volume = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["instrument", "timeframe", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "timeframe", "ts"], name="bar_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument} {self.timeframe} {self.ts:%Y-%m-%d %H:%M:%S}"


class BacktestStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Running"
    COMPLETE = "COMPLETE", "Complete"
    FAILED = "FAILED", "Failed"


class ChargesChoice(models.TextChoices):
    """Named schedules of ``execution.engine.charges`` (an exchange's default is in EXCHANGES)."""

    INDIA_EQUITY = "india_equity", "Indian equity schedule"
    INDIA_FUTURES_NSE = "india_futures_nse", "NSE F&O futures schedule"
    INDIA_FUTURES_BSE = "india_futures_bse", "BSE F&O futures schedule"
    INDIA_CURRENCY = "india_currency", "NSE currency futures schedule"
    INDIA_COMMODITY = "india_commodity", "MCX commodity futures schedule"
    NONE = "none", "No charges"


class CloseAtEnd(models.TextChoices):
    CLOSE = "close", "At the last bar's close"
    LAST_OPEN = "last_open", "At the last bar's open (as backtesting.py 0.6 does)"


class Backtest(models.Model):
    """A request to replay a strategy over historical bars, its progress and its statistics.

    The configuration is a snapshot (like a deployment's), so results stay explainable after the
    strategy is edited. Equity points and round-trip trades are stored beside it.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtests"
    )
    strategy = models.ForeignKey(
        "strategies.Strategy", on_delete=models.CASCADE, related_name="backtests"
    )
    config = models.JSONField()
    start = models.DateField(null=True, blank=True)
    end = models.DateField(null=True, blank=True)
    capital = models.DecimalField(max_digits=16, decimal_places=2)
    charges = models.CharField(
        max_length=20, choices=ChargesChoice.choices, default=ChargesChoice.INDIA_EQUITY
    )
    commission_pct = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"))
    close_at_end = models.CharField(
        max_length=10,
        choices=CloseAtEnd.choices,
        default=CloseAtEnd.CLOSE,
        help_text="How a position still open after the last bar is closed.",
    )
    data_source = models.CharField(max_length=16, blank=True)
    status = models.CharField(
        max_length=10, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="While queued or running: renewed by the live job; past it, the sweeper "
        "queues the backtest again or fails it.",
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Runs started (a worker that dies mid-run costs one)."
    )
    request_token = models.CharField(
        max_length=32,
        blank=True,
        default="",
        editable=False,
        help_text="The Idempotency-Key's token of the API request that queued it (blank "
        "without one): a retry of a request that died after queueing it finds it.",
    )
    bars = models.PositiveIntegerField(default=0)
    stats = models.JSONField(null=True, blank=True)
    member_stats = models.JSONField(
        null=True,
        blank=True,
        help_text="A basket's members in order: instrument, cap, statistics and equity curve "
        "each (``stats`` is the basket's total); empty for a single instrument.",
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status__in=["QUEUED", "RUNNING"]),
                name="backtest_active_lease",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "request_token"],
                condition=~models.Q(request_token=""),  # nosec B106: "no key", not a password
                name="backtest_unique_request_token",
            )
        ]

    def __str__(self) -> str:
        return f"Backtest {self.pk} of {self.strategy_id} ({self.status})"


class BacktestEquity(models.Model):
    """One point of a backtest's equity curve (downsampled for very long runs)."""

    backtest = models.ForeignKey(Backtest, on_delete=models.CASCADE, related_name="equity")
    ts = models.DateTimeField()
    equity = models.DecimalField(max_digits=18, decimal_places=2)
    cash = models.DecimalField(max_digits=18, decimal_places=2)
    drawdown_pct = models.DecimalField(max_digits=9, decimal_places=4)

    class Meta:
        ordering = ["backtest", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["backtest", "ts"], name="backtest_equity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.ts:%Y-%m-%d %H:%M} {self.equity}"


class BacktestTrade(models.Model):
    """A round trip of a backtest: entry and exit, signed quantity, P&L after charges."""

    backtest = models.ForeignKey(Backtest, on_delete=models.CASCADE, related_name="trades")
    instrument = models.ForeignKey(
        Instrument,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="What was traded (a basket's member); empty on trades stored before baskets.",
    )
    seq = models.PositiveIntegerField()
    side = models.CharField(max_length=5)  # LONG or SHORT
    quantity = models.IntegerField()
    entry_ts = models.DateTimeField()
    entry_price = price_field()
    exit_ts = models.DateTimeField()
    exit_price = price_field()
    pnl = models.DecimalField(max_digits=18, decimal_places=2)
    charges = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        ordering = ["backtest", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["backtest", "seq"], name="backtest_trade_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.entry_price} → {self.exit_price}"


class OrderStatusChoices(models.TextChoices):
    PENDING = "PENDING"
    OPEN = "OPEN"
    TRIGGER_PENDING = "TRIGGER_PENDING"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    DENIED = "DENIED"


class SideChoices(models.TextChoices):
    BUY = "BUY"
    SELL = "SELL"


class OrderTypeChoices(models.TextChoices):
    # Labels as brokers write them: Django would derive "Market", "Limit" and "Sl" from the names.
    MARKET = "MARKET", "MARKET"
    LIMIT = "LIMIT", "LIMIT"
    SL = "SL", "SL"
    SLM = "SL-M", "SL-M"


class OrderRoleChoices(models.TextChoices):
    """Why an order exists (``execution.engine.legs.OrderRole``), labelled for people."""

    ENTRY = OrderRole.ENTRY.value, "Entry"
    EXIT = OrderRole.EXIT.value, "Exit"
    STOP = OrderRole.STOP.value, "Stop"
    TARGET = OrderRole.TARGET.value, "Target"
    SQUARE_OFF = OrderRole.SQUARE_OFF.value, "Square-off"
    MANUAL = OrderRole.MANUAL.value, "Manual"


class ValidityChoices(models.TextChoices):
    DAY = "DAY"
    IOC = "IOC"


class Order(models.Model):
    """An order of a deployment, in canonical terms with the broker's raw status beside it.

    ``status`` changes only through the order transition table (``execution.engine.orders``),
    applied by the engine's broker or ``execution.services.orders``; every change leaves an
    ``OrderEvent``. Times are the market's (bar) times, not the database's.
    """

    deployment = models.ForeignKey(
        "strategies.Deployment", on_delete=models.CASCADE, related_name="orders"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="orders")
    client_order_id = models.CharField(max_length=64)
    broker_order_id = models.CharField(max_length=64, blank=True)
    side = models.CharField(max_length=4, choices=SideChoices.choices)
    order_type = models.CharField(max_length=6, choices=OrderTypeChoices.choices)
    product = models.CharField(max_length=3)
    validity = models.CharField(max_length=3, choices=ValidityChoices.choices)
    quantity = models.PositiveIntegerField()
    price = price_field(null=True, blank=True)
    trigger_price = price_field(null=True, blank=True)
    filled_quantity = models.PositiveIntegerField(default=0)
    pending_quantity = models.PositiveIntegerField(default=0)
    average_price = price_field(null=True, blank=True)
    status = models.CharField(max_length=16, choices=OrderStatusChoices.choices)
    status_message = models.CharField(max_length=500, blank=True)
    broker_status = models.CharField(max_length=64, blank=True)
    denial_rule = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=10, default="strategy")  # strategy | manual
    # Set where the order is created: the engine's leg, or manual (``engine.legs.order_role``).
    role = models.CharField(max_length=10, choices=OrderRoleChoices.choices)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "client_order_id"], name="order_client_id_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(filled_quantity__lte=models.F("quantity")),
                name="order_filled_within_quantity",
            ),
            # Every order says why it exists: a creation point that forgets the role fails.
            models.CheckConstraint(
                condition=models.Q(role__in=OrderRoleChoices.values), name="order_role_known"
            ),
        ]
        indexes = [
            models.Index(fields=["deployment", "status"]),
            models.Index(fields=["deployment", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.instrument_id} {self.order_type} ({self.status})"


class OrderEvent(models.Model):
    """Append-only record of one order status change, with the broker's raw report."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=16, choices=OrderStatusChoices.choices)
    broker_status = models.CharField(max_length=64, blank=True)
    trigger = models.CharField(max_length=16, blank=True)
    message = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    ts = models.DateTimeField()

    class Meta:
        ordering = ["ts", "id"]

    def __str__(self) -> str:
        return f"{self.order_id} → {self.status}"


class Trade(models.Model):
    """One fill of an order, with its charges broken down."""

    deployment = models.ForeignKey(
        "strategies.Deployment", on_delete=models.CASCADE, related_name="trades"
    )
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="trades")
    fill_id = models.CharField(max_length=80)
    side = models.CharField(max_length=4, choices=SideChoices.choices)
    quantity = models.PositiveIntegerField()
    price = price_field()
    charges = models.DecimalField(max_digits=14, decimal_places=2)
    charges_breakdown = models.JSONField(default=dict)
    executed_at = models.DateTimeField()

    class Meta:
        ordering = ["-executed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "fill_id"], name="trade_fill_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} @ {self.price}"


class Position(models.Model):
    """A deployment's net position in one instrument; quantity = sum of signed trades."""

    deployment = models.ForeignKey(
        "strategies.Deployment", on_delete=models.CASCADE, related_name="positions"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    quantity = models.IntegerField(default=0)
    average_price = price_field(default=Decimal("0"))
    realised_pnl = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    last_price = price_field(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "instrument"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "instrument"], name="position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id}: {self.quantity} @ {self.average_price}"

    @property
    def unrealised_pnl(self) -> Decimal:
        if self.last_price is None or not self.quantity:
            return Decimal("0")
        return ((self.last_price - self.average_price) * self.quantity).quantize(Decimal("0.01"))


class EquitySnapshot(models.Model):
    """A deployment's cash and equity at one bar's close: the points of its equity curve."""

    deployment = models.ForeignKey(
        "strategies.Deployment", on_delete=models.CASCADE, related_name="equity"
    )
    ts = models.DateTimeField()
    cash = models.DecimalField(max_digits=18, decimal_places=2)
    position_value = models.DecimalField(max_digits=18, decimal_places=2)
    equity = models.DecimalField(max_digits=18, decimal_places=2)
    recorded_at = models.DateTimeField(
        default=timezone.now, help_text="When the step that processed this bar wrote it."
    )

    class Meta:
        ordering = ["deployment", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "ts"], name="equity_point_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.ts:%Y-%m-%d %H:%M} {self.equity}"


class Feed(models.TextChoices):
    SYNTHETIC = "synthetic", "Synthetic live feed (around the clock)"
    NSE_HOURS = "nse_hours", "Synthetic live feed (NSE hours)"
    REPLAY = "replay", "Historical replay"
    BROKER = "broker", "Live bars from the broker's feed"


class LivePhase(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    SQUARING_OFF = "SQUARING_OFF", "Squaring off"
    DONE = "DONE", "Done"


class TradingMode(models.TextChoices):
    PAPER = "paper", "Paper broker"
    LIVE = "live", "Live, through a linked broker account"


class DeploymentState(models.Model):
    """What moves a paper deployment forward: its feed, engine state and cursor.

    In ``live`` mode the same engine runs (its paper book is the deployment's model of its
    orders) and every order that passes the risk gate is also sent to ``broker_account``
    (``execution.services.live_route``), tagged with ``algo_id``.

    A step locks this row (``select_for_update(skip_locked=True)``) and commits the cursor, the
    engine state and every order, fill, position and equity point of the bars it processed in
    one transaction, so a step runs exactly once per bar whatever the queue does.
    """

    deployment = models.OneToOneField(
        "strategies.Deployment", on_delete=models.CASCADE, primary_key=True, related_name="live"
    )
    feed = models.CharField(max_length=10, choices=Feed.choices, default=Feed.SYNTHETIC)
    interval_s = models.PositiveIntegerField()
    replay_seconds_per_bar = models.FloatField(null=True, blank=True)
    replay_origin_ts = models.BigIntegerField(null=True, blank=True)
    history_start_ts = models.BigIntegerField(
        help_text="Open time of the first bar the strategy's indicators see."
    )
    engine_config = models.JSONField()
    engine_state = models.JSONField()
    cursor_ts = models.BigIntegerField(null=True, blank=True)
    phase = models.CharField(max_length=12, choices=LivePhase.choices, default=LivePhase.RUNNING)
    next_due_at = models.DateTimeField(db_index=True)
    steps = models.PositiveIntegerField(default=0)
    bars_processed = models.PositiveIntegerField(default=0)
    failures = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_step_at = models.DateTimeField(null=True, blank=True)
    mode = models.CharField(max_length=5, choices=TradingMode.choices, default=TradingMode.PAPER)
    # SET_NULL: unlinking an account a live run trades on fails that run's next step (visibly),
    # it does not delete the run's books
    broker_account = models.ForeignKey(
        "brokers.BrokerAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="live_deployments",
    )
    algo_id = models.CharField(
        max_length=8, blank=True, help_text="The algo identifier every order's tag carries."
    )

    class Meta:
        indexes = [models.Index(fields=["phase", "next_due_at"])]

    def __str__(self) -> str:
        return f"live state of deployment {self.deployment_id}"


class PaperOrderRecord(models.Model):
    """The paper broker's record of one order of a live deployment: its order book, by row.

    Kept apart from the engine state (``DeploymentState.engine_state``, which holds only what
    the working orders add up to) so that a manual order, cancel or modification reads and
    writes the rows of the orders it touches, not the whole book; a step loads the working ones.
    """

    live = models.ForeignKey(DeploymentState, on_delete=models.CASCADE, related_name="paper_orders")
    broker_order_id = models.CharField(max_length=64)
    client_order_id = models.CharField(max_length=64)
    working = models.BooleanField()
    record = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["live", "broker_order_id"], name="paper_order_unique_broker_id"
            )
        ]
        indexes = [
            models.Index(fields=["live", "client_order_id"], name="paper_order_client_id"),
            models.Index(
                fields=["live", "broker_order_id"],
                condition=models.Q(working=True),
                name="paper_order_working",
            ),
        ]

    def __str__(self) -> str:
        return f"paper order {self.broker_order_id} of deployment {self.live_id}"


class BrokerOrderLink(models.Model):
    """One order of a live deployment as its broker account knows it.

    Written when the order leaves (``live_route``) in the step's transaction: a step rolled
    back after the broker accepted the order re-sends it with the same tag, and the adapter
    finds it instead of placing it twice. Holds the broker's own id and last answer.
    """

    live = models.ForeignKey(
        DeploymentState, on_delete=models.CASCADE, related_name="broker_orders"
    )
    client_order_id = models.CharField(max_length=64)
    broker_order_id = models.CharField(max_length=64)
    tag = models.CharField(max_length=32, help_text="What the broker stores as tag/correlationId.")
    status = models.CharField(max_length=16, choices=OrderStatusChoices.choices)
    broker_status = models.CharField(max_length=64, blank=True)
    message = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["live", "client_order_id"], name="broker_order_link_unique_client_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id} -> {self.broker_order_id}"
