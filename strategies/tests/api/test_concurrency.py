"""Racing requests: the row locks in the lifecycle services let exactly one deploy through.

Only PostgreSQL has the row locks (and the concurrent writers) this is about; SQLite serialises
every writer on one file lock, so the race cannot happen there and the test is skipped.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from strategies.models import Deployment, Strategy, StrategyEvent, StrategyStatus
from strategies.tests.factories import StrategyFactory

THREADS = 20

pytestmark = [
    pytest.mark.skipif(
        "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: SQLite has no row locks and serialises all writers",
    ),
    # transaction=True so each thread sees committed rows. The flush after the test then empties
    # only the tables of available_apps, so the instruments and bars the migrations seeded stay
    # for the tests that run after this one.
    pytest.mark.django_db(
        transaction=True,
        available_apps=["accounts", "strategies", "rest_framework_simplejwt.token_blacklist"],
    ),
    pytest.mark.timeout(120),
]


def _race(user, urls: list[str]) -> list[int]:
    """POST each url from its own thread and client, all released at once; return statuses."""
    token = str(AccessToken.for_user(user))
    barrier = threading.Barrier(len(urls), timeout=60)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(target: str) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait()
            response = client.post(target, {}, format="json")
            with lock:
                statuses.append(response.status_code)
        except BaseException as e:  # surfaced in the main thread below
            with lock:
                errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a request hung"
    assert not errors, errors
    return statuses


def test_twenty_simultaneous_deploys_start_exactly_one_run(user):
    strategy = StrategyFactory(owner=user)

    statuses = _race(user, [f"/api/strategies/{strategy.pk}/deploy/"] * THREADS)

    assert Counter(statuses) == {201: 1, 409: THREADS - 1}
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.RUNNING
    assert Deployment.objects.filter(strategy=strategy).count() == 1
    assert StrategyEvent.objects.filter(strategy=strategy).count() == 1
    assert Deployment.objects.get(strategy=strategy).number == 1


def test_simultaneous_deploys_of_different_strategies_respect_the_running_cap(user, settings):
    cap = 5
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_RUNNING_DEPLOYMENTS_PER_USER": cap}
    strategies = StrategyFactory.create_batch(THREADS, owner=user)

    statuses = _race(user, [f"/api/strategies/{s.pk}/deploy/" for s in strategies])

    assert Counter(statuses) == {201: cap, 403: THREADS - cap}
    running = Strategy.objects.filter(owner=user, status=StrategyStatus.RUNNING)
    assert running.count() == cap
    assert Deployment.objects.filter(strategy__owner=user).count() == cap
    assert StrategyEvent.objects.filter(strategy__owner=user).count() == cap
