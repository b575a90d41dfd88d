"""Basket backtests through the service: N members equal N single backtests when the capital is
not binding (same trades, same per-instrument P&L, total = sum), stored per member."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import pytest

from execution.models import Backtest, BacktestStatus, Instrument
from execution.services.backtest_baskets import MEMBER_CURVE_POINTS
from execution.services.backtests import backtest_request
from strategies.services import strategy_create
from strategies.tests.factories import ensure_seeded_instruments

SYMBOLS = ["INFY", "TCS", "HDFCBANK"]
WINDOW = {"start": date(2021, 1, 1), "end": date(2023, 6, 30)}
PARAMS = {"fast": 5, "slow": 20, "mode": "long_only"}
FIELDS = ("quantity", "entry_ts", "entry_price", "exit_ts", "exit_price", "pnl", "charges")


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def _run(strategy, **kwargs) -> Backtest:
        with django_capture_on_commit_callbacks(execute=True):
            bt = backtest_request(strategy=strategy, user=strategy.owner, **kwargs)
        bt.refresh_from_db()
        assert bt.status == BacktestStatus.COMPLETE, bt.error
        return bt

    return _run


@pytest.fixture
def members(db) -> list[Instrument]:
    ensure_seeded_instruments()
    found = [Instrument.objects.get(exchange="NSE", symbol=s) for s in SYMBOLS]
    assert not any(i.bars.exists() for i in found)  # the synthetic feed, reproducible
    return found


def _strategy(user, name, **config):
    return strategy_create(
        owner=user,
        name=name,
        strategy_type="sma_crossover",
        params=dict(PARAMS),
        timeframe="1d",
        allocation_pct=Decimal("100"),
        **config,
    )


def test_basket_backtest_equals_single_backtests_when_capital_is_not_binding(user, members, run):
    # caps of 25 % each on 400,000: every member trades on 100,000 and a quarter stays idle
    basket = _strategy(
        user,
        "Basket",
        capital=Decimal("400000"),
        instruments=[{"instrument": i, "allocation_pct": Decimal("25")} for i in members],
    )
    bt = run(basket, **WINDOW)
    assert bt.data_source == "synthetic"
    assert [m["symbol"] for m in bt.member_stats] == SYMBOLS
    finals = Decimal("0")
    trades = 0
    for inst, member in zip(members, bt.member_stats, strict=True):
        single = run(
            _strategy(user, inst.symbol, capital=Decimal("100000"), instrument=inst), **WINDOW
        )
        mine = bt.trades.filter(instrument=inst).order_by("seq")
        assert mine.count() == single.stats["trades"] > 0
        assert list(mine.values_list(*FIELDS)) == list(
            single.trades.order_by("seq").values_list(*FIELDS)
        )
        assert single.trades.filter(instrument=inst).count() == single.stats["trades"]
        for key in ("final_equity", "total_return_pct", "max_drawdown_pct", "trades"):
            assert member["stats"][key] == single.stats[key], key
        assert member["cap"] == 100000.0
        finals += Decimal(str(single.stats["final_equity"]))
        trades += single.stats["trades"]
    assert bt.stats["trades"] == trades == bt.trades.count()
    assert Decimal(str(bt.stats["final_equity"])) == pytest.approx(
        Decimal("100000") + finals, abs=Decimal("0.01")
    )
    last = bt.equity.order_by("-ts").first()
    assert last.equity == Decimal(str(bt.stats["final_equity"])).quantize(Decimal("0.01"))


def test_equal_split_by_default(user, members, run):
    basket = _strategy(
        user,
        "Equal",
        capital=Decimal("300000"),
        instruments=[{"instrument": i, "allocation_pct": None} for i in members],
    )
    bt = run(basket, **WINDOW)
    assert [m["allocation_pct"] for m in bt.member_stats] == ["33.3333"] * 3
    assert all(m["cap"] == pytest.approx(99999.9, abs=0.01) for m in bt.member_stats)
    assert bt.bars == sum(m["bars"] for m in bt.member_stats)
    for m in bt.member_stats:  # each member's curve, downsampled, ends at its final equity
        assert len(m["equity"]) == min(m["bars"], MEMBER_CURVE_POINTS)
        assert m["equity"][-1][1] == m["stats"]["final_equity"]


def test_basket_page_and_api_show_each_member_and_the_total(user, members, run, client, api_client):
    basket = _strategy(
        user,
        "Shown",
        capital=Decimal("300000"),
        instruments=[{"instrument": i, "allocation_pct": None} for i in members],
    )
    bt = run(basket, **WINDOW)
    client.force_login(user)
    html = client.get(f"/app/backtests/{bt.pk}/").content.decode()
    for inst in members:
        assert f'data-basket-member="NSE:{inst.symbol}"' in html
    assert "data-basket-total" in html
    assert "basket of 3: NSE:INFY, NSE:TCS, NSE:HDFCBANK" in html  # the heading, not INFY alone
    assert "<th>Instrument</th>" in html  # the trades name their member
    # each member's equity curve, drawn from member_stats (return on its cap)
    assert 'data-chart="basket-equity"' in html
    found = re.search(r'<script id="bt-basket-chart" type="application/json">(.*?)</script>', html)
    curves = json.loads(found.group(1))["members"]
    bt.refresh_from_db()
    assert [(c["label"], c["cap"], c["points"]) for c in curves] == [
        (f"NSE:{m['symbol']}", m["cap"], m["equity"]) for m in bt.member_stats
    ]

    data = api_client.get(f"/api/backtests/{bt.pk}/").json()
    assert [m["symbol"] for m in data["member_stats"]] == SYMBOLS
    infy = members[0]
    page = api_client.get(f"/api/backtests/{bt.pk}/trades/?instrument={infy.pk}").json()
    assert page["results"] and {t["instrument"] for t in page["results"]} == {infy.pk}
    bad = api_client.get(f"/api/backtests/{bt.pk}/trades/?instrument=abc")
    assert bad.status_code == 400 and "instrument" in bad.json()["error"]["fields"]


def test_a_basket_too_big_for_memory_fails_with_the_reason(user, members, run, monkeypatch):
    monkeypatch.setattr("execution.services.backtest_baskets.MAX_BASKET_BARS", 1000)
    basket = _strategy(
        user,
        "Big",
        capital=Decimal("300000"),
        instruments=[{"instrument": i, "allocation_pct": None} for i in members],
    )
    with pytest.raises(AssertionError, match="more than 1,000 bars"):
        run(basket, **WINDOW)
    bt = Backtest.objects.get(strategy=basket)
    assert bt.status == BacktestStatus.FAILED and "shorten it" in bt.error


GOLDEN_RSI = {
    "entry_long": {
        "all": [
            {
                "left": {"indicator": "sma", "period": 20},
                "op": "crosses_above",
                "right": {"indicator": "sma", "period": 50},
            },
            {"left": {"indicator": "rsi", "period": 14}, "op": "<", "right": {"const": 60}},
        ]
    },
    "exits": {"stop_loss_pct": 2, "target_pct": 5},
}


def test_a_rule_basket_page_shows_the_rule_as_text_and_caps_as_typed(user, members, run, client):
    """The run card prints the rule as the builder's text (not the stored JSON) and each
    member's cap as typed (``50``, not ``50.0000``)."""
    basket = strategy_create(
        owner=user,
        name="Golden RSI",
        strategy_type="rules",
        params=GOLDEN_RSI,
        timeframe="1d",
        allocation_pct=Decimal("100"),
        capital=Decimal("200000"),
        instruments=[{"instrument": i, "allocation_pct": Decimal("50")} for i in members[:2]],
    )
    client.force_login(user)
    form = client.get(f"/app/strategies/{basket.pk}/backtest/").content.decode()
    assert "basket of 2: NSE:INFY, NSE:TCS" in form  # "What it replays"
    assert "stop_loss: 2%, target: 5%" in form and "{&#x27;" not in form
    bt = run(basket, **WINDOW)
    html = client.get(f"/app/backtests/{bt.pk}/").content.decode()
    assert "sma(20) crosses_above sma(50) and rsi(14) &lt; 60" in html
    assert "stop_loss: 2%, target: 5%" in html
    assert "{&#x27;" not in html  # no Python dict printed anywhere
    caps = re.findall(r'<td class="num muted">([^<]*)</td>', html)
    assert caps[:3] == ["50", "50", ""]  # two members, then the total's empty cell
