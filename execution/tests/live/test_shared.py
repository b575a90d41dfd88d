"""A step batch shares bars and signals between deployments on one series, and each still gets
exactly the rows it would get stepped on its own."""

from __future__ import annotations

import numpy as np
import pytest

from execution.engine.session import calendar_for
from execution.marketdata.sources import SyntheticSource
from execution.models import EquitySnapshot, Order
from execution.services.live import deployments_step
from execution.services.live_shared import SharedBars
from execution.tests.live.conftest import at, deploy, make_strategy, rewind

pytestmark = pytest.mark.django_db

NOW = 1_767_600_000  # a Monday, 07:50 UTC: inside NSE's session


@pytest.mark.parametrize("calendar", [None, calendar_for("NSE", squareoff="15:20")])
def test_a_shared_window_is_bit_for_bit_the_source_s_own(calendar):
    source = SyntheticSource("NSE:RELIANCE", 60, 0.05, calendar)
    starts = [NOW - 3 * 86_400, NOW - 86_400 + 7, NOW - 3_600, NOW - 60]
    shared = SharedBars()
    for since in starts:
        shared.want(source, since, NOW)

    for since in starts:
        got, key = shared.closed_bars(source, since_ts=since, now_ts=NOW)
        own = source.closed_bars(since_ts=since, now_ts=NOW)
        assert key is not None
        for name in ("ts", "open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(got, name), getattr(own, name)), name


def test_shared_bars_are_read_only_and_an_unannounced_window_is_its_own():
    source = SyntheticSource("NSE:TCS", 60, 0.05)
    shared = SharedBars()
    shared.want(source, NOW - 600, NOW)

    bars, _ = shared.closed_bars(source, since_ts=NOW - 300, now_ts=NOW)
    with pytest.raises(ValueError):
        bars.close[0] = 1.0  # another deployment's bars must never change under it
    earlier, key = shared.closed_bars(source, since_ts=NOW - 1_200, now_ts=NOW)
    assert key is None  # wider than announced: generated for itself, not shared
    assert len(earlier) == 20 and earlier.ts[0] == NOW - 1_200


def _rows(deployment):
    equity = list(
        EquitySnapshot.objects.filter(deployment=deployment)
        .order_by("ts")
        .values_list("ts", "cash", "equity")
    )
    orders = list(
        Order.objects.filter(deployment=deployment)
        .order_by("created_at", "client_order_id")
        .values_list("side", "status", "filled_quantity", "average_price", "created_at")
    )
    return equity, orders


def test_deployments_stepped_together_get_the_rows_each_gets_alone(user):
    # Runs of one strategy on one instrument: two stepped in a batch with a third that started
    # earlier (the shared series starts at its first bar, theirs are slices), one stepped alone.
    together = [deploy(make_strategy(user, name=f"together {i}")) for i in range(2)]
    earlier = deploy(make_strategy(user, name="earlier"))
    alone = deploy(make_strategy(user, name="alone"))
    for d in [*together, alone]:
        rewind(d, 40)
    rewind(earlier, 60)
    now = at(alone, 40)

    deployments_step(deployment_ids=[earlier.pk, *(d.pk for d in together)], now=now)
    deployments_step(deployment_ids=[alone.pk], now=now)

    expected = _rows(alone)
    assert len(expected[0]) >= 40 and expected[1]  # it traded: the comparison means something
    for d in together:
        assert _rows(d) == expected
