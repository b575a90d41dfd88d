"""The synthetic feed: a pure, seeded function of (instrument, seed, interval, bar time)."""

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.engine import indicators as ind
from execution.engine.feeds import SyntheticBar, synthetic_bar_at, synthetic_bars

T0 = 1_700_000_040  # a multiple of 60 (2023-11-14 22:14 UTC)


def bars(**kw):
    args = {"instrument_key": "NSE:RELIANCE", "interval_s": 60, "start_ts": T0}
    args.update(kw)
    args.setdefault("end_ts", args["start_ts"] + 500 * args["interval_s"])
    return synthetic_bars(**args)


def as_rows(b):
    return list(zip(b.ts.tolist(), b.open, b.high, b.low, b.close, b.volume, strict=True))


def test_golden_bars_never_change():
    # Deployments and backtests rely on yesterday's synthetic bars staying what they were:
    # changing the generator is a data migration, not a refactor.
    assert synthetic_bar_at(instrument_key="NSE:RELIANCE", interval_s=60, ts=T0) == SyntheticBar(
        ts=1700000040, open=1883.8, high=1884.15, low=1883.4, close=1883.75, volume=855.0
    )
    assert synthetic_bar_at(
        instrument_key="NSE:RELIANCE", interval_s=1, ts=T0, seed=7, tick_size=0.01, base_price=250
    ) == SyntheticBar(ts=1700000040, open=302.2, high=302.22, low=302.19, close=302.21, volume=74.0)


def test_same_call_same_bars():
    assert as_rows(bars()) == as_rows(bars())


@pytest.mark.parametrize("interval", [1, 5, 60, 300, 3600, 86400])
def test_single_bar_equals_bar_inside_a_long_range(interval):
    b = bars(interval_s=interval, start_ts=T0 - T0 % interval, end_ts=T0 + 2000 * interval)
    for i in (0, 1, 999, len(b) - 1):
        one = synthetic_bar_at(instrument_key="NSE:RELIANCE", interval_s=interval, ts=int(b.ts[i]))
        assert one == SyntheticBar(
            int(b.ts[i]), b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i]
        )


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([1, 2, 15, 60, 300, 900, 86400]),
    st.integers(-(2**34), 2**36),
    st.integers(1, 400),
    st.integers(0, 400),
)
def test_any_sub_range_gives_bit_identical_bars(interval, start, n, offset):
    start = start - start % interval
    whole = bars(interval_s=interval, start_ts=start, end_ts=start + (n + offset) * interval)
    part = bars(
        interval_s=interval,
        start_ts=start + offset * interval,
        end_ts=start + (n + offset) * interval,
    )
    assert as_rows(part) == as_rows(whole.slice(offset))


def test_bar_far_in_the_future_and_past():
    for ts in (2**40, -(2**31), 0):
        bar = synthetic_bar_at(instrument_key="X", interval_s=60, ts=ts)
        assert bar.ts == ts - ts % 60
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high


def test_bar_at_floors_to_the_interval():
    a = synthetic_bar_at(instrument_key="X", interval_s=60, ts=T0 + 59)
    assert a == synthetic_bar_at(instrument_key="X", interval_s=60, ts=T0)
    assert a.ts == T0


def test_keys_and_seeds_differ():
    base = bars()
    assert not np.array_equal(base.close, bars(instrument_key="NSE:TCS").close)
    assert not np.array_equal(base.close, bars(instrument_key="nse:reliance").close)
    assert not np.array_equal(base.close, bars(seed=1).close)


@pytest.mark.parametrize("interval", [1, 60, 3600, 86400])
def test_ohlc_consistency_and_connection(interval):
    b = bars(interval_s=interval, start_ts=T0 - T0 % interval, end_ts=T0 + 5000 * interval)
    assert np.all(b.high >= np.maximum(b.open, b.close))
    assert np.all(b.low <= np.minimum(b.open, b.close))
    assert np.all(b.low > 0)
    assert np.all(b.volume >= 1) and np.all(b.volume == np.rint(b.volume))
    # Consecutive bars connect: each open is the previous close.
    np.testing.assert_array_equal(b.open[1:], b.close[:-1])
    assert b.high.dtype == np.float64 and b.ts.dtype == np.int64


@pytest.mark.parametrize(
    ("tick", "base"), [(0.05, 1000.0), (0.01, 50.0), (0.5, 20000.0), (1.0, 5000.0), (0.0025, 3.0)]
)
def test_prices_on_the_tick_grid(tick, base):
    b = bars(tick_size=tick, base_price=base, end_ts=T0 + 2000 * 60)
    step = Decimal(repr(tick))
    for arr in (b.open, b.high, b.low, b.close):
        for price in arr.tolist():
            assert Decimal(repr(price)) % step == 0, price
    assert 0.2 * base < float(np.median(b.close)) < 5 * base


def test_alignment_and_half_open_range():
    b = bars(start_ts=T0 + 1, end_ts=T0 + 601)
    assert b.ts.tolist() == [T0 + 60 * k for k in range(1, 11)]
    b = bars(start_ts=T0, end_ts=T0 + 600)
    assert b.ts[0] == T0 and b.ts[-1] == T0 + 540 and len(b) == 10
    assert len(bars(start_ts=T0, end_ts=T0)) == 0
    assert len(bars(start_ts=T0, end_ts=T0 - 600)) == 0
    assert len(bars(start_ts=T0 + 1, end_ts=T0 + 59)) == 0


def test_intervals_agree_at_shared_boundaries():
    five = bars(interval_s=300, start_ts=T0 - T0 % 300, end_ts=T0 - T0 % 300 + 300 * 100)
    one = bars(interval_s=60, start_ts=int(five.ts[0]), end_ts=int(five.ts[-1]) + 300)
    np.testing.assert_array_equal(five.open, one.open[::5])
    np.testing.assert_array_equal(five.close, one.close[4::5])


def test_behaves_like_a_market():
    b = bars(end_ts=T0 + 20_000 * 60)
    returns = np.diff(np.log(b.close))
    assert 0.05 < returns.std() * np.sqrt(365 * 1440) < 1.0  # annualised volatility
    assert np.mean(b.close[1:] != b.close[:-1]) > 0.5  # the price moves most minutes
    crosses = ind.crosses_above(ind.sma(b.close, 10), ind.sma(b.close, 20)).sum()
    assert 100 < crosses < 2000  # golden crosses at a believable rate, ~1 per 40 bars
    assert np.mean(b.high - b.low) > np.mean(np.abs(b.close - b.open))


@pytest.mark.parametrize(
    "kw",
    [
        {"interval_s": 0},
        {"interval_s": -60},
        {"interval_s": 1.5},
        {"interval_s": True},
        {"tick_size": 0},
        {"base_price": -1.0},
    ],
)
def test_invalid_arguments(kw):
    with pytest.raises(ValueError):
        bars(**{"end_ts": T0 + 600, **kw})
