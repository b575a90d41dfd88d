"""The paper broker's matching: bars open and close, working orders meet them and fill.

``begin_bar(ts, o, h, l, c, v)`` → ``fill_open()`` (market orders at this open) →
``match_bar()`` (everything else against the whole bar) → the bar is closed. The fill rules are
in ``execution.brokers.paper``'s docstring. A mixin of ``PaperBroker``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

from execution.brokers.base import Fill
from execution.brokers.paper_book import (
    _EPS,
    _EXPIRE,
    _FILL,
    _FILL_PARTIAL,
    _MODIFY,
    _SIDE,
    _TERMINAL,
    _TRIGGER,
    _fills_at_open,
    _new_fill,
    _Order,
)
from execution.engine.charges import ChargesModel
from execution.engine.config import InstrumentSpec, SessionCalendar
from execution.engine.ledger import Ledger


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a good stateless hash of a 64-bit integer."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


class Matching:
    """Bars, the volume budget, slippage and fills of ``PaperBroker``."""

    account: Ledger
    charges: ChargesModel
    instruments: dict[str, InstrumentSpec]
    calendar: SessionCalendar | None
    volume_share: float | None
    slippage_bps: float
    slippage_random: bool
    seed: int
    feed_clock: int | None
    last_fill_realised: float
    _working: dict[str, _Order]
    _by_cid: dict[str, str]
    _after: dict[str, int]
    _bar: tuple[int, float, float, float, float, float] | None
    _bar_symbol: str | None
    _budget: float
    _last_ts: int | None
    _last_price: dict[str, float]
    _pre_open: float | None
    market_protection_pct: float | None
    _band: Callable[[float, str, str], float]
    _apply: Callable[[_Order, str, int, str], None]
    _products: dict[str, str]
    _fills: list[Fill]
    _on_fill: Callable[[Fill], None] | None
    _settle_groups: Callable[[_Order, int], None]

    def begin_bar(
        self, symbol: str, ts: int, o: float, h: float, lo: float, c: float, v: float
    ) -> None:
        """Open a new bar: expire DAY orders of past sessions, reset the volume budget."""
        self._bar = (ts, o, h, lo, c, v)
        self._bar_symbol = symbol
        self._pre_open = self._last_price.get(symbol)
        self._last_ts = ts
        self._last_price[symbol] = o
        self.account.mark(symbol, o)
        share = self.volume_share
        if share is None:
            self._budget = math.inf
        else:
            lot = self.instruments[symbol].lot_size
            self._budget = math.floor(share * v / lot + _EPS) * lot
        if self._working and self.calendar is not None:
            day = self.calendar.session_day(ts)
            for od in list(self._working.values()):
                if od.validity == "DAY" and od.day is not None and od.day < day:
                    self._finish(
                        od,
                        _EXPIRE,
                        self.calendar.session_close_ts(od.day),
                        "DAY order expired at the session close",
                    )

    def fill_open(self) -> None:
        """Fill working market orders (and triggered SL-M remainders) at the current open."""
        if not self._working or self._bar is None:
            return
        ts, op = self._bar[0], self._bar[1]
        symbol = self._bar_symbol
        held = self._after
        for od in list(self._working.values()):
            if od.symbol != symbol or od.last_bar == ts or (held and self._held(od, ts)):
                continue
            otype = od.otype  # ``_fills_at_open``, inline: a bracket's legs pass here each bar
            if (otype == "MARKET" or (otype == "SL-M" and od.triggered)) and (
                od.status not in _TERMINAL  # (a group may cancel it)
            ):
                self._fill_at_open(od, ts, op)

    def _fill_at_open(self, od: _Order, ts: int, op: float) -> None:
        """Fill one market order (or triggered SL-M remainder) at the open ``op`` of bar ``ts``."""
        if not od.met:  # ``_meet``, inline: a fresh engine leg always gets here
            self._meet(od, ts)
        price = self._slip(op, od, ts)
        band = od.protect
        if band is not None and (price > band if od.side == "BUY" else price < band):
            self._convert(od, band, ts)  # not met yet: ``match_bar`` matches it as a limit
            return
        od.last_bar = ts
        self._fill_up_to(od, price, ts)
        if od.validity == "IOC" and od.status not in _TERMINAL:
            self._finish(od, _EXPIRE, ts, "IOC remainder expired")

    def place_market_at_open(self, client_order_id: str, symbol: str, side: str, quantity: int,
                             product: str) -> str:  # fmt: skip
        """The engine's market legs: ``submit`` then ``fill_open``, in one call.

        The same as ``submit(OrderRequest(client_order_id, symbol, Side(side), OrderType.MARKET,
        quantity, Product(product), Validity.DAY))`` (``_new_order`` would turn those fields
        back into exactly these strings) followed by ``fill_open()``. A leg is placed in a bar's
        open phase right after ``fill_open`` has run (or when nothing was working), so every
        other working order has met this bar already or does not fill at the open: the
        ``fill_open`` would fill exactly this order, which is done here directly, through the
        same ``_fill_at_open``. Placed outside a bar, the order waits, as after ``submit``.
        """
        oid = self._by_cid.get(client_order_id)
        if oid is None:
            o = self._create(client_order_id, symbol, side, "MARKET", product, "DAY", int(quantity))
            oid = self._admit(o)
        o = self._working.get(oid)
        bar = self._bar
        if o is not None and bar is not None and o.symbol == self._bar_symbol:
            ts = bar[0]
            if o.last_bar != ts and _fills_at_open(o) and not (self._after and self._held(o, ts)):
                self._fill_at_open(o, ts, bar[1])
        return oid

    def match_bar(self) -> None:
        """Match every working order against the current bar, then close the bar."""
        if self._bar is None:
            return
        ts, op, hi, lo, cl, _v = self._bar
        symbol = self._bar_symbol
        if self._working:
            self.fill_open()
            held = self._after
            for od in list(self._working.values()):
                if od.symbol != symbol or od.last_bar == ts or (held and self._held(od, ts)):
                    continue
                if od.status in _TERMINAL:  # cancelled by its group (``paper_groups``)
                    continue
                if not od.met:
                    self._meet(od, ts)
                od.last_bar = ts
                self._match_one(od, ts, op, hi, lo)
                if od.validity == "IOC" and od.status not in _TERMINAL:
                    self._finish(od, _EXPIRE, ts, "IOC remainder expired")
        self._bar = None
        self._last_price[symbol] = cl
        self.account.mark(symbol, cl)

    def skip_to(self, symbol: str, ts: int, close: float) -> None:
        """Note quiet bars the driver did not show us (no working orders): only the last price."""
        self._last_ts = ts
        self._last_price[symbol] = close
        self.account.mark(symbol, close)

    def note_close(self, symbol: str, close: float) -> None:
        """Note the close of a bar the driver skipped (the one before the next ``begin_bar``):
        market protection's reference for orders placed at the next open."""
        self._last_price[symbol] = close

    def last_price(self, symbol: str) -> float | None:
        return self._last_price.get(symbol)

    def _hold(self, o: _Order) -> None:
        """Keep an order placed or modified between bars away from bars that opened before it."""
        after = self.feed_clock if self.feed_clock is not None else self._last_ts
        if after is not None:
            self._after[o.oid] = int(after)

    def release(self, order_id: str) -> None:
        """Let a held order (placed between bars, ``_hold``) meet the current bar after all.

        For a driver that knows no later bar will ever open: the close-out of an ended replay
        fills the stop's square-off at the last bar's close instead of replacing it.
        """
        self._after.pop(order_id, None)

    def _held(self, o: _Order, ts: int) -> bool:
        """Whether bar ``ts`` opened before ``o`` was placed (or last modified) between bars."""
        after = self._after.get(o.oid)
        if after is None:
            return False
        if ts <= after:
            return True
        del self._after[o.oid]  # bars only move forward: every later bar is eligible too
        return False

    def _meet(self, o: _Order, ts: int) -> None:
        if not o.met:
            o.met = True
            if self.calendar is not None:
                o.day = self.calendar.session_day(ts)

    def _match_one(self, o: _Order, ts: int, op: float, hi: float, lo: float) -> None:
        buy = o.side == "BUY"
        if o.otype in ("SL", "SL-M") and not o.triggered:
            t = o.trigger
            if buy:
                hit = op if op >= t else (t if hi >= t else None)
            else:
                hit = op if op <= t else (t if lo <= t else None)
            if hit is None:
                return
            o.triggered = True
            self._apply(o, _TRIGGER, ts, f"triggered at {hit:.10g}")
            if o.otype == "SL-M":
                price = self._slip(hit, o, ts)
                if self.market_protection_pct is not None:
                    o.protect = band = self._band(o.trigger, o.side, o.symbol)
                    if price > band if buy else price < band:
                        self._convert(o, band, ts)
                        self._match_one(o, ts, op, hi, lo)  # now a limit: this bar may fill it
                        return
                self._fill_up_to(o, price, ts)
                return
            # SL: now a limit order; marketable at the trigger price if within the limit
            lim = o.price
            if (buy and hit <= lim) or (not buy and hit >= lim):
                self._fill_up_to(o, self._slip_limit(hit, lim, o), ts)
                return
            if (buy and lo < lim) or (not buy and hi > lim):
                self._fill_up_to(o, lim, ts)
            return
        if o.otype == "LIMIT" or (o.otype == "SL" and o.triggered):
            lim = o.price
            if buy:
                if op <= lim:
                    self._fill_up_to(o, self._slip_limit(op, lim, o), ts)
                elif lo < lim:
                    self._fill_up_to(o, lim, ts)
            elif op >= lim:
                self._fill_up_to(o, self._slip_limit(op, lim, o), ts)
            elif hi > lim:
                self._fill_up_to(o, lim, ts)

    def _convert(self, o: _Order, band: float, ts: int) -> None:
        """Market protection: turn a market (or triggered SL-M) order into a limit at its band."""
        o.otype = "LIMIT"
        o.price = band
        self._apply(o, _MODIFY, ts, f"market protection: converted to a limit at {band:.10g}")

    def _slip(self, price: float, o: _Order, ts: int) -> float:
        """Apply slippage against the taker and round to the tick (buys up, sells down)."""
        bps = self.slippage_bps
        if bps and self.slippage_random:
            key = (self.seed * 0x100000001B3) ^ zlib.crc32(o.oid.encode()) ^ (ts << 20)
            bps *= _mix64(key & 0xFFFFFFFFFFFFFFFF) / 2.0**64
        if o.side == "BUY":
            return self._to_tick(price * (1 + bps / 1e4) if bps else price, o.symbol, True)
        return self._to_tick(price * (1 - bps / 1e4) if bps else price, o.symbol, False)

    def _slip_limit(self, price: float, lim: float, o: _Order) -> float:
        """A limit order filling at a better price than its limit: on the tick, never beyond."""
        if o.side == "BUY":
            return min(self._to_tick(price, o.symbol, True), lim)
        return max(self._to_tick(price, o.symbol, False), lim)

    def _fill_up_to(self, o: _Order, price: float, ts: int) -> None:
        """Fill what the volume budget allows of the order's remainder at ``price``: book it."""
        filled = o.filled
        qty = o.qty - filled
        budget = self._budget
        if qty > budget:
            qty = int(budget)
        if qty <= 0:
            return
        self._budget = budget - qty
        side, symbol, oid = o.side, o.symbol, o.oid
        ch = self.charges.compute(side, o.product, qty, price, o.value)
        o.value = value = o.value + qty * price
        o.filled = filled = filled + qty
        o.avg = avg = value / filled
        o.nfills = nfills = o.nfills + 1
        self.last_fill_realised = self.account.apply_fill(
            symbol, qty if side == "BUY" else -qty, price, ch.total
        )
        self._products[symbol] = o.product
        fill = _new_fill(f"{oid}-{nfills}", oid, o.cid, symbol, _SIDE[side], qty, price, ts, ch)
        if self._on_fill is not None:
            self._on_fill(fill)
        else:
            self._fills.append(fill)
        # %-formatting writes exactly what f"{filled} @ {avg:.10g}" writes, in half the time;
        # ten significant digits keep the paise of a six-figure price (6, the %g default, do not)
        if filled >= o.qty:
            self._apply(o, _FILL, ts, "filled %s @ %.10g" % (filled, avg))  # noqa: UP031
            self._working.pop(oid, None)  # as ``_finish``
        else:
            self._apply(o, _FILL_PARTIAL, ts, "filled %s/%s @ %.10g" % (filled, o.qty, avg))  # noqa: UP031
        if self._working:
            self._settle_groups(o, ts)  # order groups (``paper_groups``)
