"""Tenant isolation: another user's strategy answers exactly like one that does not exist."""

from __future__ import annotations

import pytest

from strategies.models import Deployment, Strategy, StrategyEvent, StrategyStatus
from strategies.tests.factories import StrategyFactory, put_in_status

S = StrategyStatus
pytestmark = pytest.mark.django_db

# (method, action, body, the status in which the owner's own request would succeed)
ENDPOINTS = [
    ("get", "", None, S.INACTIVE),
    ("put", "", "full", S.INACTIVE),
    ("patch", "", {"name": "hijacked", "timeframe": "5m"}, S.INACTIVE),
    ("delete", "", None, S.INACTIVE),
    ("post", "deploy", None, S.INACTIVE),
    ("post", "stop", {"square_off": True}, S.RUNNING),
    ("post", "archive", None, S.STOPPED),
    ("get", "events", None, S.STOPPED),
    ("get", "deployments", None, S.STOPPED),
]
IDS = [f"{m}-{a or 'detail'}" for m, a, _, _ in ENDPOINTS]


def url(pk, action: str) -> str:
    return f"/api/strategies/{pk}/{action + '/' if action else ''}"


def call(client, method, pk, action, body, strategy):
    if body == "full":
        body = {
            "name": "hijacked",
            "strategy_type": "ema_crossover",
            "instrument": strategy.instrument_id,
            "quantity": 1,
        }
    kwargs = {"format": "json"} if body is not None else {}
    return getattr(client, method)(url(pk, action), body, **kwargs)


def db_state():
    return (
        list(Strategy.objects.order_by("pk").values()),
        list(StrategyEvent.objects.order_by("pk").values()),
        list(Deployment.objects.order_by("pk").values()),
    )


@pytest.mark.parametrize(("method", "action", "body", "status"), ENDPOINTS, ids=IDS)
def test_another_users_strategy_is_a_404_and_nothing_changes(
    method, action, body, status, user, api_client, other_client
):
    strategy = put_in_status(StrategyFactory(owner=user), status, actor=user)
    before = db_state()

    response = call(other_client, method, strategy.pk, action, body, strategy)

    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert db_state() == before
    # Exactly the answer for an id that does not exist at all.
    missing = call(other_client, method, strategy.pk + 10_000, action, body, strategy)
    assert (missing.status_code, missing.json()) == (404, response.json())
    # And the owner's identical request would have worked: the 404 is isolation, not a typo.
    assert call(api_client, method, strategy.pk, action, body, strategy).status_code < 300


@pytest.mark.parametrize("bad_id", ["abc", "-1", "0", "99999999999999999999999", "1e3"])
@pytest.mark.parametrize(("method", "action", "body", "status"), ENDPOINTS, ids=IDS)
def test_non_numeric_or_out_of_range_ids_are_404(
    bad_id, method, action, body, status, user, api_client
):
    strategy = StrategyFactory(owner=user)
    response = call(api_client, method, bad_id, action, body, strategy)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"


def test_the_list_never_shows_foreign_rows(user, other_user, api_client, other_client):
    mine = StrategyFactory(owner=user, name="shared name")
    theirs = StrategyFactory(owner=other_user, name="shared name")
    put_in_status(theirs, S.RUNNING, actor=other_user)
    archived = StrategyFactory(owner=other_user, name="their archived")
    other_client.post(url(archived.pk, "archive"))

    for params in (
        {},
        {"search": "shared"},
        {"status": "RUNNING"},
        {"archived": "true"},
        {"instrument": theirs.instrument_id},
        {"page_size": 200},
    ):
        response = api_client.get("/api/strategies/", params)
        assert response.status_code == 200
        ids = {row["id"] for row in response.json()["results"]}
        assert theirs.pk not in ids and archived.pk not in ids
        assert response.json()["count"] == len(ids)
    assert {r["id"] for r in api_client.get("/api/strategies/").json()["results"]} == {mine.pk}
    assert {r["id"] for r in other_client.get("/api/strategies/").json()["results"]} == {theirs.pk}


def test_names_do_not_leak_across_users(api_client, other_user):
    """Creating a strategy named like someone else's works, so the name reveals nothing."""
    foreign = StrategyFactory(owner=other_user, name="Secret alpha")
    response = api_client.post(
        "/api/strategies/",
        {
            "name": "Secret alpha",
            "strategy_type": "sma_crossover",
            "instrument": foreign.instrument_id,
            "allocation_pct": "10",
        },
        format="json",
    )
    assert response.status_code == 201
