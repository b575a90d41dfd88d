"""Reads for execution, user-scoped where rows belong to a user."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from django.db.models import QuerySet
from django.http import Http404

from execution.engine.bars import BarSeries
from execution.models import Backtest, Bar, Instrument


def bars_available(*, instrument: Instrument, timeframe: str) -> bool:
    return Bar.objects.filter(instrument=instrument, timeframe=timeframe).exists()


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
