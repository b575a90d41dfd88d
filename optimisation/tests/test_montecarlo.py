"""Monte Carlo of trade sequences (numpy only): seeds, exact shuffles, percentiles, ruin."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from optimisation.montecarlo import monte_carlo, simulate, to_paise

RNG = np.random.default_rng(7)
PNL = [Decimal(str(round(float(x), 2))) for x in RNG.normal(15, 400, 250)]


def test_the_same_seed_gives_the_same_report_and_another_seed_does_not():
    for method in ("shuffle", "bootstrap"):
        a = monte_carlo(pnl=PNL, capital=Decimal("50000"), paths=2500, seed=11, method=method)
        b = monte_carlo(pnl=PNL, capital=Decimal("50000"), paths=2500, seed=11, method=method)
        c = monte_carlo(pnl=PNL, capital=Decimal("50000"), paths=2500, seed=12, method=method)
        assert a == b
        assert a["max_drawdown_pct"] != c["max_drawdown_pct"]


def test_a_shuffle_keeps_final_equity_exactly_while_the_drawdown_varies():
    paths = simulate(
        pnl_paise=to_paise(PNL),
        capital_paise=5_000_000,
        paths=5000,  # more than one batch (4,000 paths of 250 trades)
        seed=3,
        method="shuffle",
        ruin_paise=0,
    )
    expected = (5_000_000 + sum(int(p * 100) for p in PNL)) / 100
    assert np.all(paths.final_equity == expected)  # to the paisa, on every path
    assert len(np.unique(paths.max_drawdown_pct)) > 100
    report = monte_carlo(pnl=PNL, capital=Decimal("50000"), paths=3000, seed=3)
    assert set(report["final_equity"].values()) == {expected}
    assert report["original_final_equity"] == expected
    dd = report["max_drawdown_pct"]
    assert dd["p5"] < dd["p95"]


def test_a_bootstrap_varies_final_equity():
    report = monte_carlo(pnl=PNL, capital=Decimal("50000"), paths=2000, seed=5, method="bootstrap")
    assert report["final_equity"]["p5"] < report["final_equity"]["p95"]


@pytest.mark.parametrize("method", ["shuffle", "bootstrap"])
def test_percentiles_are_monotone(method):
    report = monte_carlo(pnl=PNL, capital=Decimal("20000"), paths=1500, seed=1, method=method)
    for figure in ("final_equity", "max_drawdown_pct"):
        values = [report[figure][k] for k in ("p5", "p25", "p50", "p75", "p95")]
        assert values == sorted(values)
    assert sum(report["final_equity_histogram"]["counts"]) == 1500


@pytest.mark.parametrize("method", ["shuffle", "bootstrap"])
def test_all_winning_trades_never_ruin_and_never_draw_down(method):
    report = monte_carlo(
        pnl=[Decimal("10.50"), Decimal("3"), Decimal("120.25")],
        capital=Decimal("1000"),
        paths=500,
        seed=0,
        method=method,
        ruin_equity_pct=99.9,
    )
    assert report["probability_of_ruin"] == 0.0
    assert set(report["max_drawdown_pct"].values()) == {0.0}


@pytest.mark.parametrize("method", ["shuffle", "bootstrap"])
def test_every_path_ruins_when_every_trade_loses_past_the_level(method):
    report = monte_carlo(
        pnl=[Decimal("-300"), Decimal("-250.5"), Decimal("-100")],
        capital=Decimal("1000"),
        paths=500,
        seed=0,
        method=method,
        ruin_equity_pct=80.0,  # any one trade already takes the account below 800
    )
    assert report["probability_of_ruin"] == 1.0


def test_ruin_counts_the_paths_whose_low_point_crosses_the_level():
    # two trades, -600 then +700 or +700 then -600: only the first order dips below 500
    report = monte_carlo(
        pnl=[Decimal("-600"), Decimal("700")],
        capital=Decimal("1000"),
        paths=4000,
        seed=9,
        ruin_equity_pct=50.0,
    )
    assert report["probability_of_ruin"] == pytest.approx(0.5, abs=0.03)
    assert report["final_equity"]["p50"] == 1100.0


def test_a_backtest_without_trades_stays_at_its_capital():
    report = monte_carlo(pnl=[], capital=Decimal("1000"), paths=50, seed=0, method="bootstrap")
    assert set(report["final_equity"].values()) == {1000.0}
    assert set(report["max_drawdown_pct"].values()) == {0.0}
    assert report["probability_of_ruin"] == 0.0 and report["trades"] == 0
