"""List endpoints cost the same number of queries for 2 rows as for 30 (no N+1)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from algosaas.cache import invalidate
from execution.models import Instrument
from execution.selectors import INSTRUMENTS_NAMESPACE
from strategies import services
from strategies.tests.factories import StrategyFactory, ensure_seeded_instruments
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def queries_for(client, url: str, rows: int) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"page_size": 100})
    assert response.status_code == 200
    assert len(response.json()["results"]) == rows  # the page really holds that many rows
    return len(ctx.captured_queries)


def assert_constant(client, url: str, few: int, grow, many: int, django_assert_max_num_queries):
    client.get(url)  # warm per-process caches so they do not count against the first call
    baseline = queries_for(client, url, few)
    grow()
    with django_assert_max_num_queries(baseline):
        assert queries_for(client, url, many) == baseline


def _cycles(strategy, n: int, actors) -> None:
    """Run ``n`` deploy/stop cycles, alternating actors, the last one ending in a failure."""
    for i in range(n):
        actor = actors[i % len(actors)]
        services.strategy_deploy(strategy=strategy, actor=actor)
        if i == n - 1:
            services.strategy_fail(strategy_id=strategy.pk, reason="feed died")
        else:
            services.strategy_stop(strategy=strategy, actor=actor)


def test_strategy_list(api_client, user, django_assert_max_num_queries):
    ensure_seeded_instruments()
    StrategyFactory.create_batch(2, owner=user)
    instruments = list(Instrument.objects.all())

    def grow():
        for i in range(28):
            StrategyFactory(owner=user, instrument=instruments[i % len(instruments)])

    assert_constant(api_client, "/api/strategies/", 2, grow, 30, django_assert_max_num_queries)


def test_events(api_client, user, django_assert_max_num_queries):
    strategy = StrategyFactory(owner=user)
    _cycles(strategy, 1, [user])  # deploy + fail: 2 events
    others = [UserFactory(is_staff=True) for _ in range(3)]

    def grow():
        services.strategy_deploy(strategy=strategy, actor=user)
        services.strategy_stop(strategy=strategy, actor=others[0])
        _cycles(strategy, 13, [user, *others])  # 26 more: several actors and "system"

    url = f"/api/strategies/{strategy.pk}/events/"
    assert_constant(api_client, url, 2, grow, 30, django_assert_max_num_queries)


def test_deployments(api_client, user, django_assert_max_num_queries):
    strategy = StrategyFactory(owner=user)
    _cycles(strategy, 2, [user])

    def grow():
        _cycles(strategy, 28, [user])

    url = f"/api/strategies/{strategy.pk}/deployments/"
    assert_constant(api_client, url, 2, grow, 30, django_assert_max_num_queries)


def test_instruments(api_client, django_assert_max_num_queries):
    ensure_seeded_instruments()

    def grow():
        Instrument.objects.bulk_create(
            Instrument(exchange="SYNTH", symbol=f"SYN{i}", name=f"Synthetic {i}") for i in range(17)
        )
        invalidate(INSTRUMENTS_NAMESPACE)  # the list is cached; bulk_create sends no signal

    assert_constant(api_client, "/api/instruments/", 13, grow, 30, django_assert_max_num_queries)
