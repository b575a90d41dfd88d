"""The strategy lifecycle through the API: deploy, stop, redeploy, archive, the events and
deployments of a strategy, edits refused while running, and the per-user caps."""

from __future__ import annotations

import pytest

from strategies import services
from strategies.models import Deployment, Strategy, StrategyEvent
from strategies.tests.api.strategy_api import (
    DEPLOYMENT_FIELDS,
    URL,
    S,
    detail,
    error,
    names,
    payload,
    post,
)
from strategies.tests.factories import StrategyFactory, put_in_status

pytestmark = pytest.mark.django_db


# --- Lifecycle actions ----------------------------------------------------------------------


def test_deploy(api_client, user):
    strategy = StrategyFactory(owner=user)
    response = post(api_client, detail(strategy.pk, "deploy"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == DEPLOYMENT_FIELDS
    deployment = Deployment.objects.get()
    assert body["id"] == deployment.pk and body["strategy"] == strategy.pk
    assert body["number"] == 1 and body["status"] == "RUNNING"
    assert body["capital"] == "100000.00" and body["stopped_at"] is None
    assert body["square_off"] is False
    assert body["config"]["params"] == strategy.params
    assert body["config"]["instrument"]["symbol"] == "RELIANCE"
    assert api_client.get(detail(strategy.pk)).json()["status"] == "RUNNING"
    event = StrategyEvent.objects.get()
    assert event.actor == user and event.deployment == deployment


def test_deploy_while_running_is_a_conflict(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    response = post(api_client, detail(strategy.pk, "deploy"))
    assert response.status_code == 409
    err = error(response)
    assert err["code"] == "invalid_transition" and err["current_state"] == "RUNNING"
    assert Deployment.objects.filter(strategy=strategy).count() == 1
    assert strategy.events.count() == 1


def test_redeploy_through_the_api(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.ERROR, actor=user)
    response = post(api_client, detail(strategy.pk, "deploy"))
    assert response.status_code == 201 and response.json()["number"] == 2
    runs = api_client.get(detail(strategy.pk, "deployments")).json()
    assert [(d["number"], d["status"]) for d in runs["results"]] == [(2, "RUNNING"), (1, "ERROR")]


def test_stop_with_square_off(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    response = post(api_client, detail(strategy.pk, "stop"), {"square_off": True})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "STOPPED"
    deployment = strategy.deployments.get()
    assert deployment.status == "STOPPED" and deployment.square_off is True
    assert deployment.stopped_at is not None
    runs = api_client.get(detail(strategy.pk, "deployments")).json()["results"]
    assert runs[0]["square_off"] is True and runs[0]["stopped_at"]


def test_stop_without_body_does_not_square_off(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    assert post(api_client, detail(strategy.pk, "stop")).status_code == 200
    assert strategy.deployments.get().square_off is False


def test_stop_with_an_invalid_body(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    response = post(api_client, detail(strategy.pk, "stop"), {"square_off": "perhaps"})
    assert response.status_code == 400 and "square_off" in error(response)["fields"]
    strategy.refresh_from_db()
    assert strategy.status == S.RUNNING


@pytest.mark.parametrize("status", [S.INACTIVE, S.STOPPED, S.ERROR])
def test_stop_when_not_running_is_a_conflict(status, api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), status, actor=user)
    events = strategy.events.count()
    response = post(api_client, detail(strategy.pk, "stop"), {"square_off": True})
    assert response.status_code == 409
    assert error(response)["current_state"] == status
    strategy.refresh_from_db()
    assert strategy.status == status and strategy.events.count() == events


@pytest.mark.parametrize(
    "change",
    [
        {"params": {"fast": 3, "slow": 9}},
        {"timeframe": "5m"},
        {"quantity": 5},
        {"strategy_type": "ema_crossover"},
        {"capital": "5000"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_editing_trading_fields_while_running_is_a_conflict(change, api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    before = api_client.get(detail(strategy.pk)).json()
    response = api_client.patch(detail(strategy.pk), change, format="json")
    assert response.status_code == 409
    err = error(response)
    assert err["code"] == "strategy_running" and err["current_state"] == "RUNNING"
    assert next(iter(change)) in err["fields"]
    assert api_client.get(detail(strategy.pk)).json() == before


def test_renaming_while_running_is_allowed(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    response = api_client.patch(detail(strategy.pk), {"name": "Still running"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Still running"
    # Sending back what GET returned, with a new name, is a rename too.
    body = api_client.get(detail(strategy.pk)).json()
    body["name"] = "Renamed again"
    response = api_client.put(detail(strategy.pk), body, format="json")
    assert response.status_code == 200, response.content
    strategy.refresh_from_db()
    assert strategy.name == "Renamed again" and strategy.status == S.RUNNING


def test_archive(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.STOPPED, actor=user)
    response = post(api_client, detail(strategy.pk, "archive"))
    assert response.status_code == 200
    assert response.json()["archived_at"] is not None
    assert response.json()["status"] == "STOPPED"
    assert names(api_client.get(URL)) == []
    assert api_client.get(detail(strategy.pk)).status_code == 200
    assert api_client.get(detail(strategy.pk, "deployments")).json()["count"] == 1


def test_an_archived_strategy_cannot_be_deployed(api_client, user):
    strategy = StrategyFactory(owner=user)
    post(api_client, detail(strategy.pk, "archive"))
    response = post(api_client, detail(strategy.pk, "deploy"))
    assert 400 <= response.status_code < 500
    error(response)
    strategy.refresh_from_db()
    assert strategy.status == S.INACTIVE
    assert not strategy.deployments.exists() and not strategy.events.exists()


def test_a_running_strategy_cannot_be_archived(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    response = post(api_client, detail(strategy.pk, "archive"))
    assert response.status_code == 409
    assert error(response)["current_state"] == "RUNNING"
    strategy.refresh_from_db()
    assert strategy.archived_at is None


def test_events_newest_first_with_actor(api_client, user):
    strategy = StrategyFactory(owner=user)
    post(api_client, detail(strategy.pk, "deploy"))
    post(api_client, detail(strategy.pk, "stop"))
    post(api_client, detail(strategy.pk, "deploy"))
    services.strategy_fail(strategy_id=strategy.pk, reason="market data feed died")
    response = api_client.get(detail(strategy.pk, "events"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    rows = [(e["trigger"], e["from_status"], e["to_status"], e["actor"]) for e in body["results"]]
    assert rows == [
        ("fail", "RUNNING", "ERROR", "system"),
        ("deploy", "STOPPED", "RUNNING", user.email),
        ("stop", "RUNNING", "STOPPED", user.email),
        ("deploy", "INACTIVE", "RUNNING", user.email),
    ]
    assert body["results"][0]["reason"] == "market data feed died"
    numbers = dict(Deployment.objects.values_list("pk", "number"))
    assert [numbers[e["deployment"]] for e in body["results"]] == [2, 2, 1, 1]
    shown = api_client.get(detail(strategy.pk)).json()
    assert shown["status"] == "ERROR" and shown["status_reason"] == "market data feed died"


def test_deployments_endpoint(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.STOPPED, actor=user)
    services.strategy_deploy(strategy=strategy, actor=user)
    response = api_client.get(detail(strategy.pk, "deployments"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [d["number"] for d in body["results"]] == [2, 1]
    assert all(set(d) == DEPLOYMENT_FIELDS for d in body["results"])
    assert [d["status"] for d in body["results"]] == ["RUNNING", "STOPPED"]


# --- Caps -----------------------------------------------------------------------------------


def test_strategy_cap(api_client, user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_STRATEGIES_PER_USER": 2}
    StrategyFactory.create_batch(2, owner=user)
    response = post(api_client, URL, payload())
    assert response.status_code == 403
    assert error(response)["code"] == "limit_exceeded"
    assert Strategy.objects.filter(owner=user).count() == 2


def test_running_cap(api_client, user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_RUNNING_DEPLOYMENTS_PER_USER": 1}
    running = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    waiting = StrategyFactory(owner=user)
    response = post(api_client, detail(waiting.pk, "deploy"))
    assert response.status_code == 403
    assert error(response)["code"] == "limit_exceeded"
    waiting.refresh_from_db()
    assert waiting.status == S.INACTIVE
    assert not waiting.deployments.exists() and not waiting.events.exists()
    # Stopping the running one frees the slot.
    post(api_client, detail(running.pk, "stop"))
    assert post(api_client, detail(waiting.pk, "deploy")).status_code == 201
