"""Square-off on a replay that has run out of bars: closed at the last bar's close, never stuck.

A replay releases its stored bars on the wall clock; once the last one is out no bar will ever
open again, so a market order waiting for "the next open" could never fill. A stop with
square-off then closes the position at the last replayed bar's close, in the stop's own
transaction, exactly as a backtest closes what is still open after its last bar
(``close_at_end="close"``); a deployment an earlier release left squaring off for ever is
closed the same way by its next step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from execution.marketdata.csvbars import ParsedBar
from execution.models import EquitySnapshot, Order, Position, Trade
from execution.selectors import bar_series
from execution.services.live import deployment_step, deployments_claim_due
from execution.services.marketdata import bars_import, instrument_get_or_create
from execution.tests.live.conftest import (
    assert_books,
    assert_event_chains,
    backtest_of,
    counts,
    deploy,
    live_of,
    make_strategy,
)
from strategies import services
from strategies.models import DeploymentStatus, StrategyStatus

pytestmark = pytest.mark.django_db

N_BARS = 30
SECONDS_PER_BAR = 10.0
TICK = Decimal("0.05")
HELD = 10  # the strategy's fixed quantity (``make_strategy``)


@pytest.fixture
def instrument(db):
    """Minute bars falling for a while, then rising to the end: a long-only SMA crossover buys
    after the turn and holds to the last bar.

    Each bar closes half a rupee above its open, so a fill at the last close is told apart
    from one at any open.
    """
    instrument, _ = instrument_get_or_create(
        exchange="NSE", symbol="REPLAYEND", tick_size=TICK, lot_size=1
    )
    start = datetime(2024, 6, 11, 3, 45, tzinfo=UTC)
    opens = [Decimal(110 - i if i < 8 else 96 + i) for i in range(N_BARS)]
    bars = [
        ParsedBar(start + timedelta(minutes=i), p, p + 2, p - 1, p + Decimal("0.5"), 10_000)
        for i, p in enumerate(opens)
    ]
    assert bars_import(instrument=instrument, timeframe="1m", bars=bars) == N_BARS
    return instrument


@pytest.fixture
def strategy(user, instrument):
    return make_strategy(
        user,
        instrument=instrument,
        timeframe="1m",
        params={"fast": 2, "slow": 5, "mode": "long_only"},
    )


@pytest.fixture
def deployment(strategy):
    return deploy(strategy, feed="replay", seconds_per_bar=SECONDS_PER_BAR)


def _released(deployment, k: float) -> datetime:
    """Wall time at which the replay has released ``k`` bars (fractions: mid-bar)."""
    live = live_of(deployment)
    return datetime.fromtimestamp(live.replay_origin_ts + k * live.replay_seconds_per_bar, UTC)


def _wall_clock(monkeypatch, when: datetime) -> None:
    """What the stop (and manual orders) read as "now"."""
    monkeypatch.setattr("execution.services.live.timezone.now", lambda: when)


def _step(deployment, k: float):
    return deployment_step(deployment_id=deployment.pk, now=_released(deployment, k))


def _history(instrument):
    return bar_series(instrument=instrument, timeframe="1m")


def _dec(x: float, places: str) -> Decimal:
    return Decimal(repr(float(x))).quantize(Decimal(places))


def _assert_closed_at_last_close(deployment, instrument, strategy, cid: str) -> Order:
    """The position is flat, closed by order ``cid`` at the last replayed bar's close."""
    history = _history(instrument)
    last_ts, last_close = int(history.ts[-1]), Decimal(repr(float(history.close[-1])))

    square = Order.objects.get(deployment=deployment, client_order_id=cid)
    assert (square.side, square.order_type, square.quantity) == ("SELL", "MARKET", HELD)
    assert (square.status, square.filled_quantity, square.pending_quantity) == ("COMPLETE", HELD, 0)
    assert square.average_price == last_close
    assert list(square.events.order_by("id").values_list("status", "trigger")) == [
        ("PENDING", ""),
        ("OPEN", "ACCEPT"),
        ("COMPLETE", "FILL"),
    ]
    fill = Trade.objects.get(order=square)
    assert (fill.side, fill.quantity, fill.price) == ("SELL", HELD, last_close)
    assert fill.charges > 0 and fill.charges_breakdown["total"] > 0
    assert int(fill.executed_at.timestamp()) == last_ts

    position = Position.objects.get(deployment=deployment)
    assert position.quantity == 0
    live = live_of(deployment)
    assert live.phase == "DONE"
    assert live.cursor_ts == last_ts
    assert sum(p["qty"] for p in live.engine_state["ledger"]["positions"]) == 0
    assert not Order.objects.filter(
        deployment=deployment, status__in=["PENDING", "OPEN", "TRIGGER_PENDING", "PARTIALLY_FILLED"]
    ).exists()
    strategy.refresh_from_db()
    deployment.refresh_from_db()
    assert strategy.status == StrategyStatus.STOPPED
    assert deployment.status == DeploymentStatus.STOPPED and deployment.square_off

    # the last equity point is the book after the close: no position, the charges paid
    last = EquitySnapshot.objects.filter(deployment=deployment).order_by("-ts").first()
    assert int(last.ts.timestamp()) == last_ts
    assert last.position_value == 0 and last.cash == last.equity
    assert EquitySnapshot.objects.filter(deployment=deployment).count() == N_BARS
    assert_event_chains(deployment)
    assert_books(deployment)

    # finished: nothing is due, a later step does nothing
    assert deployments_claim_due(now=_released(deployment, N_BARS + 500)) == []
    before = counts(deployment)
    assert _step(deployment, N_BARS + 500).status == "skipped"
    assert counts(deployment) == before
    return square


def _assert_same_as_backtest(deployment, instrument, square_off: str | None = None) -> None:
    """Every fill and equity point is the backtest's that closes at the last bar's close.

    ``square_off``: the id of the order that closed the position, when it is the stop's own
    (placed before the last bar) rather than the leg the backtest places at its close.
    """
    ref = backtest_of(deployment, instrument, close_at_end="close")
    last_sq = f"d{deployment.pk}-{int(ref.equity.ts[-1])}-sq"
    trades = Trade.objects.filter(deployment=deployment).order_by("id")
    assert [
        (t.order.client_order_id, t.side, t.quantity, t.price, t.charges,
         int(t.executed_at.timestamp()))
        for t in trades
    ] == [
        (square_off if square_off and f.client_order_id == last_sq else f.client_order_id,
         str(f.side), f.quantity, _dec(f.price, "0.0001"), _dec(f.charges.total, "0.01"), f.ts)
        for f in ref.fills
    ]  # fmt: skip
    snaps = EquitySnapshot.objects.filter(deployment=deployment).order_by("ts")
    assert [(int(s.ts.timestamp()), s.cash, s.equity) for s in snaps] == [
        (
            int(ref.equity.ts[i]),
            _dec(ref.equity.cash[i], "0.01"),
            _dec(ref.equity.equity[i], "0.01"),
        )
        for i in range(len(ref.equity))
    ]
    position = Position.objects.get(deployment=deployment)
    assert position.realised_pnl == _dec(ref.state.ledger.realised_pnl, "0.01")


def test_stop_with_square_off_after_the_replay_ended_closes_at_the_last_close(
    deployment, strategy, instrument, monkeypatch
):
    _step(deployment, N_BARS + 0.5)  # every bar released and processed
    assert Position.objects.get(deployment=deployment).quantity == HELD
    stop_cursor = live_of(deployment).cursor_ts
    equity_before = EquitySnapshot.objects.filter(deployment=deployment).order_by("-ts")[0].equity
    _wall_clock(monkeypatch, _released(deployment, N_BARS + 3))

    services.strategy_stop(strategy=strategy, actor=strategy.owner, square_off=True)

    square = _assert_closed_at_last_close(
        deployment, instrument, strategy, f"d{deployment.pk}-{stop_cursor}-sq"
    )
    last = EquitySnapshot.objects.filter(deployment=deployment).order_by("-ts").first()
    assert last.equity == equity_before - Trade.objects.get(order=square).charges
    _assert_same_as_backtest(deployment, instrument)


def test_the_stop_first_plays_the_bars_released_since_the_last_step(
    deployment, strategy, instrument, monkeypatch
):
    """Bars released before the stop but not stepped yet are held through, then closed."""
    _step(deployment, 20)
    assert Position.objects.get(deployment=deployment).quantity == HELD
    _wall_clock(monkeypatch, _released(deployment, N_BARS + 3))

    services.strategy_stop(strategy=strategy, actor=strategy.owner, square_off=True)

    last_ts = int(_history(instrument).ts[-1])
    _assert_closed_at_last_close(deployment, instrument, strategy, f"d{deployment.pk}-{last_ts}-sq")
    _assert_same_as_backtest(deployment, instrument)


def test_a_deployment_left_squaring_off_is_closed_by_its_next_step(
    deployment, strategy, instrument, monkeypatch
):
    """A stop before this fix placed a market order after the last bar: it waited for ever."""
    _step(deployment, N_BARS + 0.5)
    stop_cursor = live_of(deployment).cursor_ts
    # What such a stop left behind: every bar stepped, and a market square-off that may meet
    # only bars opening after the last one. A stop whose clock still reads "during the last
    # bar" builds exactly that state, whichever release runs it.
    _wall_clock(monkeypatch, _released(deployment, N_BARS - 0.5))
    services.strategy_stop(strategy=strategy, actor=strategy.owner, square_off=True)
    stuck = Order.objects.get(
        deployment=deployment, client_order_id=f"d{deployment.pk}-{stop_cursor}-sq"
    )
    assert stuck.status == "OPEN" and live_of(deployment).phase == "SQUARING_OFF"

    outcome = _step(deployment, N_BARS + 100)

    # the stuck square-off itself fills at the last close: one order closes the position
    assert (outcome.status, outcome.bars, outcome.orders, outcome.fills) == ("stepped", 0, 1, 1)
    square = _assert_closed_at_last_close(
        deployment, instrument, strategy, f"d{deployment.pk}-{stop_cursor}-sq"
    )
    assert square.pk == stuck.pk
    assert Order.objects.filter(deployment=deployment, client_order_id__endswith="-sq").count() == 1
    _assert_same_as_backtest(deployment, instrument)


def test_a_square_off_placed_during_the_last_bar_is_closed_at_its_close(
    deployment, strategy, instrument, monkeypatch
):
    """The stop came while the last bar was still open: no bar opens after it, ever."""
    _step(deployment, N_BARS - 1)
    stop_cursor = live_of(deployment).cursor_ts
    _wall_clock(monkeypatch, _released(deployment, N_BARS - 0.5))

    services.strategy_stop(strategy=strategy, actor=strategy.owner, square_off=True)

    assert live_of(deployment).phase == "SQUARING_OFF"  # the replay had not ended yet
    outcome = _step(deployment, N_BARS + 0.5)

    assert (outcome.status, outcome.bars) == ("stepped", 1)
    square = f"d{deployment.pk}-{stop_cursor}-sq"  # the stop's own order, filled at the close
    _assert_closed_at_last_close(deployment, instrument, strategy, square)
    assert Order.objects.filter(deployment=deployment, client_order_id__endswith="-sq").count() == 1
    _assert_same_as_backtest(deployment, instrument, square_off=square)


def test_before_the_replay_ends_the_square_off_fills_at_the_next_open(
    deployment, strategy, instrument, monkeypatch
):
    _step(deployment, 20)
    stop_cursor = live_of(deployment).cursor_ts
    _wall_clock(monkeypatch, _released(deployment, 20.5))  # bar 20 in progress

    services.strategy_stop(strategy=strategy, actor=strategy.owner, square_off=True)

    square = Order.objects.get(deployment=deployment, client_order_id__contains="-sq")
    assert square.client_order_id == f"d{deployment.pk}-{stop_cursor}-sq"
    assert square.status == "OPEN" and live_of(deployment).phase == "SQUARING_OFF"

    _step(deployment, 23)

    square.refresh_from_db()
    history = _history(instrument)
    assert (square.status, square.average_price) == (
        "COMPLETE",
        Decimal(repr(float(history.open[21]))),
    )
    assert int(Trade.objects.get(order=square).executed_at.timestamp()) == int(history.ts[21])
    assert Position.objects.get(deployment=deployment).quantity == 0
    assert live_of(deployment).phase == "DONE"
    assert Order.objects.filter(deployment=deployment, client_order_id__contains="-sq").count() == 1
    assert_event_chains(deployment)
    assert_books(deployment)


def test_stop_without_square_off_after_the_replay_ended_keeps_the_position(
    deployment, strategy, monkeypatch
):
    _step(deployment, N_BARS + 0.5)
    before = counts(deployment)
    _wall_clock(monkeypatch, _released(deployment, N_BARS + 3))

    services.strategy_stop(strategy=strategy, actor=strategy.owner)

    assert counts(deployment) == before
    assert Position.objects.get(deployment=deployment).quantity == HELD
    assert live_of(deployment).phase == "DONE"
    assert _step(deployment, N_BARS + 100).status == "skipped"
