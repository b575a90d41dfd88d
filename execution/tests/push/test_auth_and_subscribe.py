"""Who may open ``/ws/live/`` and subscribe to what."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from rest_framework_simplejwt.tokens import AccessToken

from execution.push.auth import CLOSE_UNAUTHENTICATED
from execution.tests.live.conftest import deploy, make_strategy
from execution.tests.push.conftest import open_socket, receive, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("push_layer")]


@pytest.fixture
def deployment(user):
    return deploy(make_strategy(user))


def test_the_session_signs_the_dashboard_in(user, deployment):
    cookie = session_cookie(user)

    async def scenario():
        comm = await open_socket(cookie=cookie)
        assert comm.hello["authenticated"] is True
        await comm.send_json_to({"type": "subscribe", "deployment": deployment.pk})
        ack = await receive(comm)
        await comm.disconnect()
        return ack

    ack = async_to_sync(scenario)()
    assert ack["type"] == "subscribed"
    assert ack["deployment"] == deployment.pk
    assert ack["status"] == "RUNNING"


def test_an_access_token_in_the_first_message_signs_an_api_client_in(user, deployment):
    token = str(AccessToken.for_user(user))

    async def scenario():
        comm = await open_socket()
        assert comm.hello["authenticated"] is False
        await comm.send_json_to({"type": "auth", "token": token})
        authed = await receive(comm)
        await comm.send_json_to({"type": "subscribe", "deployment": deployment.pk})
        ack = await receive(comm)
        await comm.disconnect()
        return authed, ack

    authed, ack = async_to_sync(scenario)()
    assert authed == {"type": "authenticated"}
    assert ack["type"] == "subscribed"


def test_an_access_token_as_a_subprotocol_signs_an_api_client_in(user, deployment):
    token = str(AccessToken.for_user(user))

    async def scenario():
        comm = await open_socket(subprotocols=["algosaas.jwt", token])
        await comm.send_json_to({"type": "subscribe", "deployment": deployment.pk})
        ack = await receive(comm)
        await comm.disconnect()
        return comm.hello, ack

    hello, ack = async_to_sync(scenario)()
    assert hello["authenticated"] is True
    assert ack["type"] == "subscribed"


def test_a_token_in_the_url_is_not_accepted(user, deployment):
    token = str(AccessToken.for_user(user))

    async def scenario():
        comm = await open_socket(path=f"/ws/live/?token={token}")
        hello = comm.hello
        await comm.send_json_to({"type": "subscribe", "deployment": deployment.pk})
        return hello, await receive(comm)

    hello, answer = async_to_sync(scenario)()
    assert hello["authenticated"] is False
    assert answer["type"] == "closed"
    assert answer["code"] == CLOSE_UNAUTHENTICATED


@pytest.mark.parametrize("token", ["not-a-token", "", None])
def test_a_bad_token_closes_the_socket_with_4401(user, token):
    async def scenario():
        comm = await open_socket()
        await comm.send_json_to({"type": "auth", "token": token})
        return await receive(comm)

    assert async_to_sync(scenario)()["code"] == CLOSE_UNAUTHENTICATED


def test_a_refresh_token_is_not_an_access_token(user):
    from rest_framework_simplejwt.tokens import RefreshToken

    refresh = str(RefreshToken.for_user(user))

    async def scenario():
        comm = await open_socket(subprotocols=["algosaas.jwt", refresh], hello=False)
        return await receive(comm)

    assert async_to_sync(scenario)()["code"] == CLOSE_UNAUTHENTICATED


def test_an_unauthenticated_socket_is_closed_after_the_auth_timeout(settings, db):
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "AUTH_TIMEOUT_SECONDS": 0.2}

    async def scenario():
        comm = await open_socket()
        return await receive(comm)

    closed = async_to_sync(scenario)()
    assert closed == {
        "type": "closed",
        "code": CLOSE_UNAUTHENTICATED,
        "reason": "authentication required",
    }


def test_someone_elses_deployment_is_refused_exactly_like_a_missing_one(user, other_user, client):
    theirs = deploy(make_strategy(other_user))
    missing = theirs.pk + 1000
    cookie = session_cookie(user)

    async def scenario():
        comm = await open_socket(cookie=cookie)
        answers = []
        for pk in (theirs.pk, missing):
            await comm.send_json_to({"type": "subscribe", "deployment": pk})
            answers.append(await receive(comm))
        await comm.disconnect()
        return answers

    to_theirs, to_missing = async_to_sync(scenario)()
    assert to_theirs.pop("deployment") == theirs.pk
    assert to_missing.pop("deployment") == missing
    assert (
        to_theirs
        == to_missing
        == {
            "type": "error",
            "code": "not_found",
            "detail": "No such deployment.",
        }
    )
    # ...as the REST route answers both
    client.force_login(user)
    assert client.get(f"/api/deployments/{theirs.pk}/").status_code == 404


@pytest.mark.parametrize("value", ["7", -1, True, 1.5, None])
def test_a_malformed_subscription_names_the_field(user, value):
    cookie = session_cookie(user)

    async def scenario():
        comm = await open_socket(cookie=cookie)
        await comm.send_json_to({"type": "subscribe", "deployment": value})
        answer = await receive(comm)
        await comm.send_text_to("not json")
        bad = await receive(comm)
        await comm.disconnect()
        return answer, bad

    answer, bad = async_to_sync(scenario)()
    assert answer["code"] == "invalid" and answer["field"] == "deployment"
    assert bad["code"] == "bad_message"


def test_a_socket_without_a_same_site_origin_is_refused(user):
    from execution.push.routing import websocket_application
    from execution.tests.push.conftest import Socket

    async def scenario():
        comm = Socket(
            websocket_application(), "/ws/live/", headers=[(b"origin", b"http://evil.example")]
        )
        connected, _ = await comm.connect()
        return connected

    assert async_to_sync(scenario)() is False


def test_subscriptions_are_bounded_and_can_be_dropped(user, settings):
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "MAX_SUBSCRIPTIONS": 1}
    first, second = (deploy(make_strategy(user)) for _ in range(2))
    cookie = session_cookie(user)

    async def scenario():
        comm = await open_socket(cookie=cookie)
        answers = []
        for msg in (
            {"type": "subscribe", "deployment": first.pk},
            {"type": "subscribe", "deployment": second.pk},
            {"type": "unsubscribe", "deployment": first.pk},
            {"type": "subscribe", "deployment": second.pk},
        ):
            await comm.send_json_to(msg)
            answers.append(await receive(comm))
        await comm.disconnect()
        return answers

    subscribed, refused, dropped, subscribed_again = async_to_sync(scenario)()
    assert subscribed["type"] == "subscribed" and subscribed["deployment"] == first.pk
    assert refused["code"] == "too_many_subscriptions"
    assert dropped == {"type": "unsubscribed", "deployment": first.pk}
    assert subscribed_again["type"] == "subscribed" and subscribed_again["deployment"] == second.pk
