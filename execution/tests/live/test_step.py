"""One live step: every bar closed since the cursor, processed exactly once, books that add up."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from execution.models import EquitySnapshot, Order, Position, Trade
from execution.services import live as live_service
from execution.services.live import MAX_STEP_FAILURES, deployment_step
from execution.tasks import run_steps
from execution.tests.live.conftest import (
    assert_books,
    assert_event_chains,
    at,
    bar_ts,
    counts,
    deploy,
    future_bars,
    live_of,
    make_strategy,
    rewind,
    signed,
    step,
)
from strategies.models import DeploymentStatus, StrategyStatus
from strategies.tests.factories import ensure_seeded_instruments

pytestmark = pytest.mark.django_db

BARS = 40


def test_a_step_before_the_next_bar_closes_is_idle(deployment):
    before = live_of(deployment)

    outcome = deployment_step(
        deployment_id=deployment.pk, now=at(deployment, 0) - timedelta(seconds=1)
    )

    assert outcome.status == "idle" and outcome.bars == 0
    after = live_of(deployment)
    assert after.cursor_ts == before.cursor_ts and after.steps == 0
    assert counts(deployment) == {"orders": 0, "events": 0, "trades": 0, "equity": 0}
    assert after.next_due_at == at(deployment, 0)  # due again when that bar has closed


def test_stepping_over_n_bars_writes_their_books(deployment, api_client):
    first = step(deployment, 0)
    rest = step(deployment, BARS - 1)

    assert (first.status, first.bars) == ("stepped", 1)
    assert (rest.status, rest.bars) == ("stepped", BARS - 1)
    live = live_of(deployment)
    assert live.cursor_ts == bar_ts(deployment, BARS - 1)
    assert live.steps == 2 and live.bars_processed == BARS and live.failures == 0

    # one equity point per bar, at each bar's open time, none twice
    snaps = list(EquitySnapshot.objects.filter(deployment=deployment).order_by("ts"))
    assert [int(s.ts.timestamp()) for s in snaps] == [bar_ts(deployment, k) for k in range(BARS)]

    # deterministic client ids: d{deployment}-{bar open}-{leg}, created at that bar
    orders = list(Order.objects.filter(deployment=deployment))
    assert len(orders) == first.orders + rest.orders >= 4
    bar_times = {bar_ts(deployment, k) for k in range(BARS)}
    for order in orders:
        m = re.fullmatch(rf"d{deployment.pk}-(\d+)-(e|x)", order.client_order_id)
        assert m, order.client_order_id
        assert int(m[1]) in bar_times and int(m[1]) == int(order.created_at.timestamp())
        assert (order.source, order.order_type, order.quantity) == ("strategy", "MARKET", 10)
        assert order.status == "COMPLETE" and order.broker_order_id

    assert_event_chains(deployment)
    assert Trade.objects.filter(deployment=deployment).count() == first.fills + rest.fills
    assert_books(deployment)

    # every equity point is cash + the position held through that bar, marked at its close
    closes = future_bars(deployment, 0, BARS).close
    trades = list(Trade.objects.filter(deployment=deployment))
    for snap, close in zip(snaps, closes, strict=True):
        held = sum(signed(t) for t in trades if t.executed_at <= snap.ts)
        assert snap.position_value == (held * Decimal(repr(float(close)))).quantize(Decimal("0.01"))

    # the deployment API: realised (gross, ledger.py) + unrealised - charges = equity - capital
    body = api_client.get(f"/api/deployments/{deployment.pk}/").json()
    pnl = {k: Decimal(v) for k, v in body["pnl"].items()}
    assert pnl["equity"] == snaps[-1].equity
    charges = sum((t.charges for t in trades), Decimal("0"))
    assert pnl["charges"] == charges > 0
    position = Position.objects.get(deployment=deployment)
    assert pnl["realised_pnl"] == position.realised_pnl
    assert pnl["unrealised_pnl"] == position.unrealised_pnl
    assert (
        pnl["realised_pnl"] + pnl["unrealised_pnl"] - pnl["charges"]
        == pnl["equity"] - deployment.capital
    )
    assert body["phase"] == "RUNNING" and body["feed"] == "synthetic"


def test_the_same_step_twice_is_idle_the_second_time(deployment):
    first = step(deployment, 25)
    assert first.status == "stepped" and first.orders > 0
    before = counts(deployment)
    state_before = live_of(deployment).engine_state

    again = step(deployment, 25)
    older = step(deployment, 10)  # a late redelivery of an earlier step

    assert again.status == "idle" and older.status == "idle"
    assert counts(deployment) == before
    live = live_of(deployment)
    assert live.engine_state == state_before and live.steps == 1


def test_steps_in_any_chunks_give_the_same_books(strategy, user):
    one_go = deploy(strategy)
    step(one_go, 29)
    twin = deploy(make_strategy(user, name="twin"))
    # a twin starting at the same bar trades the same bars (align it if the clock ticked over
    # a bar between the two deploys); step it in uneven chunks
    behind = (bar_ts(twin, 0) - bar_ts(one_go, 0)) // live_of(twin).interval_s
    if behind:
        rewind(twin, behind)
    assert bar_ts(twin, 0) == bar_ts(one_go, 0)
    for k in (0, 1, 4, 5, 13, 14, 29):
        step(twin, k)

    def books(d):
        orders = [
            (o.client_order_id.split("-", 1)[1], o.side, o.quantity, o.status, o.average_price)
            for o in Order.objects.filter(deployment=d).order_by("created_at", "client_order_id")
        ]
        equity = list(
            EquitySnapshot.objects.filter(deployment=d)
            .order_by("ts")
            .values_list("ts", "cash", "equity")
        )
        return orders, equity

    assert books(twin) == books(one_go)
    assert live_of(twin).engine_state["ledger"] == live_of(one_go).engine_state["ledger"]


# ----------------------------------------------------------------------------- failures


def _fail_after_writing(monkeypatch, only: int | None = None):
    """Make a step's order writer write its rows and then raise: a crash in the middle."""
    real = live_service.persist_paper_batch
    calls = []

    def persist_then_raise(runs):
        real(runs)
        for deployment, result in runs:
            is_step = hasattr(result, "equity")  # not the halt's own write of cancelled orders
            if is_step and (only is None or deployment.pk == only):
                calls.append(Order.objects.filter(deployment=deployment).count())
                raise RuntimeError("disk on fire")

    monkeypatch.setattr(live_service, "persist_paper_batch", persist_then_raise)
    return calls


def test_a_step_that_raises_midway_leaves_no_partial_rows(deployment, monkeypatch):
    step(deployment, 4)
    before, live_before = counts(deployment), live_of(deployment)
    calls = _fail_after_writing(monkeypatch)

    outcome = step(deployment, 30)

    assert outcome.status == "failed"
    assert calls and calls[0] > before["orders"]  # the rows were written, then rolled back
    assert counts(deployment) == before
    live = live_of(deployment)
    assert live.cursor_ts == live_before.cursor_ts
    assert live.engine_state == live_before.engine_state
    assert live.failures == 1 and "RuntimeError: disk on fire" in live.last_error
    assert live.next_due_at > at(deployment, 30)  # backs off before the retry

    monkeypatch.undo()
    retried = step(deployment, 30)
    assert retried.status == "stepped" and retried.bars == 26
    live = live_of(deployment)
    assert live.failures == 0 and live.last_error == ""
    assert_books(deployment)


def test_repeated_failures_put_the_strategy_in_error(deployment, strategy, monkeypatch, api_client):
    _fail_after_writing(monkeypatch)

    outcomes = [step(deployment, 5 + i).status for i in range(MAX_STEP_FAILURES)]

    assert outcomes == ["failed"] * MAX_STEP_FAILURES
    strategy.refresh_from_db()
    deployment.refresh_from_db()
    assert strategy.status == StrategyStatus.ERROR
    assert deployment.status == DeploymentStatus.ERROR
    assert f"step failed {MAX_STEP_FAILURES} times" in strategy.status_reason
    assert "disk on fire" in strategy.status_reason
    live = live_of(deployment)
    assert live.phase == "DONE" and live.failures == MAX_STEP_FAILURES
    assert counts(deployment)["orders"] == 0

    body = api_client.get(f"/api/strategies/{strategy.pk}/").json()
    assert body["status"] == "ERROR" and "disk on fire" in body["status_reason"]
    body = api_client.get(f"/api/deployments/{deployment.pk}/").json()
    assert body["status"] == "ERROR" and "RuntimeError: disk on fire" in body["last_error"]
    assert body["phase"] == "DONE"
    monkeypatch.undo()
    assert step(deployment, 40).status == "skipped"  # it trades no more


def test_one_failing_deployment_does_not_stop_another(user, monkeypatch):
    sick = deploy(make_strategy(user, name="sick"))
    well = deploy(make_strategy(user, name="well"))
    rewind(sick, 20)
    rewind(well, 20)
    _fail_after_writing(monkeypatch, only=sick.pk)

    result = run_steps([sick.pk, well.pk])

    assert result == {"failed": 1, "stepped": 1}
    assert live_of(sick).failures == 1 and counts(sick)["equity"] == 0
    assert live_of(well).failures == 0 and counts(well)["equity"] >= 20
    assert_books(well)


def test_a_position_row_missing_is_written_by_the_next_step(deployment):
    # Positions are updated by (deployment, instrument) without being read first; a run whose
    # row is gone (older runs had none) gets it back, with the ledger's figures.
    Position.objects.filter(deployment=deployment).delete()

    step(deployment, 30)

    row = Position.objects.get(deployment=deployment)
    ledger = live_of(deployment).engine_state["ledger"]
    held = {p["symbol"]: p for p in ledger["positions"]}[row.instrument.symbol]
    assert row.quantity == held["qty"]
    assert row.realised_pnl == Decimal(repr(held["realised_pnl"])).quantize(Decimal("0.01"))
    assert row.realised_pnl != 0  # it traded: the figures are the ledger's, not defaults
    assert Position.objects.filter(deployment=deployment).count() == 1
    assert_books(deployment)


def test_equity_marks_match_the_ledger_state(deployment):
    step(deployment, 19)
    state = live_of(deployment).engine_state
    last = EquitySnapshot.objects.filter(deployment=deployment).order_by("-ts").first()
    ledger = state["ledger"]
    value = sum(p["qty"] * p["last_price"] for p in ledger["positions"])
    assert last.cash == Decimal(repr(ledger["cash"])).quantize(Decimal("0.01"))
    assert np.isclose(float(last.equity), ledger["cash"] + value, atol=0.005)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_two_workers_stepping_at_once_apply_it_once(user):
    """Two workers run the same step at the same moment: one steps, the other does nothing."""
    if connection.vendor != "postgresql":
        pytest.skip("needs real concurrent transactions and row locks (PostgreSQL)")
    ensure_seeded_instruments()  # a transactional test elsewhere may have flushed them
    deployment = deploy(make_strategy(user))
    now = at(deployment, 30)
    barrier = threading.Barrier(2, timeout=30)
    outcomes, errors = [], []

    def worker():
        try:
            barrier.wait()
            outcomes.append(deployment_step(deployment_id=deployment.pk, now=now))
        except BaseException as e:  # surfaced below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(45)

    assert not errors, errors
    statuses = sorted(o.status for o in outcomes)
    assert statuses in (["skipped", "stepped"], ["idle", "stepped"]), statuses
    stepped = next(o for o in outcomes if o.status == "stepped")
    assert stepped.bars == 31 and stepped.orders > 0
    assert counts(deployment)["equity"] == 31
    assert counts(deployment)["orders"] == stepped.orders
    assert live_of(deployment).steps == 1
    assert_books(deployment)
