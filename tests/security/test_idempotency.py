"""``Idempotency-Key`` on every POST that creates orders or starts deployments or backtests.

Same key and same body: the first response again (same id, ``Idempotent-Replayed: true``) and
nothing created twice. Same key, another body: 422. Same key while the first request is still
running: 409. Two requests racing with one key create one object (PostgreSQL: real concurrent
transactions). Keys are per user: someone else's key never replays to you.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from algosaas.api import idempotency
from algosaas.api.idempotency import _fingerprint
from algosaas.models import IdempotencyKey
from execution.models import Backtest, Order
from execution.services.backtests import backtest_request
from execution.services.live import order_place
from optimisation.models import RobustnessKind, RobustnessRun, Sweep
from optimisation.robustness import monte_carlo_request, walk_forward_request
from optimisation.services import sweep_request
from strategies.models import Deployment
from tests.security.conftest import build_estate, make_strategy

HEADER = "HTTP_IDEMPOTENCY_KEY"


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: Callable[[object], str]  # estate -> URL
    body: dict
    other_body: dict
    status: int
    count: Callable[[object], int]  # estate -> how many objects of its kind exist


ENDPOINTS = [
    Endpoint(
        "order",
        lambda e: f"/api/deployments/{e.deployment.pk}/orders/",
        {"side": "BUY", "order_type": "MARKET", "quantity": 1},
        {"side": "SELL", "order_type": "MARKET", "quantity": 1},
        201,
        lambda e: Order.objects.filter(deployment=e.deployment, source="manual").count(),
    ),
    Endpoint(
        "deploy",
        lambda e: f"/api/strategies/{e.inactive.pk}/deploy/",
        {"feed": "synthetic"},
        {"feed": "replay"},
        201,
        lambda e: Deployment.objects.filter(strategy=e.inactive).count(),
    ),
    Endpoint(
        "backtest",
        lambda e: f"/api/strategies/{e.inactive.pk}/backtests/",
        {"slippage_bps": "1.00"},
        {"slippage_bps": "2.00"},
        202,
        lambda e: Backtest.objects.filter(strategy=e.inactive).count(),
    ),
    Endpoint(
        "sweep",
        lambda e: f"/api/strategies/{e.inactive.pk}/optimisations/",
        {"space": {"fast": [2, 3]}},
        {"space": {"fast": [2, 4]}},
        202,
        lambda e: Sweep.objects.filter(strategy=e.inactive).count(),
    ),
    Endpoint(
        "walk-forward",
        lambda e: f"/api/strategies/{e.inactive.pk}/walk-forward/",
        {"space": {"fast": [2, 3]}, "windows": 2, "in_sample_ratio": 1.0},
        {"space": {"fast": [2, 4]}, "windows": 2, "in_sample_ratio": 1.0},
        202,
        lambda e: RobustnessRun.objects.filter(
            strategy=e.inactive, kind=RobustnessKind.WALK_FORWARD
        ).count(),
    ),
    Endpoint(
        "monte-carlo",
        lambda e: f"/api/backtests/{e.backtest.pk}/monte-carlo/",
        {"paths": 10},
        {"paths": 11},
        201,
        lambda e: RobustnessRun.objects.filter(backtest=e.backtest).count(),
    ),
]
ids = [e.name for e in ENDPOINTS]
# the endpoints whose parent is a strategy (``estate.inactive``)
ON_STRATEGY = [e for e in ENDPOINTS[1:] if e.name != "monte-carlo"]


@pytest.fixture
def estate(user):
    return build_estate(user)


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_the_same_key_and_body_replays_the_first_response(estate, api_client, endpoint):
    url = endpoint.url(estate)
    before = endpoint.count(estate)

    first = api_client.post(url, endpoint.body, format="json", **{HEADER: "k-1"})
    again = api_client.post(url, endpoint.body, format="json", **{HEADER: "k-1"})

    assert first.status_code == endpoint.status, first.content
    assert again.status_code == endpoint.status
    assert again.json()["id"] == first.json()["id"]
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert endpoint.count(estate) == before + 1


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_the_same_key_with_another_body_is_422(estate, api_client, endpoint):
    url = endpoint.url(estate)
    api_client.post(url, endpoint.body, format="json", **{HEADER: "k-2"})
    before = endpoint.count(estate)

    response = api_client.post(url, endpoint.other_body, format="json", **{HEADER: "k-2"})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert endpoint.count(estate) == before


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_the_same_key_while_the_first_request_runs_is_409(estate, api_client, endpoint):
    url = endpoint.url(estate)
    request = SimpleNamespace(method="POST", path=url, data=endpoint.body)
    IdempotencyKey.objects.create(
        user=estate.owner,
        key="k-3",
        scope=f"POST {url}",
        request_hash=_fingerprint(request),
        state=IdempotencyKey.State.IN_FLIGHT,
    )
    before = endpoint.count(estate)

    response = api_client.post(url, endpoint.body, format="json", **{HEADER: "k-3"})

    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "idempotency_key_in_flight"
    assert endpoint.count(estate) == before


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ON_STRATEGY, ids=[e.name for e in ON_STRATEGY])
def test_a_key_is_bound_to_its_endpoint(estate, api_client, endpoint):
    """The fingerprint covers the path: a key reused on another object is refused, not replayed."""
    api_client.post(endpoint.url(estate), endpoint.body, format="json", **{HEADER: "k-4"})
    other = SimpleNamespace(inactive=make_strategy(estate.owner, name="Other"))

    response = api_client.post(endpoint.url(other), endpoint.body, format="json", **{HEADER: "k-4"})

    assert response.status_code == 422
    assert endpoint.count(other) == 0


@pytest.mark.django_db
def test_keys_are_per_user_and_never_replay_another_users_response(user, other_user):
    mine, theirs = build_estate(user), build_estate(other_user, marker="Theirs")
    clients = {}
    for u in (user, other_user):
        clients[u.pk] = APIClient()
        clients[u.pk].credentials(
            HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(u).access_token}"
        )
    body = {"side": "BUY", "order_type": "MARKET", "quantity": 1}

    a = clients[user.pk].post(
        f"/api/deployments/{mine.deployment.pk}/orders/", body, format="json", **{HEADER: "shared"}
    )
    b = clients[other_user.pk].post(
        f"/api/deployments/{theirs.deployment.pk}/orders/",
        body,
        format="json",
        **{HEADER: "shared"},
    )
    # The other user sending the same key to the FIRST user's deployment gets a 404, not a replay.
    c = clients[other_user.pk].post(
        f"/api/deployments/{mine.deployment.pk}/orders/", body, format="json", **{HEADER: "shared"}
    )

    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert "Idempotent-Replayed" not in b
    assert c.status_code in (404, 422)
    assert "Idempotent-Replayed" not in c
    assert Order.objects.get(pk=b.json()["id"]).deployment == theirs.deployment


@pytest.mark.django_db
def test_a_refused_request_does_not_burn_its_key(estate, api_client):
    url = f"/api/deployments/{estate.deployment.pk}/orders/"
    bad = api_client.post(url, {"side": "BUY"}, format="json", **{HEADER: "k-5"})
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.filter(key="k-5").exists()


# --- Racing requests (PostgreSQL) ----------------------------------------------------------------
# Committed transactions, so the flush after each test empties every table: the estate's
# factories re-seed the instruments they need (``ensure_seeded_instruments``). Not
# ``serialized_rollback``: after another module's flush recreated the content types with new
# ids, restoring the serialized ones collided with them.


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs real concurrent transactions (PostgreSQL)"
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_two_racing_requests_with_one_key_create_one_object(user, endpoint):
    estate = build_estate(user)
    url = endpoint.url(estate)
    before = endpoint.count(estate)
    token = str(RefreshToken.for_user(user).access_token)
    rounds, racers = 3, 2
    responses = []
    for n in range(rounds):
        barrier = threading.Barrier(racers)
        results: list = [None] * racers

        def race(i: int, key: str = f"race-{n}", barrier=barrier, results=results) -> None:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            try:
                barrier.wait(timeout=10)
                results[i] = client.post(url, endpoint.body, format="json", **{HEADER: key})
            finally:
                connection.close()

        threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        responses.append(results)
        created = [r for r in results if r.status_code == endpoint.status]
        assert created, [r.content for r in results]
        assert all(r.status_code in (endpoint.status, 409) for r in results), [
            (r.status_code, r.content) for r in results
        ]
        assert len({r.json()["id"] for r in created}) == 1
        if endpoint.name == "deploy":
            break  # the strategy now runs; a second deploy would be refused as a conflict
    made = endpoint.count(estate) - before
    assert made == len(responses), f"{made} objects for {len(responses)} keys"


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["a\x00b", "x" * 256])
def test_a_key_the_database_cannot_store_is_a_400(user, api_client, key):
    """A NUL made PostgreSQL refuse the INSERT (a 500, found by schemathesis); too long, too."""
    strategy = make_strategy(user)
    response = api_client.post(
        f"/api/strategies/{strategy.pk}/backtests/", {}, format="json", **{HEADER: key}
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert not strategy.backtests.exists()


# ------------------------------------------------------------- a request that died mid-way


def _dead_request(estate, url: str, body: dict, key: str) -> IdempotencyKey:
    """The key row a request leaves when its worker is killed: IN_FLIGHT, its lease over."""
    request = SimpleNamespace(method="POST", path=url, data=body)
    return IdempotencyKey.objects.create(
        user=estate.owner,
        key=key,
        scope=f"POST {url}",
        request_hash=_fingerprint(request),
        expires_at=timezone.now() - timedelta(seconds=1),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_a_key_whose_request_died_is_released_after_its_lease(estate, api_client, endpoint):
    url = endpoint.url(estate)
    record = _dead_request(estate, url, endpoint.body, "k-dead")
    before = endpoint.count(estate)

    retry = api_client.post(url, endpoint.body, format="json", **{HEADER: "k-dead"})
    assert retry.status_code == endpoint.status, retry.content
    assert endpoint.count(estate) == before + 1
    record.refresh_from_db()
    assert record.state == IdempotencyKey.State.DONE
    again = api_client.post(url, endpoint.body, format="json", **{HEADER: "k-dead"})
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == retry.json()["id"]
    assert endpoint.count(estate) == before + 1


@pytest.mark.django_db
def test_a_retry_finds_the_order_its_dead_request_placed(estate, api_client):
    """The worker died after the order was committed, before the key was marked done."""
    url = ENDPOINTS[0].url(estate)
    body = {"side": "BUY", "order_type": "MARKET", "quantity": 1}
    record = _dead_request(estate, url, body, "k-placed")
    placed = order_place(
        deployment=estate.deployment,
        client_order_id=f"m{estate.deployment.pk}-k{record.pk}",  # the key's link
        **body,
    )
    before = ENDPOINTS[0].count(estate)

    retry = api_client.post(url, body, format="json", **{HEADER: "k-placed"})
    assert retry.status_code == 201, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == placed.pk
    assert ENDPOINTS[0].count(estate) == before  # nothing placed twice
    record.refresh_from_db()
    assert record.state == IdempotencyKey.State.DONE and record.response_body["id"] == placed.pk


@pytest.mark.django_db
def test_a_retry_finds_the_backtest_its_dead_request_queued(estate, api_client):
    """The worker died after the backtest was committed (and its task sent), before the key was
    marked done: the retry that takes the key over answers with that backtest, not a second."""
    url = f"/api/strategies/{estate.inactive.pk}/backtests/"
    body = {"slippage_bps": "1.00"}
    record = _dead_request(estate, url, body, "k-queued")
    queued = backtest_request(
        strategy=estate.inactive,
        user=estate.owner,
        slippage_bps=Decimal("1.00"),
        request_token=f"k{record.pk}",  # the key's link, as the endpoint writes it
    )
    before = Backtest.objects.filter(strategy=estate.inactive).count()

    retry = api_client.post(url, body, format="json", **{HEADER: "k-queued"})
    assert retry.status_code == 202, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == queued.pk
    assert Backtest.objects.filter(strategy=estate.inactive).count() == before  # not queued twice
    record.refresh_from_db()
    assert record.state == IdempotencyKey.State.DONE and record.response_body["id"] == queued.pk


@pytest.mark.django_db
def test_a_keyed_backtest_carries_its_keys_link(estate, api_client):
    """What the recovery above relies on: the endpoint writes the key's token on the backtest,
    and a backtest queued without a key carries none."""
    url = f"/api/strategies/{estate.inactive.pk}/backtests/"
    keyed = api_client.post(url, {}, format="json", **{HEADER: "k-link"}).json()["id"]
    plain = api_client.post(url, {"slippage_bps": "2"}, format="json").json()["id"]
    record = IdempotencyKey.objects.get(user=estate.owner, key="k-link")
    assert Backtest.objects.get(pk=keyed).request_token == f"k{record.pk}"
    assert Backtest.objects.get(pk=plain).request_token == ""


@pytest.mark.django_db
def test_one_request_takes_over_an_expired_key_and_the_dead_one_cannot_finish(estate):
    url = ENDPOINTS[0].url(estate)
    record = _dead_request(estate, url, ENDPOINTS[0].body, "k-race")
    seen_by_a = IdempotencyKey.objects.get(pk=record.pk)
    seen_by_b = IdempotencyKey.objects.get(pk=record.pk)

    assert idempotency._takeover(seen_by_a) is not None  # compare-and-set on the lease
    assert idempotency._takeover(seen_by_b) is None  # read the same expired row, lost
    assert idempotency._takeover(IdempotencyKey.objects.get(pk=record.pk)) is None  # live now

    # the request presumed dead wakes up: its answer and its release are fenced off
    idempotency._finish(record, Response({"id": 1}, status=201))
    idempotency._release(record)
    row = IdempotencyKey.objects.get(pk=record.pk)
    assert row.state == IdempotencyKey.State.IN_FLIGHT and row.expires_at == seen_by_a.expires_at


# Each job endpoint's service, starting its job as the endpoint would with the key's token.
JOB_STARTS = {
    "sweep": lambda e, token: sweep_request(
        strategy=e.inactive, user=e.owner, space={"fast": [2, 3]}, request_token=token
    ),
    "walk-forward": lambda e, token: walk_forward_request(
        strategy=e.inactive,
        user=e.owner,
        space={"fast": [2, 3]},
        windows=2,
        in_sample_ratio=1.0,
        request_token=token,
    ),
    "monte-carlo": lambda e, token: monte_carlo_request(
        backtest=e.backtest, user=e.owner, paths=10, request_token=token
    ),
}
JOBS = [e for e in ENDPOINTS if e.name in JOB_STARTS]


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", JOBS, ids=[e.name for e in JOBS])
def test_a_retry_finds_the_job_its_dead_request_started(estate, api_client, endpoint):
    """A sweep, walk-forward or Monte Carlo committed by a request that died before its key was
    marked done: the retry that takes the key over answers with it, not with a second one."""
    url = endpoint.url(estate)
    record = _dead_request(estate, url, endpoint.body, f"k-{endpoint.name}")
    started = JOB_STARTS[endpoint.name](estate, f"k{record.pk}")  # the key's link
    before = endpoint.count(estate)

    retry = api_client.post(url, endpoint.body, format="json", **{HEADER: f"k-{endpoint.name}"})
    assert retry.status_code == endpoint.status, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == started.pk
    assert endpoint.count(estate) == before  # not started twice
    record.refresh_from_db()
    assert record.state == IdempotencyKey.State.DONE and record.response_body["id"] == started.pk


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", JOBS, ids=[e.name for e in JOBS])
def test_a_keyed_job_carries_its_keys_link(estate, api_client, endpoint, settings):
    """What the recovery above relies on: the endpoint writes the key's token on the job, and a
    job started without a key carries none."""
    # the estate's queued walk-forward and the keyed one would fill the default cap of 2
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_RUNNING_WALK_FORWARDS_PER_USER": 3}
    url = endpoint.url(estate)
    keyed = api_client.post(url, endpoint.body, format="json", **{HEADER: "k-link"}).json()["id"]
    plain = api_client.post(url, endpoint.other_body, format="json").json()["id"]
    record = IdempotencyKey.objects.get(user=estate.owner, key="k-link")
    model = Sweep if endpoint.name == "sweep" else RobustnessRun
    assert model.objects.get(pk=keyed).request_token == f"k{record.pk}"
    assert model.objects.get(pk=plain).request_token == ""
