"""Baskets: one strategy over a list of instruments (``StrategyInstrument`` members).

A member is ``{"instrument": Instrument, "allocation_pct": Decimal | None}``. The rules live
here so the API, the dashboard and the services judge a basket alike: at most
``MAX_BASKET_SIZE`` members, no instrument twice, one currency (the members share one pool of
capital), a fixed quantity in whole lots of every member. Allocation caps may add up to more
than 100 %: the capital is shared, so a member's cap bounds what it may take of it and the free
cash bounds what all take together (``execution.engine.basket``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from strategies.models import MAX_BASKET_SIZE, Strategy, StrategyInstrument

HUNDRED = Decimal("100")


# An instrument sent beside a basket that is not its first member (API and dashboard alike).
BASKET_INSTRUMENT_ERROR = "Must be the basket's first instrument (or left out)."


def _label(inst: Any) -> str:
    return f"{inst.exchange}:{inst.symbol}"


def basket_errors(
    *, members: Sequence[dict[str, Any]] | None, quantity: int | None, instrument: Any = None
) -> dict[str, list[str]]:
    """Why ``members`` is not a valid basket, by field (empty when it is, or when there is none).

    ``instrument``, when given beside a basket, must be its first member (the primary one).
    """
    if not members:
        return {}
    errors: list[str] = []
    if len(members) > MAX_BASKET_SIZE:
        errors.append(f"At most {MAX_BASKET_SIZE} instruments in a basket; got {len(members)}.")
    seen: set[int] = set()
    currency = members[0]["instrument"].currency
    for n, m in enumerate(members):
        inst = m["instrument"]
        if inst.pk in seen:
            errors.append(f"Item {n}: {_label(inst)} is in the basket twice.")
        seen.add(inst.pk)
        if inst.currency != currency:
            errors.append(
                f"Item {n}: {_label(inst)} trades in {inst.currency}, the basket in {currency};"
                " the members share one currency's capital."
            )
    out: dict[str, list[str]] = {"instruments": errors} if errors else {}
    if quantity is not None:
        bad = [m["instrument"] for m in members if quantity % m["instrument"].lot_size]
        if bad:
            lots = ", ".join(f"{_label(i)} {i.lot_size}" for i in bad[:5])
            out["quantity"] = [f"Must be a multiple of every member's lot size ({lots})."]
    if instrument is not None and instrument.pk != members[0]["instrument"].pk:
        out["instrument"] = [BASKET_INSTRUMENT_ERROR]
    return out


def effective_allocations(members: Sequence[Any]) -> list[Decimal]:
    """Each member's cap in percent of the capital: its own, else an equal split (100 / n)."""
    n = len(members)
    equal = (HUNDRED / n).quantize(Decimal("0.0001")) if n else HUNDRED
    out = []
    for m in members:
        pct = m["allocation_pct"] if isinstance(m, dict) else m.allocation_pct
        out.append(equal if pct is None else Decimal(pct))
    return out


def basket_members(strategy: Strategy) -> list[dict[str, Any]]:
    """The strategy's members in order, as the services take them."""
    return [
        {"instrument": m.instrument, "allocation_pct": m.allocation_pct}
        for m in strategy.members.select_related("instrument").order_by("position")
    ]


def basket_replace(*, strategy: Strategy, members: Sequence[dict[str, Any]]) -> None:
    """Replace the strategy's members (validated by the caller, inside its transaction)."""
    StrategyInstrument.objects.filter(strategy=strategy).delete()
    StrategyInstrument.objects.bulk_create(
        [
            StrategyInstrument(
                strategy=strategy,
                instrument=m["instrument"],
                position=n,
                allocation_pct=m.get("allocation_pct"),
            )
            for n, m in enumerate(members)
        ]
    )


def _same(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> bool:
    def key(ms: Sequence[dict[str, Any]]) -> list[tuple[int, Decimal | None]]:
        return [
            (m["instrument"].pk, None if m.get("allocation_pct") is None else m["allocation_pct"])
            for m in ms
        ]

    return key(a) == key(b)


def members_changed(strategy: Strategy, members: Sequence[dict[str, Any]]) -> bool:
    """Whether ``members`` differs from the strategy's basket (instruments, order or caps)."""
    return not _same(basket_members(strategy), members)


def basket_snapshot(strategy: Strategy) -> list[dict[str, Any]]:
    """The members as a deployment or backtest freezes them, with each member's effective cap."""
    members = basket_members(strategy)
    caps = effective_allocations(members)
    return [
        {
            "id": m["instrument"].pk,
            "exchange": m["instrument"].exchange,
            "symbol": m["instrument"].symbol,
            "tick_size": str(m["instrument"].tick_size),
            "lot_size": m["instrument"].lot_size,
            "currency": m["instrument"].currency,
            "allocation_pct": str(cap),
        }
        for m, cap in zip(members, caps, strict=True)
    ]
