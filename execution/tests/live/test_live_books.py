"""A live run's money is the broker's: its equity follows the broker's fills, not the model's.

The engine still simulates its own fill (that is how it decides); in live mode the tile and the
equity points must show where the broker filled, or the page contradicts its own positions.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.reconcile import reconcile_account
from execution.models import EquitySnapshot, Order, Position
from execution.selectors import deployment_get_for_user, deployment_pnl
from execution.tests.live.conftest import deploy, make_strategy, step
from strategies.forms import LiveDeployForm

pytestmark = pytest.mark.django_db


def test_equity_follows_the_brokers_fill_not_the_models(user, linked_kite_account, fake_kite):
    strategy = make_strategy(user, name="S")
    deployment = deploy(strategy, mode="live", broker_account=linked_kite_account.pk, confirm="S")
    k = 0
    while not Order.objects.filter(deployment=deployment).exclude(status="DENIED").exists():
        step(deployment, k)
        k += 1
        assert k < 120, "no order was ever sent"
    (at_kite,) = fake_kite.book.orders.values()
    far = 2000.0  # the broker fills far from anything the model saw
    fake_kite.advance(far, far, far, far)
    assert at_kite["status"] == "COMPLETE"
    reconcile_account(account=linked_kite_account)  # the missed fill (no postback URL here)
    pos = Position.objects.get(deployment=deployment)
    assert pos.average_price == Decimal("2000.00") and abs(pos.quantity) == at_kite["quantity"]

    run = deployment_get_for_user(user=user, deployment_id=deployment.pk)
    pnl = deployment_pnl(run)
    assert (
        pnl["equity"] == run.capital + pnl["realised_pnl"] + pnl["unrealised_pnl"] - pnl["charges"]
    )

    before = EquitySnapshot.objects.filter(deployment=deployment).count()
    step(deployment, k + 1)
    point = EquitySnapshot.objects.filter(deployment=deployment).order_by("-ts").first()
    assert EquitySnapshot.objects.filter(deployment=deployment).count() > before
    pos.refresh_from_db()
    expected = (
        run.capital
        + pos.realised_pnl
        + pos.quantity * (pos.last_price - pos.average_price)
        - pnl["charges"]
    )
    assert point.equity == expected.quantize(Decimal("0.01"))


def test_the_live_form_offers_the_brokers_feed_and_keeps_synthetic_for_older_posts():
    data = {"broker_account": "1", "confirm": "S"}
    form = LiveDeployForm({**data, "feed": "broker"}, accounts=[(1, "Kite")])
    assert form.is_valid() and form.cleaned_data["feed"] == "broker"
    old = LiveDeployForm(data, accounts=[(1, "Kite")])
    assert old.is_valid() and old.cleaned_data["feed"] == "synthetic"
    assert LiveDeployForm(initial={}, accounts=[]).fields["feed"].initial == "broker"
    assert not LiveDeployForm({**data, "feed": "random"}, accounts=[(1, "Kite")]).is_valid()
