"""What the live page draws: a deployment's bars, its strategy's indicator lines, its fills.

The bars are the ones the deployment's engine reads at a step (``live._advance``): its feed's
closed bars from ``history_start_ts`` on, at most ``MAX_HISTORY_BARS`` of them on the synthetic
feed. The indicator lines are computed over that same window by the strategy type's own
``chart_lines`` (the functions its ``signals`` calls), so a cross on the chart is the cross the
engine acted on, then cut to the last ``CHART_BARS`` for the page. A stopped run's chart ends at
its cursor: the feed moves on, the run does not.

Reads only: one query for the live state (with the deployment), one for the fills, and for a
replay one for the stored bars, whatever the number of bars or trades.

A basket's chart is one member's (``instrument``, the primary by default): its bars as the
basket's step reads them (every member's feed on one clock, ``live_basket``), so for a replay
one query per member; the fill markers are that member's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from execution.engine.bars import BarSeries
from execution.marketdata.sources import SyntheticSource
from execution.models import DeploymentState, LivePhase, OrderRoleChoices
from execution.services import live_basket
from execution.services.live import MAX_HISTORY_BARS
from execution.services.live_basket_orders import member_index, single_instrument_check
from execution.services.live_feed import _source
from strategies import catalog
from strategies.models import Deployment, DeploymentStatus

CHART_BARS = 500  # candles on the page; the indicators still see the engine's whole window
CHART_MARKERS = 500  # the newest fills drawn as markers


@dataclass(frozen=True)
class Quote:
    """The feed's latest closed bar for a run, and how far its strategy is from warmed up."""

    ts: int | None
    close: Decimal | None
    bars_seen: int
    warmup_bars: int
    fed: bool = True  # False: the run has no live feed (no runner), so nothing will arrive
    symbol: str = ""  # whose price: a basket's tile shows its primary member's

    @property
    def remaining(self) -> int:
        """Bars still to close before the strategy can take its first decision."""
        return max(0, self.warmup_bars - self.bars_seen) if self.fed else 0

    @property
    def ready(self) -> bool:
        return self.remaining == 0

    @property
    def at(self) -> datetime | None:
        return None if self.ts is None else datetime.fromtimestamp(self.ts, tz=UTC)


def _live(deployment: Deployment) -> DeploymentState | None:
    try:
        return deployment.live
    except ObjectDoesNotExist:
        return None


def _moving(deployment: Deployment, live: DeploymentState) -> bool:
    """Whether the run still takes bars (trading, or squaring off after a stop)."""
    return deployment.status == DeploymentStatus.RUNNING or live.phase == LivePhase.SQUARING_OFF


def chart_member(deployment: Deployment, instrument: Any) -> int | None:
    """The basket member ``instrument`` names (the primary if none); ``None`` off a basket.

    An instrument that is not the run's (or not one of its basket's) is a 400 naming it.
    """
    members = deployment.config.get("instruments")
    if not members:
        single_instrument_check(deployment.config, instrument)
        return None
    if instrument is None or str(instrument).strip() == "":
        return 0
    return member_index(members, instrument)


def deployment_window(
    *, deployment: Deployment, now: datetime | None = None, member: int | None = None
) -> tuple[BarSeries, DeploymentState | None]:
    """Return the bars the run's strategy reads at a step now, oldest first, and its state.

    ``member``: that basket member's bars, on the basket's clock.
    """
    live = _live(deployment)
    if live is None:
        return BarSeries.empty(), None
    now_ts = int((now or timezone.now()).timestamp())
    moving = _moving(deployment, live)
    if not moving and live.cursor_ts is None:
        return BarSeries.empty(), live
    if member is not None and live_basket.is_basket(live):
        feeds = live_basket._feeds(live)
        source = feeds.clock

        def closed_bars(since_ts: int, now_ts: int) -> BarSeries:
            return feeds.closed_bars(since_ts=since_ts, now_ts=now_ts)[member]
    else:
        source = _source(live)

        def closed_bars(since_ts: int, now_ts: int) -> BarSeries:
            return source.closed_bars(since_ts=since_ts, now_ts=now_ts)

    if not moving and isinstance(source, SyntheticSource):
        # the bar at the cursor is then the last one closed (cursors sit on bar boundaries)
        now_ts = min(now_ts, live.cursor_ts + 2 * live.interval_s - 1)
    since = live.history_start_ts
    if isinstance(source, SyntheticSource):
        since = max(since, source.last_closed_open(now_ts) - MAX_HISTORY_BARS * live.interval_s)
    bars = closed_bars(since, now_ts)
    if not moving:
        bars = bars.slice(0, int(np.searchsorted(bars.ts, live.cursor_ts, side="right")))
    return bars, live


def _warmup_bars(deployment: Deployment) -> int:
    snap = deployment.config
    return catalog.get(snap["strategy_type"]).warmup_bars(snap["params"])


def _quote(deployment: Deployment, bars: BarSeries, live: DeploymentState | None) -> Quote:
    n = len(bars)
    return Quote(
        ts=int(bars.ts[-1]) if n else None,
        close=_decimal(bars.close[-1]) if n else None,
        bars_seen=n,
        warmup_bars=_warmup_bars(deployment),
        fed=live is not None,
        symbol=deployment.config["instrument"]["symbol"],
    )


def deployment_quote(*, deployment: Deployment, now: datetime | None = None) -> Quote:
    """Return the run's last price (its feed's latest closed bar) and warm-up count."""
    bars, live = deployment_window(deployment=deployment, now=now)
    return _quote(deployment, bars, live)


def _decimal(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def _points(ts: np.ndarray, values: np.ndarray, start: int) -> list[list[float]]:
    return [
        [int(t), float(v)]
        for t, v in zip(ts[start:].tolist(), values[start:].tolist(), strict=True)
        if v == v  # NaN before the indicator exists: no point
    ]


def _markers(
    deployment: Deployment, ts: np.ndarray, start: int, instrument_id: int | None = None
) -> list[dict[str, Any]]:
    """The run's fills in the shown window (``instrument_id``'s only, if given), each on the
    bar it filled in, at its price."""
    if len(ts) <= start:
        return []
    first = datetime.fromtimestamp(int(ts[start]), tz=UTC)
    trades = deployment.trades.filter(executed_at__gte=first)
    if instrument_id is not None:
        trades = trades.filter(order__instrument_id=instrument_id)
    fills = list(
        trades.order_by("-executed_at", "-id").values_list(
            "id", "executed_at", "side", "quantity", "price", "order__role"
        )[:CHART_MARKERS]
    )
    fills.reverse()
    roles = dict(OrderRoleChoices.choices)
    markers = []
    for pk, executed_at, side, quantity, price, role in fills:
        i = int(np.searchsorted(ts, int(executed_at.timestamp()), side="right")) - 1
        markers.append(
            {
                "id": pk,
                "time": int(ts[max(i, start)]),
                "filled_at": int(executed_at.timestamp()),
                "side": side,
                "quantity": quantity,
                "price": float(price),
                "role": roles.get(role, role),
            }
        )
    return markers


def deployment_chart(
    *,
    deployment: Deployment,
    since: int | None = None,
    limit: int = CHART_BARS,
    now: datetime | None = None,
    instrument: Any = None,
) -> dict[str, Any]:
    """Return the live chart's data: candles, indicator lines, fill markers, quote, warm-up.

    With ``since`` (epoch seconds of the newest candle the page has) only the candles and line
    points after it are sent; the markers are always the whole window's (a fill can be written
    for a bar the page already has), and the warm-up and last price always current. On a
    basket, ``instrument`` (id or symbol) picks the member drawn (the primary by default).
    """
    member = chart_member(deployment, instrument)
    bars, live = deployment_window(deployment=deployment, now=now, member=member)
    snap = deployment.config
    members = snap.get("instruments") or []
    shown = members[member] if member is not None else snap["instrument"]
    n = len(bars)
    start = max(n - limit, 0)
    if since is not None:
        start = max(start, int(np.searchsorted(bars.ts, since, side="right")))
    stype = catalog.get(snap["strategy_type"])
    lines = stype.chart_lines(bars, snap["params"]) if n else []
    quote = _quote(deployment, bars, live)
    window_start = max(n - limit, 0)
    return {
        "candles": [
            [int(t), o, h, lo, c]
            for t, o, h, lo, c in zip(
                bars.ts[start:].tolist(),
                bars.open[start:].tolist(),
                bars.high[start:].tolist(),
                bars.low[start:].tolist(),
                bars.close[start:].tolist(),
                strict=True,
            )
        ],
        "lines": [
            {
                "key": line.key,
                "label": line.label,
                "pane": line.pane,
                "levels": list(line.levels),
                "points": _points(bars.ts, line.values, start),
            }
            for line in lines
        ],
        "markers": _markers(
            deployment, bars.ts, window_start, shown["id"] if member is not None else None
        ),
        "instrument": {"id": shown["id"], "label": "{exchange}:{symbol}".format(**shown)},
        "members": [{"id": m["id"], "label": "{exchange}:{symbol}".format(**m)} for m in members],
        "last": None if quote.ts is None else {"time": quote.ts, "close": float(quote.close)},
        "warmup": {
            "bars": quote.warmup_bars,
            "seen": quote.bars_seen,
            "remaining": quote.remaining,
        },
        "interval": live.interval_s if live is not None else None,
        "live": live is not None and _moving(deployment, live),
    }
