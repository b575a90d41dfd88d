"""Ticks to one-minute bars: OHLCV, minute boundaries, owed minutes, and one row under a race."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.db import connection

from execution.marketdata.minutebars import MinuteAggregator, MinuteBar, Tick
from execution.models import Bar, Instrument
from execution.services.broker_data import minute_bars_write

M = 1_796_000_040  # a minute boundary (epoch seconds)
T = 7


def _agg(connected_at: float = M - 90) -> MinuteAggregator:
    agg = MinuteAggregator(grace=2.0)
    agg.connected(connected_at, [T])
    agg.on_ticks([Tick(T, M - 61, D("99"), 500)])  # the volume before minute M-60 is known
    return agg


def test_ohlcv_and_boundaries():
    agg = _agg()
    ticks = [
        Tick(T, M - 60, D("100"), 510),  # exactly on the boundary: minute M-60 opens
        Tick(T, M - 30, D("103"), 540),
        Tick(T, M - 10, D("98"), 600),
        Tick(T, M - 0.001, D("101"), 650),  # the last instant of the minute still belongs to it
    ]
    assert agg.on_ticks(ticks) == []  # nothing closes until the minute is over
    done = agg.on_ticks([Tick(T, M, D("102"), 655)])  # exactly M opens the next minute
    assert done == [MinuteBar(T, M - 60, D("100"), D("103"), D("98"), D("101"), 150)]
    # the next bar closes on the clock: not before its end plus the grace, then once
    assert agg.flush(M + 61) == []
    assert agg.flush(M + 62) == [MinuteBar(T, M, D("102"), D("102"), D("102"), D("102"), 5)]
    assert agg.flush(M + 200) == []


def test_a_late_tick_never_reopens_a_closed_minute():
    agg = _agg()
    agg.on_ticks([Tick(T, M - 30, D("100"), 510)])
    agg.on_ticks([Tick(T, M + 5, D("101"), 520)])
    assert agg.on_ticks([Tick(T, M - 1, D("50"), 530)]) == []
    assert agg.late_ticks == 1
    assert agg.building[T].low == D("101")


def test_volume_restarts_with_the_exchange_day():
    agg = _agg()
    day_end = (M // 86400 + 1) * 86400
    agg.on_ticks([Tick(T, day_end - 30, D("100"), 90_000)])
    done = agg.on_ticks([Tick(T, day_end + 5, D("100"), 40)])
    assert done[0].volume == 90_000 - 500
    done = agg.on_ticks([Tick(T, day_end + 65, D("100"), 70)])
    assert done[0].volume == 40  # the new day's count started at zero


def test_minutes_not_watched_whole_are_owed_to_history():
    agg = MinuteAggregator()
    agg.connected(M + 15, [T])  # connected mid-minute: minute M is owed
    assert agg.on_ticks([Tick(T, M + 20, D("100"), 10)]) == []
    agg.on_ticks([Tick(T, M + 70, D("101"), 20)])
    assert agg.building[T].start == M + 60 and agg.building[T].whole  # watched from its start
    agg.disconnected(M + 100)  # drop mid-bar: M+60 owed, and nothing emitted for it
    assert agg.flush(M + 1000) == []
    agg.connected(M + 250, [T])  # the outage spans M+60 .. M+240
    assert agg.owed_due(M + 300) == {T: [M, M + 60, M + 120, M + 180, M + 240]}
    agg.settle(T, [M, M + 60])
    assert agg.owed_due(M + 300) == {T: [M + 120, M + 180, M + 240]}
    assert agg.owed_due(M + 200) == {T: [M + 120]}  # only minutes that have ended


def _bars(inst, n):
    return [
        (inst, MinuteBar(0, M + 60 * i, D("10"), D("11"), D("9"), D("10.5"), 100 + i))
        for i in range(n)
    ]


@pytest.mark.django_db(transaction=True)
def test_two_writers_racing_store_each_minute_once():
    inst = Instrument.objects.create(exchange="NSE", symbol="RACE", kite_token=999_001)
    start = threading.Barrier(2)
    added, errors = [], []

    def writer():
        try:
            start.wait(5)
            added.append(minute_bars_write(_bars(inst, 40)))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sum(added) == 40  # between them, every minute stored exactly once
    rows = Bar.objects.filter(instrument=inst, timeframe="1m").order_by("ts")
    assert rows.count() == 40
    assert rows.first().ts == datetime.fromtimestamp(M, tz=UTC) and rows.first().volume == 100
    assert minute_bars_write(_bars(inst, 40)) == 0  # and a re-run adds nothing
