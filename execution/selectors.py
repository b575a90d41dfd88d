"""Reads for execution, user-scoped where rows belong to a user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

import numpy as np
from django.db.models import OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from algosaas import cache as hot
from execution.engine.bars import BarSeries
from execution.models import (
    Backtest,
    Bar,
    EquitySnapshot,
    Instrument,
    Order,
    Trade,
    TradingMode,
)
from strategies.models import Deployment

T = TypeVar("T")


def bars_available(*, instrument: Instrument, timeframe: str) -> bool:
    return Bar.objects.filter(instrument=instrument, timeframe=timeframe).exists()


INSTRUMENTS_NAMESPACE = "instruments"


def instruments_cached(*, key: str, build: Callable[[], T]) -> T:
    """One read of the shared instrument list (``key``: its query string), cached until an
    instrument is created, changed or deleted."""
    return hot.cached(INSTRUMENTS_NAMESPACE, key, build)


def bars_namespace(instrument_id: int) -> str:
    """The cache namespace of an instrument's stored bars (``algosaas.cache``)."""
    return f"bars:{instrument_id}"


def latest_close(*, instrument_id: int, timeframe: str | None = None) -> Decimal | None:
    """The last stored close of an instrument (in ``timeframe``, else any), cached until the
    next bars import for it (``execution.services.marketdata``)."""

    def build() -> Decimal | None:
        bars = Bar.objects.filter(instrument_id=instrument_id)
        if timeframe is not None:
            bars = bars.filter(timeframe=timeframe)
        return bars.order_by("-ts").values_list("close", flat=True).first()

    return hot.cached(bars_namespace(instrument_id), f"close:{timeframe or '*'}", build)


def bar_series(
    *,
    instrument: Instrument,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> BarSeries:
    """Load stored bars ``[start, end)`` as numpy arrays, oldest first."""
    qs = Bar.objects.filter(instrument=instrument, timeframe=timeframe)
    if start is not None:
        qs = qs.filter(ts__gte=start)
    if end is not None:
        qs = qs.filter(ts__lt=end)
    rows = list(qs.order_by("ts").values_list("ts", "open", "high", "low", "close", "volume"))
    if not rows:
        return BarSeries.empty()
    n = len(rows)
    cols = list(zip(*rows, strict=True))
    return BarSeries(
        ts=np.fromiter((int(t.timestamp()) for t in cols[0]), dtype=np.int64, count=n),
        open=np.fromiter(cols[1], dtype=np.float64, count=n),
        high=np.fromiter(cols[2], dtype=np.float64, count=n),
        low=np.fromiter(cols[3], dtype=np.float64, count=n),
        close=np.fromiter(cols[4], dtype=np.float64, count=n),
        volume=np.fromiter(cols[5], dtype=np.float64, count=n),
    )


def backtests_for_user(*, user) -> QuerySet[Backtest]:
    return Backtest.objects.filter(owner=user).select_related("strategy")


def backtest_get_for_user(*, user, backtest_id: int | str) -> Backtest:
    """Return the user's backtest or raise 404 — the same answer for missing and not yours."""
    try:
        return backtests_for_user(user=user).get(pk=int(backtest_id))
    except (Backtest.DoesNotExist, ValueError, TypeError):
        raise Http404("No such backtest.") from None


def deployments_for_user(*, user, pnl: bool = True) -> QuerySet[Deployment]:
    """The user's deployments; with ``pnl``, what their P&L needs in a constant number of queries.

    Writes and a run's sub-resources (orders, trades, equity) only need the row: they ask with
    ``pnl=False`` and skip two correlated subqueries and the positions prefetch.
    """
    qs = Deployment.objects.filter(strategy__owner=user).select_related(
        "strategy", "strategy__instrument"
    )
    if not pnl:
        return qs
    last_equity = EquitySnapshot.objects.filter(deployment=OuterRef("pk")).order_by("-ts")
    charges = (
        Trade.objects.filter(deployment=OuterRef("pk"))
        .values("deployment")
        .annotate(total=Sum("charges"))
        .values("total")
    )
    return (
        qs.select_related("live")
        .prefetch_related("positions")
        .annotate(
            last_equity=Subquery(last_equity.values("equity")[:1]),
            last_cash=Subquery(last_equity.values("cash")[:1]),
            total_charges=Coalesce(Subquery(charges), Value(Decimal("0"))),
        )
    )


def deployment_get_for_user(*, user, deployment_id: int | str, pnl: bool = True) -> Deployment:
    """Return the user's deployment or raise 404 — the same answer for missing and not yours."""
    try:
        return deployments_for_user(user=user, pnl=pnl).get(pk=int(deployment_id))
    except (Deployment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such deployment.") from None


def orders_for_user(*, user) -> QuerySet[Order]:
    """The user's orders, with their deployment's id columns (the API shows ``strategy``).

    The deployment's config (a JSON snapshot) is deferred: lists of orders never show it, and
    decoding it for every row of a page was wasted work.
    """
    return (
        Order.objects.filter(deployment__strategy__owner=user)
        .select_related("deployment", "instrument")
        .defer("deployment__config")
    )


def order_get_for_user(*, user, order_id: int | str) -> Order:
    """Return the user's order or raise 404 — the same answer for missing and not yours."""
    try:
        # Undeferred: a single order goes on to the services, which read its run's config.
        return orders_for_user(user=user).defer(None).get(pk=int(order_id))
    except (Order.DoesNotExist, ValueError, TypeError):
        raise Http404("No such order.") from None


def deployment_pnl(deployment: Deployment) -> dict[str, Decimal]:
    """Realised, unrealised, charges and equity of a deployment (from its annotated row)."""
    positions = list(deployment.positions.all())
    realised = sum((p.realised_pnl for p in positions), Decimal("0"))
    unrealised = sum((p.unrealised_pnl for p in positions), Decimal("0"))
    equity = getattr(deployment, "last_equity", None)
    charges = Decimal(getattr(deployment, "total_charges", 0) or 0).quantize(Decimal("0.01"))
    live = getattr(deployment, "live", None)  # None for a run without live state
    if live is not None and live.mode == TradingMode.LIVE:
        # the broker's books, now: a fill posted back since the last bar shows at once
        equity = deployment.capital + realised + unrealised - charges
    return {
        "realised_pnl": realised.quantize(Decimal("0.01")),
        "unrealised_pnl": unrealised.quantize(Decimal("0.01")),
        "charges": charges,
        "equity": (equity if equity is not None else deployment.capital),
    }
