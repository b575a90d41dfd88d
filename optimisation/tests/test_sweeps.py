"""Sweeps through the service and the (synchronous) job: results, once-only writes, cancel."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from execution.engine.runner import Engine
from execution.models import BacktestStatus
from execution.services.backtests import backtest_request
from optimisation import services
from optimisation.models import ChunkStatus, SweepChunk, SweepResult, SweepStatus
from optimisation.runner import run_chunk, run_params
from optimisation.services import sweep_cancel, sweep_chunk_run, sweep_request
from optimisation.space import chunk_sizes, params_key
from optimisation.tests.conftest import REFERENCE_COSTS
from strategies import catalog
from strategies.models import Strategy

pytestmark = pytest.mark.django_db

WINDOW = {"start": date(2006, 1, 1), "end": date(2009, 12, 31)}


def test_grid_results_equal_single_backtests_bit_for_bit(
    user, goog_strategy, sweep_run, settings, django_capture_on_commit_callbacks
):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 4}
    space = {"fast": {"start": 5, "stop": 15, "step": 5}, "slow": [10, 30], "mode": ["long_short"]}
    sweep = sweep_run(goog_strategy, space=space, **WINDOW, **REFERENCE_COSTS)

    assert sweep.status == SweepStatus.COMPLETE, sweep.error
    # fast 10 and 15 against slow 10 break fast < slow: skipped and counted, never run
    assert (sweep.total, sweep.skipped, sweep.done) == (4, 2, 4)
    assert sweep.chunks_total == sweep.chunks_done == 1
    results = {r.key: r for r in sweep.results.all()}
    assert len(results) == 4
    for params in ({"fast": 5, "slow": 10}, {"fast": 5, "slow": 30}, {"fast": 15, "slow": 30}):
        full = {**params, "mode": "long_short"}
        Strategy.objects.filter(pk=goog_strategy.pk).update(params=full)
        goog_strategy.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            bt = backtest_request(strategy=goog_strategy, user=user, **WINDOW, **REFERENCE_COSTS)
        bt.refresh_from_db()
        assert bt.status == BacktestStatus.COMPLETE, bt.error
        assert results[params_key(full)].stats == bt.stats
        assert results[params_key(full)].value == bt.stats["total_return_pct"]
    best = max(results.values(), key=lambda r: r.value)
    assert (sweep.best_params, sweep.best_value) == (best.params, best.value)


def test_chunks_of_one_sweep_in_one_worker_share_its_bars_and_stay_bit_for_bit(
    user, goog_strategy, sweep_run, settings, monkeypatch
):
    """A worker loads a sweep's bars once for all its chunks, and the indicator series carried
    from chunk to chunk change nothing: every result equals the set's own chunk-of-one run."""
    services._WORKER_CACHE.clear()
    loads = []
    real = services._bars_and_config
    monkeypatch.setattr(
        services, "_bars_and_config", lambda sweep: loads.append(sweep.pk) or real(sweep)
    )
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 2}
    space = {"fast": [5, 10, 15], "slow": [20, 40], "mode": ["long_short"]}
    sweep = sweep_run(goog_strategy, space=space, **WINDOW, **REFERENCE_COSTS)

    assert sweep.status == SweepStatus.COMPLETE, sweep.error
    assert (sweep.chunks_total, loads) == (3, [sweep.pk])
    bars, config = real(sweep)  # fresh, outside any memo: each set run alone
    stype = catalog.get("sma_crossover")
    results = {r.key: r.stats for r in sweep.results.all()}
    assert len(results) == 6
    for f in (5, 10, 15):
        for s in (20, 40):
            params = {"fast": f, "slow": s, "mode": "long_short"}
            alone = run_params(bars=bars, config=config, stype=stype, params=params)
            assert results[params_key(params)] == alone
    # the cached bars are read-only: no chunk can alter what the next one replays
    assert not services._WORKER_CACHE["bars"].close.flags.writeable


def test_memoised_indicators_leave_every_equity_curve_bitwise_equal(goog_strategy, user):
    """The chunk's shared indicator series change nothing: same equity, bar for bar, bit for bit."""
    sweep = sweep_request(
        strategy=goog_strategy, user=user, space={"fast": [5, 10], "slow": [20, 40]}, **WINDOW
    )
    bars, config = services._bars_and_config(sweep)
    stype = catalog.get("sma_crossover")
    sets = [{"fast": f, "slow": s, "mode": "long_short"} for f in (5, 10) for s in (20, 40)]
    outcomes = run_chunk(bars=bars, config=config, stype=stype, param_sets=sets, objective="return")
    for params, outcome in zip(sets, outcomes, strict=True):
        alone = Engine(config, stype, params).run(bars)
        assert outcome.stats["final_equity"] == round(float(alone.equity.equity[-1]), 2)
        assert outcome.stats["trades"] == len(alone.trades)
    # and the memo really shares: inside one chunk, SMA(20) is one array for both fast values
    from execution.engine.indicators import indicator_memo, sma

    with indicator_memo():
        assert sma(bars.close, 20) is sma(bars.close, 20)
    assert np.array_equal(sma(bars.close, 20), sma(bars.close, 20), equal_nan=True)


def test_a_chunk_run_twice_writes_its_results_once(goog_strategy, user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 2}
    # no on_commit capture: the chunks are queued, not run, until this test runs them
    sweep = sweep_request(
        strategy=goog_strategy, user=user, space={"fast": [5, 10], "slow": [20, 40]}, **WINDOW
    )
    first, second = SweepChunk.objects.filter(sweep=sweep).order_by("seq")
    # attempt 1 claims the chunk and computes, then hangs before recording (a stalled worker)
    stalled = services._start(first.pk)
    bars, config = services._bars_and_config(sweep)
    late = run_chunk(
        bars=bars,
        config=config,
        stype=catalog.get("sma_crossover"),
        param_sets=stalled.params,
        objective="return",
    )
    # the broker delivers the task again; attempt 2 runs and records it
    assert sweep_chunk_run(chunk_id=first.pk) == "done"
    # a third delivery finds the chunk done
    assert sweep_chunk_run(chunk_id=first.pk) == "skipped"
    # attempt 1 wakes up: its record finds the chunk done and writes nothing
    assert services._record(stalled, late, refused=0, seconds=0.0) == "skipped"
    sweep.refresh_from_db()
    assert SweepResult.objects.filter(sweep=sweep).count() == sweep.done == 2
    assert SweepChunk.objects.get(pk=first.pk).attempts == 2
    assert sweep_chunk_run(chunk_id=second.pk) == "done"
    sweep.refresh_from_db()
    assert SweepResult.objects.filter(sweep=sweep).count() == 4
    assert sweep.status == SweepStatus.COMPLETE
    keys = set(SweepResult.objects.filter(sweep=sweep).values_list("key", flat=True))
    assert keys == {
        params_key({"fast": f, "slow": s, "mode": "long_short"}) for f in (5, 10) for s in (20, 40)
    }


def test_cancel_stops_the_remaining_chunks(goog_strategy, user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 1}
    sweep = sweep_request(
        strategy=goog_strategy, user=user, space={"fast": [5, 10], "slow": [20, 40]}, **WINDOW
    )
    chunks = list(SweepChunk.objects.filter(sweep=sweep).order_by("seq"))
    assert sweep_chunk_run(chunk_id=chunks[0].pk) == "done"
    sweep_cancel(sweep=sweep)
    assert [sweep_chunk_run(chunk_id=c.pk) for c in chunks[1:]] == ["skipped"] * 3
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.CANCELLED
    assert (sweep.done, sweep.results.count()) == (1, 1)
    assert set(SweepChunk.objects.filter(sweep=sweep).values_list("status", flat=True)) == {
        ChunkStatus.DONE,
        ChunkStatus.CANCELLED,
    }
    with pytest.raises(services.SweepConflict):
        sweep_cancel(sweep=sweep)


def test_random_sample_is_seeded_and_within_the_valid_grid(goog_strategy, sweep_run):
    space = {
        "fast": {"start": 5, "stop": 30, "step": 5},
        "slow": {"start": 10, "stop": 60, "step": 10},
    }
    a = sweep_run(goog_strategy, space=space, method="random", samples=5, seed=7, **WINDOW)
    b = sweep_run(goog_strategy, space=space, method="random", samples=5, seed=7, **WINDOW)
    keys_a = sorted(a.results.values_list("key", flat=True))
    assert a.status == b.status == SweepStatus.COMPLETE
    assert len(keys_a) == 5 and keys_a == sorted(b.results.values_list("key", flat=True))
    assert all(r.params["fast"] < r.params["slow"] for r in a.results.all())


@pytest.mark.parametrize("stype", catalog.registry._TYPES, ids=lambda t: t.key)
def test_every_strategy_type_runs_under_the_memo_as_alone(stype):
    """No strategy type writes into an indicator array it was handed (the memo's are read-only),
    and a chunk's second, identical set reads the shared series and gets the same result."""
    from execution.engine.charges import ZeroCharges
    from execution.engine.config import EngineConfig, InstrumentSpec
    from execution.engine.feeds import synthetic_bars
    from execution.engine.runner import run_backtest
    from execution.engine.stats import compute_stats

    t0 = 1_704_067_200
    bars = synthetic_bars(
        instrument_key="T:MEMO", interval_s=60, start_ts=t0, end_ts=t0 + 60 * 3000, tick_size=0.05
    )
    config = EngineConfig(
        instrument=InstrumentSpec(symbol="MEMO", exchange="T", tick_size=0.05, lot_size=1),
        starting_capital=1e6,
        quantity=None,
        allocation_pct=100.0,
        charges=ZeroCharges(),
    )
    params = stype.validate_params(stype.defaults())
    first, second = run_chunk(
        bars=bars, config=config, stype=stype, param_sets=[params, dict(params)], objective="return"
    )
    alone = run_backtest(config, stype, params, bars)
    expected = compute_stats(
        equity=alone.equity.equity,
        ts=alone.equity.ts,
        position=alone.equity.position,
        trades=alone.trades,
        starting_capital=1e6,
        total_charges=alone.state.ledger.total_charges,
    )
    assert first.stats == second.stats == expected
    assert expected["trades"] > 0


def test_chunk_sizes_taper_towards_the_end_and_cover_every_set():
    sizes = chunk_sizes(1000, 50, smallest=10, workers=4)
    assert sum(sizes) == 1000
    assert sizes[0] == 50 and max(sizes) == 50
    assert sizes[:-1] == sorted(sizes[:-1], reverse=True)  # never bigger again
    assert sizes[-2] == 10 and sizes[-1] <= 10  # the last to start are the small ones
    assert len(sizes) < 1000 // 10  # big chunks while plenty is left
    # at or below the smallest size there is nothing to taper: chunks as before
    assert chunk_sizes(100, 5, smallest=5, workers=4) == [5] * 20
    assert chunk_sizes(7, 2, smallest=2, workers=1) == [2, 2, 2, 1]


def test_a_tapered_sweep_runs_every_set_once_in_grid_order(goog_strategy, sweep_run, settings):
    settings.ALGOSAAS = {
        **settings.ALGOSAAS,
        "SWEEP_CHUNK_SIZE": 4,
        "SWEEP_CHUNK_MIN": 1,
        "SWEEP_TAPER_WORKERS": 1,
    }
    space = {"fast": [5, 10, 15], "slow": [20, 30, 40], "mode": ["long_short"]}
    sweep = sweep_run(goog_strategy, space=space, **WINDOW)

    assert sweep.status == SweepStatus.COMPLETE, sweep.error
    chunks = list(SweepChunk.objects.filter(sweep=sweep).order_by("seq"))
    assert [len(c.params) for c in chunks] == [4, 3, 1, 1]
    assert (sweep.chunks_total, sweep.chunks_done, sweep.done) == (4, 4, 9)
    grid, _ = services.sweep_space(sweep).grid()
    assert [p for c in chunks for p in c.params] == grid
    results = SweepResult.objects.filter(sweep=sweep)
    assert sorted(results.values_list("key", flat=True)) == sorted(map(params_key, grid))
    best = max(results, key=lambda r: r.value)
    assert (sweep.best_params, sweep.best_value) == (best.params, best.value)


def test_a_chunk_finishing_after_cancel_writes_nothing(goog_strategy, user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 2}
    sweep = sweep_request(
        strategy=goog_strategy, user=user, space={"fast": [5, 10], "slow": [20, 40]}, **WINDOW
    )
    first = SweepChunk.objects.filter(sweep=sweep).order_by("seq").first()
    running = services._start(first.pk)
    bars, config = services._bars_and_config(sweep)
    outcomes = run_chunk(
        bars=bars,
        config=config,
        stype=catalog.get("sma_crossover"),
        param_sets=running.params,
        objective="return",
    )
    sweep_cancel(sweep=sweep)
    # the sweep was cancelled while the chunk ran: its record finds no running sweep
    assert services._record(running, outcomes, refused=0, seconds=0.0) == "skipped"
    sweep.refresh_from_db()
    assert (sweep.status, sweep.done, sweep.chunks_done) == (SweepStatus.CANCELLED, 0, 0)
    assert not SweepResult.objects.filter(sweep=sweep).exists()
    assert set(SweepChunk.objects.filter(sweep=sweep).values_list("status", flat=True)) == {
        ChunkStatus.CANCELLED
    }
