"""Events reach subscribers after commit, never for a rolled-back transaction, and a
reconnecting client gets exactly what it missed, from the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction

from execution.models import EquitySnapshot, OrderEvent
from execution.push import sender
from execution.services.live import order_place
from execution.tests.live.conftest import deploy, make_strategy, step
from execution.tests.push.conftest import (
    events_until,
    open_socket,
    quiet,
    receive,
    session_cookie,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("push_layer")]
# The market is open (a Monday session), as in the manual-order tests: orders are accepted.
FIXED_NOW = datetime(2026, 1, 5, 4, 0, 2, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch):
    monkeypatch.setattr("execution.services.live.timezone.now", lambda: FIXED_NOW)


@pytest.fixture
def deployment(user):
    deployment = deploy(make_strategy(user, params={"fast": 2, "slow": 5, "mode": "long_only"}))
    step(deployment, 1)  # a market order placed now fills at bar 2's open
    return deployment


def _buy(deployment, quantity: int = 5):
    return order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=quantity)


async def _subscribed(cookie, deployment, **cursor):
    comm = await open_socket(cookie=cookie)
    await comm.send_json_to({"type": "subscribe", "deployment": deployment.pk, **cursor})
    ack = await receive(comm)
    assert ack["type"] == "subscribed", ack
    comm.ack = ack
    return comm


def _order_seqs(deployment, after: int = 0) -> list[int]:
    return list(
        OrderEvent.objects.filter(order__deployment=deployment, pk__gt=after)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def test_a_manual_order_and_its_fill_arrive_after_their_commits(user, deployment):
    cookie = session_cookie(user)

    async def scenario():
        comm = await _subscribed(cookie, deployment)
        order = await sync_to_async(_buy)(deployment)
        placed = await events_until(comm, lambda m: m.get("trigger") == "ACCEPT")
        await sync_to_async(step)(deployment, 2)
        filled = await events_until(comm, lambda m: m.get("kind") == "fill")
        rest = await events_until(comm, lambda m: m.get("kind") == "equity")
        await comm.disconnect()
        return order, placed, filled, rest

    order, placed, filled, rest = async_to_sync(scenario)()
    fill = OrderEvent.objects.get(order=order, trigger="FILL")
    assert [m["seq"] for m in placed] == _order_seqs(deployment)[:-1]  # received, accepted
    assert [m["kind"] for m in placed] == ["order", "order"]
    assert placed[-1]["order"]["id"] == order.pk and placed[-1]["order"]["source"] == "manual"
    assert filled[-1]["seq"] == fill.pk
    assert filled[-1]["order"]["filled_quantity"] == 5
    assert filled[-1]["order"]["average_price"] == str(
        order.__class__.objects.get(pk=order.pk).average_price
    )
    kinds = [m["kind"] for m in rest]
    assert "position" in kinds
    position = next(m for m in rest if m["kind"] == "position")
    assert position["quantity"] >= 5
    equity = rest[-1]
    assert equity["seq"] == EquitySnapshot.objects.filter(deployment=deployment).latest("pk").pk


def test_a_rolled_back_order_publishes_nothing(user, deployment):
    cookie = session_cookie(user)

    def place_and_roll_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            _buy(deployment)
            raise RuntimeError("the caller's transaction fails after the order")

    async def scenario():
        comm = await _subscribed(cookie, deployment)
        await sync_to_async(place_and_roll_back)()
        await sync_to_async(sender.sender.flush)()
        nothing = await quiet(comm, 0.5)
        committed = await sync_to_async(_buy)(deployment, 3)
        first = await receive(comm)
        await comm.disconnect()
        return nothing, committed, first

    nothing, committed, first = async_to_sync(scenario)()
    assert nothing
    assert deployment.orders.count() == 1  # the rolled-back order left no row
    assert first["kind"] == "order" and first["order"]["id"] == committed.pk


def test_a_reconnecting_client_gets_exactly_the_missed_events_in_order(user, deployment):
    cookie = session_cookie(user)
    _buy(deployment)
    step(deployment, 2)
    seen = _order_seqs(deployment)[-1]
    seen_equity = EquitySnapshot.objects.filter(deployment=deployment).latest("pk").pk
    # while the client is away: another order, a fill, more bars
    _buy(deployment, 2)
    step(deployment, 4)
    missed = _order_seqs(deployment, after=seen)
    missed_equity = list(
        EquitySnapshot.objects.filter(deployment=deployment, pk__gt=seen_equity)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert len(missed) >= 3 and missed_equity

    async def scenario():
        comm = await _subscribed(cookie, deployment, after=seen, after_equity=seen_equity)
        replayed = await events_until(comm, lambda m: m.get("kind") == "position")
        nothing_more = await quiet(comm, 0.3)
        await comm.disconnect()
        return comm.ack, replayed, nothing_more

    ack, replayed, nothing_more = async_to_sync(scenario)()
    assert ack["seq"] == missed[-1] and ack["equity_seq"] == missed_equity[-1]
    assert [m["seq"] for m in replayed if m["kind"] in ("order", "fill")] == missed
    assert [m["seq"] for m in replayed if m["kind"] == "equity"] == missed_equity
    assert nothing_more


def test_live_events_after_a_replay_are_not_sent_twice(user, deployment):
    cookie = session_cookie(user)
    _buy(deployment)
    first, last = _order_seqs(deployment)[0], _order_seqs(deployment)[-1]

    async def scenario():
        comm = await _subscribed(cookie, deployment, after=first - 1)
        replayed = await events_until(comm, lambda m: m.get("seq") == last)
        # the same rows published again (an overlap between replay and live) are skipped
        from execution.push import messages

        event = await sync_to_async(
            lambda: OrderEvent.objects.select_related("order").get(pk=first)
        )()
        await sync_to_async(sender.sender.submit)(
            messages.group_name(deployment.pk),
            {
                "type": "live.event",
                "event": messages.order_event(deployment.pk, event, event.order),
            },
        )
        await sync_to_async(sender.sender.flush)()
        duplicate_skipped = await quiet(comm, 0.4)
        await comm.disconnect()
        return replayed, duplicate_skipped

    replayed, duplicate_skipped = async_to_sync(scenario)()
    assert [m["seq"] for m in replayed] == _order_seqs(deployment)
    assert duplicate_skipped


def test_a_client_too_far_behind_is_told_to_resync(user, deployment, settings):
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "REPLAY_LIMIT": 2}
    cookie = session_cookie(user)
    for _ in range(3):
        _buy(deployment, 1)
    head = _order_seqs(deployment)[-1]

    async def scenario():
        comm = await _subscribed(cookie, deployment, after=0)
        answer = await receive(comm)
        nothing_more = await quiet(comm, 0.3)
        await comm.disconnect()
        return comm.ack, answer, nothing_more

    ack, answer, nothing_more = async_to_sync(scenario)()
    assert answer == {
        "type": "resync",
        "deployment": deployment.pk,
        "seq": head,
        "equity_seq": ack["equity_seq"],
    }
    assert nothing_more  # no partial replay after a resync


def test_other_deployments_events_do_not_reach_a_subscriber(user, other_user, deployment):
    theirs = deploy(make_strategy(other_user))
    cookie = session_cookie(user)

    async def scenario():
        comm = await _subscribed(cookie, deployment)
        await sync_to_async(_buy)(theirs)
        await sync_to_async(sender.sender.flush)()
        nothing = await quiet(comm, 0.4)
        await comm.disconnect()
        return nothing

    assert async_to_sync(scenario)()


def test_a_stop_publishes_the_new_status_after_its_commit(user, deployment):
    from strategies import services

    cookie = session_cookie(user)
    strategy = deployment.strategy

    async def scenario():
        comm = await _subscribed(cookie, deployment)
        await sync_to_async(services.strategy_stop)(strategy=strategy, actor=user, square_off=False)
        seen = await events_until(comm, lambda m: m.get("kind") == "status")
        await comm.disconnect()
        return seen[-1]

    status = async_to_sync(scenario)()
    assert status["status"] == "STOPPED" and status["deployment"] == deployment.pk
    assert status["phase"] == "DONE"  # flat: nothing to square off, the run is over


def test_a_square_off_says_its_phase_when_it_starts_and_when_it_completes(user, deployment):
    from strategies import services

    _buy(deployment)
    step(deployment, 2)  # filled: a position to square off
    cookie = session_cookie(user)
    strategy = deployment.strategy

    async def scenario():
        comm = await _subscribed(cookie, deployment)
        await sync_to_async(services.strategy_stop)(strategy=strategy, actor=user, square_off=True)
        started = await events_until(comm, lambda m: m.get("kind") == "status")
        await sync_to_async(step)(deployment, 3)  # the square-off fills at bar 3's open
        completed = await events_until(comm, lambda m: m.get("kind") == "status")
        await comm.disconnect()
        return started, completed

    started, completed = async_to_sync(scenario)()
    assert started[-1]["status"] == "STOPPED" and started[-1]["phase"] == "SQUARING_OFF"
    assert any(m.get("kind") == "fill" for m in completed)  # the square-off's fill came first
    assert completed[-1]["status"] == "STOPPED" and completed[-1]["phase"] == "DONE"
    assert completed[-1]["deployment"] == deployment.pk
