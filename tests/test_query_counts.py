"""The endpoints the load benchmark drives run a fixed, small number of queries (no N+1).

Counts are pinned exactly: a change that adds a query per row, or one more per request, fails
here first. Lists are measured with a few rows and with many.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from execution.services.live import order_place
from strategies.services import strategy_deploy
from strategies.tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db


def _count(callable_):
    with CaptureQueriesContext(connection) as ctx:
        response = callable_()
    assert response.status_code < 400, response.content
    return len(ctx.captured_queries)


@pytest.fixture
def running(user):
    strategy = StrategyFactory(
        owner=user, timeframe="5s", product="MIS", quantity=1, allocation_pct=None
    )
    return strategy, strategy_deploy(strategy=strategy, actor=user)


def _place(deployment, n):
    for _ in range(n):
        order_place(deployment=deployment, side="BUY", order_type="LIMIT", quantity=1, price="1.00")


def test_orders_list_is_constant_in_the_number_of_orders(api_client, running):
    _, deployment = running
    _place(deployment, 2)
    url = "/api/orders/?status=OPEN&side=BUY"
    few = _count(lambda: api_client.get(url))
    _place(deployment, 20)
    assert _count(lambda: api_client.get(url)) == few
    assert few == 3  # user, count, page


def test_strategy_detail_runs_three_queries(api_client, user):
    strategy = StrategyFactory(owner=user)
    # user, strategy with its instrument, its basket members (prefetched: one query for any size)
    assert _count(lambda: api_client.get(f"/api/strategies/{strategy.pk}/")) == 3


def test_deploy_and_stop_run_a_bounded_number_of_queries(api_client, user):
    strategy = StrategyFactory(
        owner=user, timeframe="5s", product="MIS", quantity=1, allocation_pct=None
    )
    deploy = _count(
        lambda: api_client.post(f"/api/strategies/{strategy.pk}/deploy/", {}, format="json")
    )
    stop = _count(
        lambda: api_client.post(f"/api/strategies/{strategy.pk}/stop/", {}, format="json")
    )
    # 14 before baskets, + the members once: the snapshot reads the locked row's basket (the
    # API's read of the strategy leaves it to the service)
    assert deploy == 15
    # the answer's currency reads the stopped strategy's instrument; + the members once, as
    # the answer lists the stopped strategy's basket
    assert stop == 13


def test_manual_order_placement_is_constant_in_the_number_of_open_orders(api_client, running):
    _, deployment = running
    url = f"/api/deployments/{deployment.pk}/orders/"
    body = {"side": "BUY", "order_type": "LIMIT", "quantity": 1, "price": "1.00"}
    first = _count(lambda: api_client.post(url, body, format="json"))
    _place(deployment, 20)
    assert _count(lambda: api_client.post(url, body, format="json")) == first
    # user, deployment, savepoint, lock live state, client id check, order, events, live
    # state, the paper broker's record of the order, release: the order comes back from the
    # write, not read again; the other open orders are neither read nor written
    assert first == 10
