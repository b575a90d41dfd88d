"""The paper broker's money side: the checks an order must pass and the funds it reserves.

A mixin of ``PaperBroker``: it reads the broker's account (a ``Ledger``), its instruments, its
working orders and its last prices, and knows the tick and slippage rules prices follow.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from execution.brokers.base import Funds
from execution.brokers.paper_book import _OTYPE, _PRODUCT, _SIDE, _VALIDITY, _Order
from execution.engine.charges import ChargesModel
from execution.engine.config import InstrumentSpec
from execution.engine.ledger import Ledger
from execution.engine.orders import Side


def _decimals(tick: float) -> int:
    s = f"{tick:.10f}".rstrip("0")
    return len(s.split(".")[1]) if "." in s else 0


# How far (in ticks) a float may sit from a whole number of ticks and still count as on it:
# 1e-6 of a tick, widened with the count of ticks, since a float carries ~16 significant digits
# and a crypto price of 43210.12345678 on a 1e-8 tick is 4.3e12 ticks (±0.0005 in float).
_TICK_SLACK = 1e-6
_TICK_SLACK_REL = 4e-15


def _tick_slack(k: float) -> float:
    return _TICK_SLACK + abs(k) * _TICK_SLACK_REL


def _num(x: float) -> str:
    """A price or tick as its shortest decimal, never in exponent form (1e-05 → 0.00001)."""
    return f"{Decimal(repr(float(x))).normalize():f}"


def _on_tick(x: float, tick: float) -> bool:
    k = x / tick
    return abs(k - round(k)) < _TICK_SLACK + abs(k) * _TICK_SLACK_REL  # _tick_slack, inline


def _prices_pass(o: _Order, tick: float) -> bool:
    """The common cases of ``FundsChecks._check_prices`` passing, tested directly: an SL-M
    (a bracket's stop) or a LIMIT (its target) with its one positive price on the tick. False
    means "not one of these", and the full check then says what, if anything, is wrong."""
    otype = o.otype
    if otype == "SL-M":
        t = o.trigger
        return o.price is None and t is not None and t > 0 and _on_tick(t, tick)
    if otype == "LIMIT":
        p = o.price
        return o.trigger is None and p is not None and p > 0 and _on_tick(p, tick)
    return False


class FundsChecks:
    """Placement checks, funds and margin, and price rounding of ``PaperBroker``."""

    account: Ledger
    charges: ChargesModel
    instruments: dict[str, InstrumentSpec]
    slippage_bps: float
    _working: dict[str, _Order]
    _bar: tuple[int, float, float, float, float, float] | None
    _bar_symbol: str | None
    _last_price: dict[str, float]
    _tick_dec: dict[str, int]
    _inv_tick: dict[str, int]
    _base_count: int
    _base_reserved: float
    _base_selling: dict[str, int]

    def funds(self) -> Funds:
        """Return cash, what new orders may use, and what working orders/shorts block."""
        avail = self.available_funds()
        return Funds(
            cash=self.account.cash,
            available=avail,
            blocked=self.account.cash - avail,
            equity=self.account.equity,
        )

    def available_funds(self) -> float:
        """Cash less 100 % margin on shorts and what working orders reserve."""
        acct = self.account
        avail = acct.cash
        for p in acct.positions.values():
            if p.qty < 0:
                avail += 2 * p.qty * p.last_price
        for w in self._working.values():
            avail -= (w.qty - w.filled) * w.reserve
        if self._base_reserved:  # a partial load: the working orders it did not load
            avail -= self._base_reserved
        return avail

    def _book_summary(self) -> dict[str, Any]:
        """What the working orders add up to, for a partial load (``from_state``)."""
        reserved = self._base_reserved
        selling = dict(self._base_selling)
        for w in self._working.values():
            reserved += (w.qty - w.filled) * w.reserve
            if w.side == "SELL" and w.product == "CNC":
                selling[w.symbol] = selling.get(w.symbol, 0) + w.qty - w.filled
        return {
            "working": self._base_count + len(self._working),
            "reserved": reserved,
            "cnc_selling": selling,
        }

    def _set_base(self, summary: dict[str, Any]) -> None:
        """Count the working orders a partial load did not load: the summary less the loaded."""
        mine = self._book_summary()  # of the loaded ones (the base is still zero)
        self._base_count = int(summary["working"]) - mine["working"]
        self._base_reserved = float(summary["reserved"]) - mine["reserved"]
        theirs = summary["cnc_selling"]
        self._base_selling = {s: int(q) - mine["cnc_selling"].get(s, 0) for s, q in theirs.items()}

    def _check(self, o: _Order) -> str | None:
        """Return why the order must be rejected, or None; sets its funds reservation."""
        symbol = o.symbol
        spec = self.instruments.get(symbol)
        if spec is None:
            return f"unknown instrument {symbol}"
        side, otype, product = o.side, o.otype, o.product
        if (
            side not in _SIDE
            or otype not in _OTYPE
            or product not in _PRODUCT
            or o.validity not in _VALIDITY
        ):
            return "unknown side, order type, product or validity"
        lot = spec.lot_size
        if o.qty <= 0 or o.qty % lot:
            return f"quantity {o.qty} is not a positive multiple of the lot size {lot}"
        if otype == "MARKET":
            if o.price is not None or o.trigger is not None:
                return "MARKET order takes no price or trigger price"
        elif not _prices_pass(o, spec.tick_size):
            reason = self._check_prices(o, spec.tick_size)
            if reason is not None:
                return reason
        pos = self.account.qty(symbol)
        remaining = o.qty - o.filled
        if side == "SELL" and product == "CNC" and not spec.allow_short_cnc:
            selling = self._base_selling.get(symbol, 0) + sum(
                w.qty - w.filled
                for w in self._working.values()
                if w.symbol == symbol
                and w.side == "SELL"
                and w.product == "CNC"
                # grouped (bracket) legs follow the position (``paper_groups``): they never
                # sell more than is held, so they do not count against another sell
                and not w.group
            )
            if remaining > pos - selling:
                return (
                    f"insufficient holdings: CNC sell of {remaining} exceeds the "
                    f"{max(pos - selling, 0)} held "
                    f"(no short selling in delivery on {spec.exchange})"
                )
        if otype == "MARKET":
            ref = self.market_price_estimate(symbol, side)
        elif otype == "SL-M":  # ``_ref_price``, inline: a bracket's stop and its every trail
            ref = self._worst_price(o.trigger, side, symbol)
        else:
            ref = o.price  # LIMIT, SL
        if ref is None:
            return "no market price yet for a market order"
        signed_pos = pos if side == "SELL" else -pos
        # min(remaining, max(signed_pos, 0)): the part that closes a position
        closing = 0 if signed_pos <= 0 else remaining if remaining < signed_pos else signed_pos
        opening = remaining - closing
        avail = self.available_funds() + closing * ref
        model = self.charges
        # a cheap upper bound first; the exact schedule only when the bound does not fit
        need = opening * ref + model.upper_bound(side, product, remaining * ref)
        if need > avail + 1e-9:
            need = opening * ref + model.total(side, product, remaining, ref)
            if need > avail + 1e-9:
                return f"insufficient funds: need {need:.2f}, available {max(avail, 0.0):.2f}"
        o.reserve = (need / remaining) if remaining else 0.0
        return None

    @staticmethod
    def _check_prices(o: _Order, tick: float) -> str | None:
        """The price and trigger rules of LIMIT, SL and SL-M orders (part of ``_check``)."""
        if o.otype in ("LIMIT", "SL"):
            if o.price is None or not o.price > 0:
                return f"{o.otype} order needs a positive price"
            if not _on_tick(o.price, tick):
                return f"price {_num(o.price)} is not a multiple of the tick size {_num(tick)}"
        elif o.price is not None:
            return f"{o.otype} order takes no price"
        if o.otype in ("SL", "SL-M"):
            if o.trigger is None or not o.trigger > 0:
                return f"{o.otype} order needs a positive trigger price"
            if not _on_tick(o.trigger, tick):
                return (
                    f"trigger price {_num(o.trigger)} is not a multiple of the tick size "
                    f"{_num(tick)}"
                )
            if o.otype == "SL" and (
                (o.side == "BUY" and o.price < o.trigger)
                or (o.side == "SELL" and o.price > o.trigger)
            ):
                return "SL limit price must not be beyond its trigger price"
        elif o.trigger is not None:
            return f"{o.otype} order takes no trigger price"
        return None

    def _ref_price(self, o: _Order) -> float | None:
        """The price the funds check assumes the order trades at (worst case of slippage)."""
        otype = o.otype
        if otype == "MARKET":
            return self.market_price_estimate(o.symbol, o.side)
        if otype == "SL-M":
            return self._worst_price(o.trigger, o.side, o.symbol)
        return o.price  # LIMIT, SL

    def market_price_estimate(self, symbol: str, side: Side | str) -> float | None:
        """Return the worst price a market order placed now would fill at (funds, sizing).

        During a bar's open phase that is the open; between bars, the last price. Slippage is
        taken at its maximum and the result rounded to the tick against the taker.
        """
        bar = self._bar
        if bar is not None and self._bar_symbol == symbol:
            base = bar[1]
        else:
            base = self._last_price.get(symbol)
            if base is None:
                return None
        if not self.slippage_bps:  # ``_worst_price`` without slippage: the tick rounding only
            return self._to_tick(base, symbol, side == "BUY")
        return self._worst_price(base, str(side), symbol)

    def _worst_price(self, base: float, side: str, symbol: str) -> float:
        bps = self.slippage_bps
        if side == "BUY":
            return self._to_tick(base * (1 + bps / 1e4) if bps else base, symbol, True)
        return self._to_tick(base * (1 - bps / 1e4) if bps else base, symbol, False)

    def _to_tick(self, p: float, symbol: str, up: bool) -> float:
        """Round a price to the instrument's tick, up or down (float noise tolerated)."""
        inv = self._inv_tick[symbol]
        if inv:
            k = p * inv
            slack = _TICK_SLACK + k * _TICK_SLACK_REL  # _tick_slack, inlined: a hot path
            return (math.ceil(k - slack) if up else math.floor(k + slack)) / inv
        tick = self.instruments[symbol].tick_size
        k = p / tick
        slack = _tick_slack(k)
        k = math.ceil(k - slack) if up else math.floor(k + slack)
        return round(k * tick, self._tick_dec[symbol])
