"""Backtest endpoints: request (202), status, stats, equity and trades, lists, errors, scoping."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django_q.models import Task

from execution.models import Backtest, BacktestStatus, Instrument
from execution.services.backtests import backtest_execute, backtest_request
from strategies.tests.factories import StrategyFactory, ensure_seeded_instruments

LONG_SHORT = {"fast": 10, "slow": 20, "mode": "long_short"}
EQUITY_FIELDS = {"ts", "equity", "cash", "drawdown_pct"}
TRADE_FIELDS = {
    "seq",
    "instrument",
    "side",
    "quantity",
    "entry_ts",
    "entry_price",
    "exit_ts",
    "exit_price",
    "pnl",
    "charges",
}
BACKTEST_FIELDS = {
    "id",
    "member_stats",
    "strategy",
    "status",
    "progress",
    "start",
    "end",
    "capital",
    "currency",
    "charges",
    "commission_pct",
    "slippage_bps",
    "close_at_end",
    "data_source",
    "bars",
    "stats",
    "error",
    "config",
    "created_at",
    "started_at",
    "finished_at",
}
# GOOG's first trading year: short enough to keep these tests quick, long enough to trade.
YEAR_2005 = {"start": "2005-01-01", "end": "2005-12-31"}


def collection(strategy_id) -> str:
    return f"/api/strategies/{strategy_id}/backtests/"


def detail(backtest_id, suffix: str = "") -> str:
    return f"/api/backtests/{backtest_id}/{suffix}"


@pytest.fixture
def goog(db) -> Instrument:
    return Instrument.objects.get(exchange="NASDAQ", symbol="GOOG")


@pytest.fixture
def strategy(user, goog):
    return StrategyFactory(owner=user, instrument=goog, params=dict(LONG_SHORT))


@pytest.fixture
def completed(strategy, django_capture_on_commit_callbacks) -> Backtest:
    """A backtest of ``strategy`` over 2005 whose job has run."""
    with django_capture_on_commit_callbacks(execute=True):
        bt = backtest_request(
            strategy=strategy,
            user=strategy.owner,
            start=date(2005, 1, 1),
            end=date(2005, 12, 31),
        )
    bt.refresh_from_db()
    assert bt.status == BacktestStatus.COMPLETE, bt.error
    return bt


# --------------------------------------------------------------------------- request and read


def test_post_queues_a_backtest_and_answers_202(
    api_client, strategy, django_capture_on_commit_callbacks
):
    body = {**YEAR_2005, "capital": "25000", "charges": "none", "close_at_end": "last_open"}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resp = api_client.post(collection(strategy.pk), body, format="json")
        assert resp.status_code == 202, resp.json()
        data = resp.json()
        # the job is queued on commit, so the answer shows it waiting
        assert data["status"] == "QUEUED"
        assert data["progress"] == 0
        assert data["stats"] is None
    assert len(callbacks) == 1
    assert set(data) == BACKTEST_FIELDS
    assert data["strategy"] == strategy.pk
    assert (data["start"], data["end"]) == ("2005-01-01", "2005-12-31")
    assert Decimal(data["capital"]) == 25000
    assert data["charges"] == "none"
    assert data["close_at_end"] == "last_open"
    assert data["config"]["params"] == LONG_SHORT
    assert data["config"]["instrument"]["symbol"] == "GOOG"
    assert data["currency"] == "USD"  # NASDAQ: the capital and the results are in dollars

    resp = api_client.get(detail(data["id"]))
    assert resp.status_code == 200
    done = resp.json()
    assert done["status"] == "COMPLETE"
    assert done["progress"] == 100
    assert done["data_source"] == "stored"
    assert done["bars"] > 200
    assert done["error"] == ""
    assert done["stats"]["trades"] > 0
    assert done["stats"]["total_charges"] == 0
    assert done["stats"]["max_drawdown_pct"] <= 0
    assert done["finished_at"] is not None


@pytest.mark.django_db(transaction=True)
def test_post_runs_the_job_when_the_request_commits(api_client, user):
    """No test transaction here: the real on_commit fires and the sync cluster runs the job."""
    ensure_seeded_instruments()  # a transactional test elsewhere may have flushed them
    instrument = Instrument.objects.get(exchange="NSE", symbol="RELIANCE")
    strategy = StrategyFactory(owner=user, instrument=instrument)

    resp = api_client.post(
        collection(strategy.pk), {"start": "2022-01-01", "end": "2022-12-31"}, format="json"
    )

    assert resp.status_code == 202, resp.json()
    data = resp.json()
    assert data["status"] == "COMPLETE", data["error"]
    assert data["progress"] == 100
    assert data["data_source"] == "synthetic"
    assert data["bars"] == 365
    assert Task.objects.filter(name=f"backtest-{data['id']}", success=True).exists()


def test_retrieve_shows_stats_after_completion(api_client, completed):
    resp = api_client.get(detail(completed.pk))
    assert resp.status_code == 200
    data = resp.json()
    assert data["id"] == completed.pk
    assert data["status"] == "COMPLETE"
    assert data["stats"] == completed.stats
    assert data["bars"] == completed.bars


def test_retrieve_shows_a_failure_and_its_reason(api_client, strategy):
    bt = backtest_request(strategy=strategy, user=strategy.owner, start=date(2030, 1, 1))
    backtest_execute(backtest_id=bt.pk)
    data = api_client.get(detail(bt.pk)).json()
    assert data["status"] == "FAILED"
    assert data["error"]
    assert data["stats"] is None


def test_equity_is_paginated_with_documented_fields(api_client, completed):
    total = completed.equity.count()
    assert total == completed.bars > 100

    resp = api_client.get(detail(completed.pk, "equity/"), {"page_size": 100})
    assert resp.status_code == 200
    page = resp.json()
    assert page["count"] == total
    assert len(page["results"]) == 100
    assert page["next"] and page["previous"] is None
    assert set(page["results"][0]) == EQUITY_FIELDS
    timestamps = [p["ts"] for p in page["results"]]
    assert timestamps == sorted(timestamps)

    last_page = -(-total // 100)
    tail = api_client.get(detail(completed.pk, "equity/"), {"page_size": 100, "page": last_page})
    assert tail.status_code == 200
    last = tail.json()["results"][-1]
    assert Decimal(last["equity"]) == Decimal(str(completed.stats["final_equity"]))

    whole = api_client.get(detail(completed.pk, "equity/")).json()  # charts read it whole
    assert len(whole["results"]) == total and whole["next"] is None


def test_trades_are_paginated_with_documented_fields(api_client, completed):
    n = completed.stats["trades"]
    assert n >= 4

    resp = api_client.get(detail(completed.pk, "trades/"), {"page_size": 3})
    assert resp.status_code == 200
    page = resp.json()
    assert page["count"] == n
    assert [t["seq"] for t in page["results"]] == [1, 2, 3]
    assert set(page["results"][0]) == TRADE_FIELDS
    first = page["results"][0]
    assert first["side"] in ("LONG", "SHORT")
    assert (first["quantity"] > 0) == (first["side"] == "LONG")
    second = api_client.get(detail(completed.pk, "trades/"), {"page_size": 3, "page": 2}).json()
    assert second["results"][0]["seq"] == 4


def test_list_shows_only_your_backtests_with_filters(
    api_client, user, other_user, strategy, completed, goog
):
    queued = backtest_request(strategy=strategy, user=user)
    second_strategy = StrategyFactory(owner=user, instrument=goog, name="Second")
    other_strategy_bt = backtest_request(strategy=second_strategy, user=user)
    theirs = backtest_request(
        strategy=StrategyFactory(owner=other_user, instrument=goog), user=other_user
    )

    def ids(params=None):
        resp = api_client.get("/api/backtests/", params or {})
        assert resp.status_code == 200, resp.json()
        return {b["id"] for b in resp.json()["results"]}

    assert ids() == {completed.pk, queued.pk, other_strategy_bt.pk}
    assert theirs.pk not in ids()
    assert ids({"status": "COMPLETE"}) == {completed.pk}
    assert ids({"status": "QUEUED"}) == {queued.pk, other_strategy_bt.pk}
    assert ids({"strategy": strategy.pk}) == {completed.pk, queued.pk}
    assert ids({"strategy": second_strategy.pk, "status": "QUEUED"}) == {other_strategy_bt.pk}
    assert ids({"strategy": theirs.strategy_id}) == set()
    bad = api_client.get("/api/backtests/", {"status": "DONE"})
    assert bad.status_code == 400
    assert "status" in bad.json()["error"]["fields"]


def test_strategy_backtests_lists_that_strategys_backtests(api_client, user, strategy, goog):
    mine = [backtest_request(strategy=strategy, user=user) for _ in range(2)]
    sibling = StrategyFactory(owner=user, instrument=goog, name="Sibling")
    backtest_request(strategy=sibling, user=user)

    resp = api_client.get(collection(strategy.pk))
    assert resp.status_code == 200
    page = resp.json()
    assert page["count"] == 2
    assert {b["id"] for b in page["results"]} == {b.pk for b in mine}
    assert [b["id"] for b in page["results"]] == [mine[1].pk, mine[0].pk]  # newest first
    assert all(set(b) == BACKTEST_FIELDS for b in page["results"])


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2020-13-01"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"start": "2021-06-02", "end": "2021-06-01"}, "end"),
        ({"capital": "-5000"}, "capital"),
        ({"capital": "999.99"}, "capital"),
        ({"capital": "lots"}, "capital"),
        ({"commission_pct": "10.01"}, "commission_pct"),
        ({"commission_pct": "-0.1"}, "commission_pct"),
        ({"charges": "zerodha"}, "charges"),
        ({"slippage_bps": "-1"}, "slippage_bps"),
        ({"close_at_end": "whenever"}, "close_at_end"),
    ],
)
def test_invalid_requests_are_400_naming_the_field(api_client, strategy, body, field):
    resp = api_client.post(collection(strategy.pk), body, format="json")
    assert resp.status_code == 400, resp.json()
    error = resp.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert field in error["message"]
    assert not Backtest.objects.exists()


def test_malformed_json_is_400(api_client, strategy):
    resp = api_client.post(
        collection(strategy.pk), data='{"start": "2020-01-01",', content_type="application/json"
    )
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "parse_error"
    assert "JSON" in error["message"]
    assert not Backtest.objects.exists()


def test_active_backtests_cap_is_403(api_client, strategy, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_ACTIVE_BACKTESTS_PER_USER": 1}
    assert api_client.post(collection(strategy.pk), {}, format="json").status_code == 202
    resp = api_client.post(collection(strategy.pk), {}, format="json")
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "limit_exceeded"
    assert Backtest.objects.count() == 1


# --------------------------------------------------------------------------- scoping and auth


def test_another_users_strategy_is_404_and_nothing_is_created(other_client, strategy):
    resp = other_client.post(collection(strategy.pk), {}, format="json")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    assert other_client.get(collection(strategy.pk)).status_code == 404
    # an invalid body changes nothing: existence is not revealed by a 400 either
    invalid = other_client.post(collection(strategy.pk), {"charges": "x"}, format="json")
    assert invalid.status_code == 404
    assert not Backtest.objects.exists()


@pytest.mark.parametrize("suffix", ["", "equity/", "trades/"])
def test_another_users_backtest_is_404(other_client, completed, suffix):
    resp = other_client.get(detail(completed.pk, suffix))
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def test_another_users_backtests_are_not_listed(other_client, completed):
    resp = other_client.get("/api/backtests/")
    assert resp.status_code == 200
    assert resp.json()["count"] == 0
    # filtering by another user's strategy answers exactly as for a strategy that does not exist
    theirs = other_client.get("/api/backtests/", {"strategy": completed.strategy_id})
    missing = other_client.get("/api/backtests/", {"strategy": 987654})
    assert theirs.status_code == missing.status_code == 200
    assert theirs.json() == missing.json()
    assert theirs.json()["count"] == 0


@pytest.mark.parametrize("suffix", ["", "equity/", "trades/"])
def test_missing_backtest_is_404(api_client, suffix, db):
    assert api_client.get(detail(99999, suffix)).status_code == 404
    assert api_client.get(detail("abc", suffix)).status_code == 404


def test_missing_strategy_is_404(api_client, db):
    assert api_client.post(collection(99999), {}, format="json").status_code == 404
    assert api_client.get(collection("abc")).status_code == 404
    assert not Backtest.objects.exists()


def test_backtests_are_read_only(api_client, completed):
    assert api_client.delete(detail(completed.pk)).status_code == 405
    assert api_client.patch(detail(completed.pk), {"status": "FAILED"}).status_code == 405
    assert api_client.post("/api/backtests/", {}, format="json").status_code == 405
    completed.refresh_from_db()
    assert completed.status == BacktestStatus.COMPLETE


def test_unauthenticated_is_401(anon_client, completed):
    urls = [
        ("get", "/api/backtests/"),
        ("get", detail(completed.pk)),
        ("get", detail(completed.pk, "equity/")),
        ("get", detail(completed.pk, "trades/")),
        ("get", collection(completed.strategy_id)),
        ("post", collection(completed.strategy_id)),
    ]
    for method, url in urls:
        resp = getattr(anon_client, method)(url, {}, format="json")
        assert resp.status_code == 401, (method, url)
        assert resp.json()["error"]["code"] == "not_authenticated"
    assert Backtest.objects.count() == 1
