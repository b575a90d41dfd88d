"""The synthetic feed's "NSE hours" mode: bars only in NSE sessions; around the clock otherwise."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from execution.engine.session import calendar_for
from execution.marketdata.sources import SyntheticSource
from execution.models import EquitySnapshot, Feed
from execution.services.live import deployment_step
from execution.tests.live.conftest import deploy, live_of, make_strategy

IST = ZoneInfo("Asia/Kolkata")
NSE = calendar_for("NSE")


def ist(d: int, h: int, mi: int) -> int:
    return int(datetime(2026, 12, d, h, mi, tzinfo=IST).timestamp())


def source(calendar):
    return SyntheticSource("NSE:RELIANCE", 60, 0.05, calendar=calendar)


def test_nse_hours_has_bars_only_in_sessions():
    # Thu 24 Dec 15:00 IST .. Mon 28 Dec 09:20 IST, over Christmas and a weekend
    bars = source(NSE).closed_bars(since_ts=ist(24, 15, 0), now_ts=ist(28, 9, 20))
    assert [int(t) for t in bars.ts] == [
        *range(ist(24, 15, 0), ist(24, 15, 30), 60),
        *range(ist(28, 9, 15), ist(28, 9, 20), 60),  # the 09:19 bar closes at 09:20
    ]
    # around the clock, the same bars are there, with every other minute
    everything = source(None).closed_bars(since_ts=ist(24, 15, 0), now_ts=ist(28, 9, 20))
    assert len(everything) == (ist(28, 9, 20) - ist(24, 15, 0)) // 60
    assert set(bars.close) <= set(everything.close)


def test_after_the_close_the_next_bar_is_the_next_sessions_first():
    assert source(NSE).next_close_after(ist(24, 15, 29)) == ist(28, 9, 16)
    assert source(None).next_close_after(ist(24, 15, 29)) == ist(24, 15, 31)


@pytest.mark.django_db
def test_an_nse_hours_deployment_steps_only_in_session(user):
    strategy = make_strategy(user, timeframe="1m")
    deployment = deploy(strategy, feed=Feed.NSE_HOURS)
    live = live_of(deployment)
    assert live.feed == Feed.NSE_HOURS
    assert live.engine_config["calendar"]["squareoff"] == "15:20"

    now = int(timezone.now().timestamp())
    opened = NSE.next_open(now)
    deployment_step(deployment_id=deployment.pk, now=datetime.fromtimestamp(opened + 600, IST))
    snaps = list(EquitySnapshot.objects.filter(deployment=deployment))
    assert snaps, "ten minutes into a session some bars have closed"
    assert all(NSE.is_open(int(s.ts.timestamp())) for s in snaps)

    after_close = NSE.next_close(opened) + 3600
    deployment_step(deployment_id=deployment.pk, now=datetime.fromtimestamp(after_close, IST))
    live = live_of(deployment)
    # nothing closes before the next session's first bar: the dispatcher waits for it
    assert live.next_due_at == datetime.fromtimestamp(NSE.next_open(after_close), IST) + timedelta(
        minutes=1
    )
