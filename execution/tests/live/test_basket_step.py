"""A basket deployment on the synthetic live feed: every member stepped in the same step.

With an equal split of the capital and long-only trading no member can be short of the pool,
so each member must trade exactly as a single-instrument deployment of it on its cap would:
same orders and fills, and the basket's equity point is the sum of theirs.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution.models import EquitySnapshot, Order, Position, Trade
from execution.services.live import deployments_step
from execution.tests.live.conftest import at, deploy, live_of, make_strategy
from strategies.baskets import basket_replace
from strategies.tests.factories import seeded_instrument

pytestmark = pytest.mark.django_db

LONG = {"fast": 2, "slow": 5, "mode": "long_only"}
BARS = 40


def _align(single, basket) -> None:
    """Start ``single`` where ``basket`` starts (they were deployed a moment apart)."""
    b, s = live_of(basket), live_of(single)
    s.cursor_ts, s.history_start_ts = b.cursor_ts, b.history_start_ts
    s.engine_state = {**s.engine_state, "cursor": b.cursor_ts}
    s.save()


def _orders(deployment, instrument, prefix: str):
    return [
        (o.client_order_id.removeprefix(prefix), o.side, o.quantity, o.status, o.average_price)
        for o in Order.objects.filter(deployment=deployment, instrument=instrument).order_by("id")
    ]


def test_each_member_of_an_equal_split_trades_as_it_would_alone(user):
    rel, tcs = seeded_instrument("RELIANCE"), seeded_instrument("TCS")
    strategy = make_strategy(user, name="pair", params=LONG, capital=Decimal("200000.00"))
    basket_replace(
        strategy=strategy,
        members=[
            {"instrument": rel, "allocation_pct": None},
            {"instrument": tcs, "allocation_pct": None},
        ],
    )
    basket = deploy(strategy)
    singles = []
    for inst in (rel, tcs):
        s = deploy(make_strategy(user, name=inst.symbol, instrument=inst, params=LONG))
        _align(s, basket)
        singles.append(s)

    for k in range(BARS):
        now = at(basket, k)
        # one batch, as the dispatcher steps them: the basket's rows and the singles' together
        outcomes = deployments_step(deployment_ids=[d.pk for d in [basket, *singles]], now=now)
        assert [(o.status, o.bars) for o in outcomes] == [("stepped", 1)] * 3

    for n, (inst, single) in enumerate(zip((rel, tcs), singles, strict=True)):
        mine = _orders(basket, inst, f"d{basket.pk}m{n}")
        assert mine and mine == _orders(single, inst, f"d{single.pk}")
        pos = Position.objects.get(deployment=basket, instrument=inst)
        alone = Position.objects.get(deployment=single)
        assert (pos.quantity, pos.realised_pnl) == (alone.quantity, alone.realised_pnl)
    assert Trade.objects.filter(deployment=basket).count() == sum(
        Trade.objects.filter(deployment=s).count() for s in singles
    )
    total = list(EquitySnapshot.objects.filter(deployment=basket).values_list("ts", "equity"))
    assert len(total) == BARS
    parts = [
        dict(EquitySnapshot.objects.filter(deployment=s).values_list("ts", "equity"))
        for s in singles
    ]
    # each is rounded to paise apart: the sum may differ from the rounded total by a paisa
    assert all(abs(eq - parts[0][ts] - parts[1][ts]) <= Decimal("0.01") for ts, eq in total)
    assert [ts for ts, _ in total] == sorted(parts[0]) == sorted(parts[1])
    live = live_of(basket)
    assert live.bars_processed == BARS and live.cursor_ts == live_of(singles[0]).cursor_ts


def test_a_basket_is_not_stepped_on_a_brokers_bars(user):
    """Stepping a basket on a broker's bars is refused by name (the step would otherwise
    read the synthetic feed silently). Live mode is not: test_basket_live_broker.py."""
    from algosaas.errors import DomainError
    from execution.services.live import deployment_start_live

    rel, tcs = seeded_instrument("RELIANCE"), seeded_instrument("TCS")
    strategy = make_strategy(user, name="refused", params=LONG)
    basket_replace(
        strategy=strategy,
        members=[
            {"instrument": rel, "allocation_pct": None},
            {"instrument": tcs, "allocation_pct": None},
        ],
    )
    deployment = deploy(strategy)
    with pytest.raises(DomainError) as err:
        deployment_start_live(deployment, feed="broker")
    assert "feed" in err.value.fields
