"""Trading charges behind one interface, each fill carrying a breakdown (ARCHITECTURE §3).

Rule for orders filled in several parts: an order's charges are computed on its *cumulative*
executed value, and each fill carries the increment ``charges(cum_after) - charges(cum_before)``,
component by component. So the per-order brokerage cap (₹20 for MIS) applies once per order however
many partial fills it has, and the fills of an order always add up, to the paisa, to the charges
of one fill of the whole quantity.

``IndiaEquityCharges`` rounds every component to paise (2 dp). ``FlatCommission`` keeps full float
precision on purpose: it exists to reproduce backtesting.py, which does not round, and rounding
would shift cash by up to half a paisa per fill and could flip all-in sizing by one unit at a
boundary. Money is rounded at the database boundary anyway (ARCHITECTURE §2).
"""

from __future__ import annotations

import dataclasses
import math
import types
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any, TypeVar

from execution.engine.orders import Product, Side

COMPONENTS = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst")

_T = TypeVar("_T")


def fast_constructor(cls: type[_T]) -> Callable[..., _T]:
    """Return a function that builds ``cls(...)`` faster, for a frozen slotted dataclass.

    A frozen dataclass's generated ``__init__`` stores each field through
    ``object.__setattr__``, looked up again for every field; for the events, fills and charge
    breakdowns a long backtest creates by the hundred thousand that is most of their cost. The
    function returned here takes the same arguments (same names, order and defaults) and builds
    the object as an instance of a plain twin class with the very same ``__slots__`` (so the
    same memory layout), where each field is a plain attribute store, then gives it its real
    class (``obj.__class__ = cls``, which Python allows exactly between such layouts): the
    object is the same (same type, fields, ``==``, ``hash`` and ``repr``), and frozen from then
    on. Where the twin does not fit (a slotted base class, say), each field is stored through
    its slot's own descriptor instead, which is what ``object.__setattr__`` ends up calling.

    Only the plain case is sped up: when ``cls`` has a ``__post_init__``, an ``init=False``,
    keyword-only or factory-default field, or no slots, ``cls`` itself is returned.
    """
    params = getattr(cls, "__dataclass_params__", None)
    fields = dataclasses.fields(cls) if params is not None else ()  # type: ignore[arg-type]
    if (
        params is None
        or not params.frozen
        or not params.init
        or "__slots__" not in cls.__dict__
        or hasattr(cls, "__post_init__")
        or any(not f.init or f.kw_only or f.default_factory is not MISSING for f in fields)
    ):
        return cls
    slots = {}
    for f in fields:
        slot = next((k.__dict__[f.name] for k in cls.__mro__ if f.name in k.__dict__), None)
        if not isinstance(slot, types.MemberDescriptorType):
            return cls
        slots[f.name] = slot
    twin = _layout_twin(cls, [f.name for f in fields])
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_twin": twin}
    args, body = [], []
    for f in fields:
        env[f"_set_{f.name}"] = slots[f.name].__set__
        if f.default is MISSING:
            args.append(f.name)
        else:
            env[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
        if twin is not None:
            body.append(f"    _obj.{f.name} = {f.name}\n")
        else:
            body.append(f"    _set_{f.name}(_obj, {f.name})\n")
    src = f"def new_{cls.__name__}({', '.join(args)}):\n"
    if twin is not None:
        src += "    _obj = _new(_twin)\n" + "".join(body)
        src += "    _obj.__class__ = _cls\n    return _obj\n"
    else:
        src += "    _obj = _new(_cls)\n" + "".join(body) + "    return _obj\n"
    # Generated from the class's own field names only, as dataclasses does.
    exec(src, env)  # noqa: S102  # nosec B102 # no outside input reaches src
    make = env[f"new_{cls.__name__}"]
    make.__doc__ = f"Build ``{cls.__name__}(...)`` (see ``fast_constructor``)."
    return make


def _layout_twin(cls: type, names: list[str]) -> type | None:
    """Return a plain class whose instances can become ``cls`` instances, or None.

    The twin declares exactly ``cls``'s own ``__slots__`` on ``object``, as ``cls`` does, so
    both have the same memory layout; one trial object proves that the class switch is allowed
    and that every field reads back through ``cls``'s descriptors.
    """
    slots = cls.__dict__.get("__slots__")
    if cls.__bases__ != (object,) or not isinstance(slots, tuple) or not set(names) <= set(slots):
        return None
    twin = type(f"_{cls.__name__}Layout", (object,), {"__slots__": slots})
    probe = object.__new__(twin)
    marks = {name: object() for name in names}
    for name, mark in marks.items():
        setattr(probe, name, mark)
    try:
        probe.__class__ = cls
    except TypeError:
        return None
    if any(getattr(probe, name) is not mark for name, mark in marks.items()):
        return None
    return twin


@dataclass(frozen=True, slots=True)
class ChargesBreakdown:
    """Charges of one fill (or a sum of fills), in account currency."""

    brokerage: float = 0.0
    stt: float = 0.0
    exchange_txn: float = 0.0
    sebi: float = 0.0
    stamp_duty: float = 0.0
    gst: float = 0.0
    total: float = 0.0

    def __add__(self, other: ChargesBreakdown) -> ChargesBreakdown:
        return ChargesBreakdown(
            self.brokerage + other.brokerage,
            self.stt + other.stt,
            self.exchange_txn + other.exchange_txn,
            self.sebi + other.sebi,
            self.stamp_duty + other.stamp_duty,
            self.gst + other.gst,
            self.total + other.total,
        )

    def to_dict(self) -> dict[str, float]:
        return {
            "brokerage": self.brokerage,
            "stt": self.stt,
            "exchange_txn": self.exchange_txn,
            "sebi": self.sebi,
            "stamp_duty": self.stamp_duty,
            "gst": self.gst,
            "total": self.total,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChargesBreakdown:
        return cls(**{k: float(data.get(k, 0.0)) for k in (*COMPONENTS, "total")})


ZERO_CHARGES = ChargesBreakdown()
_breakdown = fast_constructor(ChargesBreakdown)


def round_paise(x: float) -> float:
    """Round a non-negative amount half-up to paise (float noise must not round 0.005 down)."""
    return math.floor(x * 100.0 + 0.5 + 1e-7) / 100.0


class ChargesModel(ABC):
    """Turns an executed quantity at a price into charges.

    ``compute`` is given the order's value executed *before* this fill (``prior_value``) so that
    per-order caps and rounding follow the cumulative rule in the module docstring.
    """

    kind: str = ""

    @abstractmethod
    def compute(
        self,
        side: Side | str,
        product: Product | str,
        quantity: float,
        price: float,
        prior_value: float = 0.0,
    ) -> ChargesBreakdown:
        """Return the charges of filling ``quantity`` at ``price`` as part of one order."""

    @abstractmethod
    def rate_bound(self, side: Side | str, product: Product | str) -> float:
        """Return an upper bound of charges / traded value, used to size all-in orders."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe description that ``charges_from_dict`` rebuilds."""

    def total(
        self,
        side: Side | str,
        product: Product | str,
        quantity: float,
        price: float,
    ) -> float:
        """Return the total charges of a whole order (funds checks and sizing)."""
        return self.compute(side, product, quantity, price).total

    # what rounding can add on top of ``value * rate_bound`` (per order)
    rounding_slack: float = 0.0

    def upper_bound(self, side: Side | str, product: Product | str, value: float) -> float:
        """Return a cheap number never below the charges of one order of ``value``."""
        return value * self.rate_bound(side, product) + self.rounding_slack


class ZeroCharges(ChargesModel):
    """No charges at all (tests and idealised backtests)."""

    kind = "zero"

    def compute(self, side, product, quantity, price, prior_value=0.0) -> ChargesBreakdown:
        return ZERO_CHARGES

    def rate_bound(self, side, product) -> float:
        return 0.0

    def total(self, side, product, quantity, price) -> float:
        return 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


class FlatCommission(ChargesModel):
    """A flat percentage of traded value on every fill, both sides (backtesting.py style).

    ``pct`` is in percent: ``FlatCommission(0.2)`` charges 0.2 % of value. The whole amount is
    reported as brokerage; it replaces the Indian schedule rather than adding to it. Not rounded
    (see the module docstring).
    """

    kind = "flat"
    __slots__ = ("pct", "rate")

    def __init__(self, pct: float):
        if not (pct >= 0 and math.isfinite(pct)):
            raise ValueError("pct must be a non-negative number")
        self.pct = float(pct)
        self.rate = self.pct / 100.0

    def compute(self, side, product, quantity, price, prior_value=0.0) -> ChargesBreakdown:
        c = abs(quantity) * price * self.rate
        return ChargesBreakdown(brokerage=c, total=c)

    def rate_bound(self, side, product) -> float:
        return self.rate

    def total(self, side, product, quantity, price) -> float:
        return abs(quantity) * price * self.rate

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pct": self.pct}


# Indian equity schedule (Zerodha-like, 2024). Every rate lives here and nowhere else.
# Fractions of traded value unless the key says otherwise.
INDIA_EQUITY_RATES: dict[str, Any] = {
    "CNC": {
        "brokerage_rate": 0.0,
        "brokerage_cap": 0.0,  # per executed order
        "stt_buy": 0.001,
        "stt_sell": 0.001,
        "stamp_buy": 0.00015,
    },
    "MIS": {
        "brokerage_rate": 0.0003,
        "brokerage_cap": 20.0,
        "stt_buy": 0.0,
        "stt_sell": 0.00025,
        "stamp_buy": 0.00003,
    },
    "exchange_txn": 0.0000325,  # NSE transaction charge, both sides
    "sebi_per_crore": 10.0,  # ₹10 per ₹1,00,00,000 of value, both sides
    "gst": 0.18,  # on brokerage + exchange transaction charge + SEBI fee
}
_CRORE = 10_000_000.0


def _futures_rates(*, stt_sell: float, exchange_txn: float, stamp_buy: float) -> dict[str, Any]:
    """An Indian futures schedule: 0.03 % brokerage capped at ₹20 an order, carry or intraday.

    ``CNC`` stands for the carry-forward product (NRML) here: futures charge both alike.
    """
    product = {
        "brokerage_rate": 0.0003,
        "brokerage_cap": 20.0,
        "stt_buy": 0.0,
        "stt_sell": stt_sell,
        "stamp_buy": stamp_buy,
    }
    return {
        "CNC": dict(product),
        "MIS": dict(product),
        "exchange_txn": exchange_txn,
        "sebi_per_crore": 10.0,
        "gst": 0.18,
    }


# Futures of the Indian derivative segments (Zerodha-like, from Oct 2024). Options are charged on
# premium at other rates and are not modelled: instruments carry no option/future type yet.
INDIA_FUTURES_NSE_RATES = _futures_rates(stt_sell=0.0002, exchange_txn=0.0000173, stamp_buy=0.00002)
INDIA_FUTURES_BSE_RATES = _futures_rates(stt_sell=0.0002, exchange_txn=0.0, stamp_buy=0.00002)
# currency futures pay no STT; commodity futures pay CTT (non-agri) where equity pays STT
INDIA_CURRENCY_RATES = _futures_rates(stt_sell=0.0, exchange_txn=0.0000035, stamp_buy=0.000001)
INDIA_COMMODITY_RATES = _futures_rates(stt_sell=0.0001, exchange_txn=0.000021, stamp_buy=0.00002)

# The named schedules a backtest or an exchange can ask for; ``none`` is ``ZeroCharges``.
INDIA_SCHEDULES: dict[str, dict[str, Any]] = {
    "india_equity": INDIA_EQUITY_RATES,
    "india_futures_nse": INDIA_FUTURES_NSE_RATES,
    "india_futures_bse": INDIA_FUTURES_BSE_RATES,
    "india_currency": INDIA_CURRENCY_RATES,
    "india_commodity": INDIA_COMMODITY_RATES,
}


class IndiaEquityCharges(ChargesModel):
    """Brokerage, STT, exchange transaction charge, SEBI fee, stamp duty and GST for NSE equity.

    Given another table of ``INDIA_SCHEDULES`` (same shape) it charges that segment instead.

    Components are rounded to paise on the order's cumulative value (module docstring), so the
    ₹20 MIS brokerage cap holds per order across partial fills.
    """

    kind = "india_equity"
    rounding_slack = 0.05  # six components rounded half-up to paise, plus GST on rounded parts

    def __init__(self, rates: dict[str, Any] | None = None):
        self.rates = rates or INDIA_EQUITY_RATES
        self._bounds: dict[tuple[str, str], float] = {}
        r = self.rates
        # (brokerage rate, cap, STT, exchange, SEBI, stamp, GST) per (side, product)
        self._table: dict[tuple[str, str], tuple[float, ...]] = {}
        for product in ("CNC", "MIS"):
            p = r[product]
            for side in ("BUY", "SELL"):
                self._table[(side, product)] = (
                    p["brokerage_rate"],
                    p["brokerage_cap"],
                    p["stt_buy"] if side == "BUY" else p["stt_sell"],
                    r["exchange_txn"],
                    r["sebi_per_crore"] / _CRORE,
                    p["stamp_buy"] if side == "BUY" else 0.0,
                    r["gst"],
                )

    def _cumulative(self, side: str, product: str, value: float) -> tuple[float, ...]:
        if value <= 0:
            return (0.0,) * 6
        b_rate, cap, stt_rate, ex_rate, sebi_rate, stamp_rate, gst_rate = self._table[
            (side, product)
        ]
        # half-up to paise; the 1e-7 keeps float noise (x.xx4999999) from rounding down
        b = value * b_rate
        brokerage = math.floor((cap if b > cap else b) * 100.0 + 0.5 + 1e-7) / 100.0
        stt = math.floor(value * stt_rate * 100.0 + 0.5 + 1e-7) / 100.0
        exch = math.floor(value * ex_rate * 100.0 + 0.5 + 1e-7) / 100.0
        sebi = math.floor(value * sebi_rate * 100.0 + 0.5 + 1e-7) / 100.0
        stamp = math.floor(value * stamp_rate * 100.0 + 0.5 + 1e-7) / 100.0
        gst = math.floor((brokerage + exch + sebi) * gst_rate * 100.0 + 0.5 + 1e-7) / 100.0
        return brokerage, stt, exch, sebi, stamp, gst

    def compute(self, side, product, quantity, price, prior_value=0.0) -> ChargesBreakdown:
        value = abs(quantity) * price
        after = self._cumulative(side, product, prior_value + value)
        if prior_value > 0:
            before = self._cumulative(side, product, prior_value)
            parts = [round(a - b, 2) for a, b in zip(after, before, strict=True)]
            return _breakdown(*parts, total=round(sum(parts), 2))
        b, s, e, f, st, g = after
        return _breakdown(b, s, e, f, st, g, round(b + s + e + f + st + g, 2))

    def total(self, side, product, quantity, price) -> float:
        b, s, e, f, st, g = self._cumulative(side, product, abs(quantity) * price)
        return round(b + s + e + f + st + g, 2)

    def rate_bound(self, side, product) -> float:
        bound = self._bounds.get((side, product))
        if bound is None:
            bound = self._bounds[(str(side), str(product))] = self._rate_bound(side, product)
        return bound

    def _rate_bound(self, side, product) -> float:
        r = self.rates
        p = r[str(product)]
        stt = p["stt_buy"] if str(side) == "BUY" else p["stt_sell"]
        stamp = p["stamp_buy"] if str(side) == "BUY" else 0.0
        fees = p["brokerage_rate"] + r["exchange_txn"] + r["sebi_per_crore"] / _CRORE
        return fees * (1 + r["gst"]) + stt + stamp

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.rates is not INDIA_EQUITY_RATES:
            out["rates"] = self.rates
        return out


def charges_schedule(name: str) -> ChargesModel:
    """Return the charges model of a named schedule (``INDIA_SCHEDULES`` or ``none``)."""
    if name == "none":
        return ZeroCharges()
    try:
        rates = INDIA_SCHEDULES[name]
    except KeyError:
        raise ValueError(f"unknown charges schedule {name!r}") from None
    return IndiaEquityCharges(rates)


def charges_from_dict(data: dict[str, Any]) -> ChargesModel:
    """Rebuild a charges model from ``ChargesModel.to_dict()`` output."""
    kind = data.get("kind")
    if kind == ZeroCharges.kind:
        return ZeroCharges()
    if kind == FlatCommission.kind:
        return FlatCommission(data["pct"])
    if kind == IndiaEquityCharges.kind:
        return IndiaEquityCharges(data.get("rates"))
    raise ValueError(f"unknown charges model {kind!r}")
