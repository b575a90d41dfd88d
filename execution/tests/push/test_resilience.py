"""Heartbeats, slow consumers and a missing Redis: nobody holds anybody else up."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from execution.push import sender
from execution.push.consumers import CLOSE_IDLE, CLOSE_SLOW
from execution.services.live import order_place
from execution.tests.live.conftest import deploy, make_strategy, step
from execution.tests.push.conftest import (
    TIMEOUT,
    events_until,
    open_socket,
    receive,
    redis_layer,
    session_cookie,
)

pytestmark = [pytest.mark.django_db(transaction=True)]
FIXED_NOW = datetime(2026, 1, 5, 4, 0, 2, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch):
    monkeypatch.setattr("execution.services.live.timezone.now", lambda: FIXED_NOW)


@pytest.fixture
def deployment(user):
    deployment = deploy(make_strategy(user))
    step(deployment, 1)
    return deployment


def _buy(deployment, quantity: int = 1):
    return order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=quantity)


@pytest.mark.usefixtures("push_layer")
def test_the_server_pings_and_a_silent_client_is_closed(user, settings):
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "HEARTBEAT_SECONDS": 0.1, "HEARTBEAT_MISSES": 3}
    cookie = session_cookie(user)

    async def scenario():
        comm = await open_socket(cookie=cookie)
        pings = 0
        for _ in range(6):  # an answering client stays connected well past 3 heartbeats
            msg = await receive(comm, skip_pings=False)
            assert msg["type"] == "ping", msg
            pings += 1
            await comm.send_json_to({"type": "pong"})
        await comm.send_json_to({"type": "ping"})
        pong = await receive(comm)
        while True:  # then it goes silent
            msg = await receive(comm, skip_pings=False)
            if msg["type"] == "closed":
                return pings, pong, msg

    pings, pong, closed = async_to_sync(scenario)()
    assert pings == 6
    assert pong["type"] == "pong"
    assert closed["code"] == CLOSE_IDLE and closed["reason"] == "heartbeat timeout"


@pytest.mark.usefixtures("push_layer")
def test_a_slow_consumer_is_dropped_while_the_others_get_every_event(user, deployment, settings):
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "SEND_QUEUE": 3}
    cookie = session_cookie(user)
    orders = 6

    async def scenario():
        fast = await open_socket(cookie=cookie)
        # A client that stops reading: the transport takes one message, then sends block.
        slow = await open_socket(cookie=cookie, output_queue=asyncio.Queue(maxsize=1))
        for comm in (fast, slow):
            await comm.send_json_to({"type": "subscribe", "deployment": deployment.pk})
            assert (await receive(comm))["type"] == "subscribed"
        placed = [await sync_to_async(_buy)(deployment) for _ in range(orders)]
        last = placed[-1].pk
        got = await events_until(
            fast, lambda m: m.get("trigger") == "ACCEPT" and m["order"]["id"] == last
        )
        drained = []
        while (msg := await receive(slow))["type"] != "closed":
            drained.append(msg)
        await fast.disconnect()
        return got, drained, msg

    got, drained, closed = async_to_sync(scenario)()
    assert len(got) == orders * 2  # received + accepted, for each order
    assert closed["code"] == CLOSE_SLOW and closed["reason"] == "slow consumer"
    assert len(drained) < orders * 2


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_with_redis_down_orders_and_steps_go_on_and_the_failure_is_logged(user, settings, caplog):
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{_dead_port()}/0")
    sender.reset()
    deployment = deploy(make_strategy(user))
    step(deployment, 1)

    order = _buy(deployment, 5)
    step(deployment, 2)

    order.refresh_from_db()
    assert order.status == "COMPLETE"
    assert sender.sender.flush(TIMEOUT)
    assert sender.sender._failing
    sender.reset()


def test_a_hung_redis_never_holds_up_the_publisher(user, settings):
    """Redis accepts the connection and never answers: the order returns at once, the
    event waits in the publisher's queue until its send times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "PUBLISH_TIMEOUT_SECONDS": 0.5}
    sender.reset()
    try:
        deployment = deploy(make_strategy(user))
        step(deployment, 1)
        _buy(deployment)
        assert sender.sender._pending > 0  # the commit returned while the sends still wait
        assert sender.sender.flush(TIMEOUT * 2)
        assert sender.sender._failing
    finally:
        listener.close()
        sender.reset()


def test_events_beyond_the_publish_queue_are_dropped_not_queued_forever(user, settings):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "PUBLISH_QUEUE": 2, "PUBLISH_TIMEOUT_SECONDS": 0.3}
    sender.reset()
    try:
        for i in range(5):
            sender.sender.submit("live.deployment.1", {"type": "live.event", "event": {"n": i}})
        assert sender.sender._pending == 2
        assert sender.sender._dropped == 3
        assert sender.sender.flush(TIMEOUT)
    finally:
        listener.close()
        sender.reset()


def test_without_redis_the_in_memory_layer_serves_one_process(user, deployment, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    sender.reset()
    cookie = session_cookie(user)

    async def scenario():
        comm = await open_socket(cookie=cookie)
        await comm.send_json_to({"type": "subscribe", "deployment": deployment.pk})
        assert (await receive(comm))["type"] == "subscribed"
        order = await sync_to_async(_buy)(deployment)
        got = await events_until(comm, lambda m: m.get("trigger") == "ACCEPT")
        await comm.disconnect()
        return order, got

    order, got = async_to_sync(scenario)()
    assert [m["order"]["id"] for m in got] == [order.pk, order.pk]
    # a process with no subscriber (a job worker) does not publish at all
    _buy(deployment)


@pytest.mark.usefixtures("push_layer")
def test_an_idle_socket_outlives_the_layers_blocking_read(user, deployment):
    """The consumer waits on Redis 5 s at a time; an idle socket must still get events after
    (redis-py's own 5 s read timeout once closed every socket idle that long)."""
    cookie = session_cookie(user)

    async def scenario():
        comm = await open_socket(cookie=cookie)
        await comm.send_json_to({"type": "subscribe", "deployment": deployment.pk})
        assert (await receive(comm))["type"] == "subscribed"
        await asyncio.sleep(7)
        order = await sync_to_async(_buy)(deployment)
        got = await events_until(comm, lambda m: m.get("trigger") == "ACCEPT")
        await comm.disconnect()
        return order, got

    order, got = async_to_sync(scenario)()
    assert got[-1]["order"]["id"] == order.pk
