"""Live mode on the fake Kite: a deployment's orders leave for the linked account, tagged.

The deployment trades the synthetic feed as a paper one does; what changes is that every
order the engine lets through is also placed at Kite (the fake on loopback), with the SEBI
algo id and our client order id's hash in its tag, and that the risk gate acts first.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from brokers.models import BrokerAccount
from brokers.services import broker_account_create
from execution.brokers.kite_mapping import kite_tag
from execution.models import BrokerOrderLink, Order
from execution.services import live as live_service
from execution.tests.live.conftest import FAST_SMA, deploy, live_of, make_strategy, step
from strategies import services
from strategies.models import StrategyStatus

pytestmark = pytest.mark.django_db

ALGO = "ALG42"


def live_deploy(strategy, account, **kwargs):
    return deploy(strategy, mode="live", broker_account=account.pk, confirm=strategy.name, **kwargs)


def placements(kite) -> list[tuple[str, str]]:
    return [r for r in kite.requests if r == ("POST", "/orders/regular")]


def step_until(deployment, done, limit: int = 120) -> int:
    for k in range(limit):
        step(deployment, k)
        if done():
            return k
    raise AssertionError("the condition never came true")


def sent(deployment):
    return Order.objects.filter(deployment=deployment).exclude(status="DENIED")


def test_a_live_deployment_places_its_orders_at_kite_tagged_with_algo_id_and_our_id(
    user, linked_kite_account, fake_kite
):
    deployment = live_deploy(make_strategy(user), linked_kite_account, algo_id=ALGO)
    live = live_of(deployment)
    assert (live.mode, live.broker_account_id, live.algo_id) == (
        "live",
        linked_kite_account.pk,
        ALGO,
    )

    k = step_until(deployment, lambda: sent(deployment).exists())
    order = sent(deployment).get()
    (at_kite,) = fake_kite.book.orders.values()
    tag = kite_tag(order.client_order_id, ALGO)
    assert at_kite["tag"] == tag and tag.startswith(ALGO) and len(tag) == len(ALGO) + 12
    assert (at_kite["tradingsymbol"], at_kite["exchange"]) == ("RELIANCE", "NSE")
    assert at_kite["transaction_type"] == order.side
    assert at_kite["quantity"] == order.quantity == 10
    assert (at_kite["order_type"], at_kite["product"]) == ("MARKET", "MIS")
    assert at_kite["market_protection"] == -1  # SEBI: Kite converts it to a protected limit
    link = BrokerOrderLink.objects.get(live=live)
    assert (link.client_order_id, link.broker_order_id, link.tag) == (
        order.client_order_id,
        at_kite["order_id"],
        tag,
    )
    assert link.status == "OPEN" and link.broker_status == "OPEN"

    # the same bar again is a no-op: nothing is placed twice
    step(deployment, k)
    assert len(placements(fake_kite)) == 1


def test_a_step_rolled_back_after_kite_accepted_finds_the_order_by_tag(
    user, linked_kite_account, fake_kite
):
    """The broker has the order, our transaction does not: the retry must not place it again."""
    deployment = live_deploy(make_strategy(user), linked_kite_account, algo_id=ALGO)
    real = live_service._persist_ledgers
    calls = {"n": 0}

    def fail_once_after_sending(stepped):
        if any(a.result.orders for a in stepped) and calls["n"] == 0:
            calls["n"] += 1
            raise RuntimeError("the database went away after the broker answered")
        return real(stepped)

    with mock.patch.object(live_service, "_persist_ledgers", fail_once_after_sending):
        k = 0
        while calls["n"] == 0:
            step(deployment, k)
            k += 1
        assert not sent(deployment).exists()  # rolled back...
        assert len(fake_kite.book.orders) == 1  # ...after Kite took the order
        step(deployment, k - 1)  # the retried step, same bar
    order = sent(deployment).get()
    (at_kite,) = fake_kite.book.orders.values()
    assert at_kite["tag"] == kite_tag(order.client_order_id, ALGO)
    assert BrokerOrderLink.objects.get().broker_order_id == at_kite["order_id"]


def test_the_notional_cap_refuses_before_any_http_call(user, linked_kite_account, fake_kite):
    strategy = make_strategy(user, risk_limits={"max_order_value": "100"})
    deployment = live_deploy(strategy, linked_kite_account)
    step_until(deployment, lambda: Order.objects.filter(deployment=deployment).exists())
    denied = Order.objects.get(deployment=deployment)
    assert denied.status == "DENIED" and denied.denial_rule == "max_order_value"
    assert fake_kite.requests == []  # not even a lookup: nothing left for Kite
    assert not BrokerOrderLink.objects.exists()


def test_the_daily_loss_kill_switch_stops_everything_after_it(user, linked_kite_account, fake_kite):
    """The entry's own charges breach a 1-paisa daily loss: the run halts at that close, the
    strategy goes to ERROR, and no later decision leaves for Kite."""
    strategy = make_strategy(user, risk_limits={"max_daily_loss": "0.01"})
    deployment = live_deploy(strategy, linked_kite_account)
    k = step_until(deployment, lambda: sent(deployment).exists())
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.ERROR
    assert "max_daily_loss" in live_of(deployment).engine_state["halted_reason"]
    before = list(fake_kite.requests)
    assert len(placements(fake_kite)) == 1
    for j in range(k + 1, k + 30):
        step(deployment, j)
    assert fake_kite.requests == before


def test_a_stop_squares_off_through_the_broker(user, linked_kite_account, fake_kite):
    strategy = make_strategy(user)
    deployment = live_deploy(strategy, linked_kite_account, algo_id=ALGO)
    step_until(
        deployment,
        lambda: (
            live_of(deployment).engine_state["ledger"]["positions"]
            and any(p["qty"] for p in live_of(deployment).engine_state["ledger"]["positions"])
        ),
    )
    qty = next(
        p["qty"] for p in live_of(deployment).engine_state["ledger"]["positions"] if p["qty"]
    )
    services.strategy_stop(strategy=strategy, actor=user, square_off=True)
    sq = Order.objects.get(deployment=deployment, client_order_id__endswith="-sq")
    at_kite = [
        o for o in fake_kite.book.orders.values() if o["tag"] == kite_tag(sq.client_order_id, ALGO)
    ]
    assert len(at_kite) == 1
    assert at_kite[0]["transaction_type"] == ("SELL" if qty > 0 else "BUY")
    assert at_kite[0]["quantity"] == abs(qty) and at_kite[0]["order_type"] == "MARKET"


# ----------------------------------------------------------------------------- the deploy API


def _deploy(api_client, strategy, **body):
    return api_client.post(f"/api/strategies/{strategy.pk}/deploy/", body, format="json")


def test_live_mode_needs_the_strategy_name_typed_to_confirm(
    user, api_client, linked_kite_account, fake_kite
):
    strategy = make_strategy(user, name="Nifty momentum")
    base = {"mode": "live", "broker_account": linked_kite_account.pk}
    for confirm in (None, "", "nifty momentum", "Nifty"):
        body = dict(base) if confirm is None else {**base, "confirm": confirm}
        r = _deploy(api_client, strategy, **body)
        assert r.status_code == 400, r.content
        assert "confirm" in r.json()["error"]["fields"]
    strategy.refresh_from_db()
    assert strategy.status != StrategyStatus.RUNNING and not strategy.deployments.exists()
    r = _deploy(api_client, strategy, **base, confirm="Nifty momentum")
    assert r.status_code == 201, r.content
    assert live_of(strategy.deployments.get()).mode == "live"
    assert fake_kite.requests == []  # deploying sends nothing; orders leave with the steps


def test_someone_elses_account_looks_like_no_account(user, other_user, api_client, fake_kite):
    theirs = broker_account_create(
        user=other_user, vendor="kite", api_key="theirkey", api_secret="theirsecret"
    )
    BrokerAccount.objects.filter(pk=theirs.pk).update(
        status="linked", token_expires_at=timezone.now() + timedelta(hours=5)
    )
    strategy = make_strategy(user, name="S1")
    answers = [
        _deploy(api_client, strategy, mode="live", broker_account=pk, confirm="S1")
        for pk in (theirs.pk, theirs.pk + 1000)
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["error"]["fields"] == {"broker_account": ["No such broker account."]}


def test_an_account_needing_a_relogin_is_refused_saying_so(
    user, api_client, linked_kite_account, fake_kite
):
    BrokerAccount.objects.filter(pk=linked_kite_account.pk).update(
        token_expires_at=timezone.now() - timedelta(minutes=1)
    )
    strategy = make_strategy(user, name="S2")
    r = _deploy(
        api_client, strategy, mode="live", broker_account=linked_kite_account.pk, confirm="S2"
    )
    assert r.status_code == 400
    assert "re-login" in r.json()["error"]["fields"]["broker_account"][0]


def test_paper_mode_is_the_default_and_sends_nothing(user, api_client, fake_kite):
    strategy = make_strategy(user)
    assert _deploy(api_client, strategy).status_code == 201
    deployment = strategy.deployments.get()
    live = live_of(deployment)
    assert (live.mode, live.broker_account_id, live.algo_id) == ("paper", None, "")
    step_until(deployment, lambda: sent(deployment).exists())
    assert fake_kite.requests == []


# ----------------------------------------------------------------------------- the dashboard


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_dashboard_deploys_live_only_with_the_name_typed(
    client, user, linked_kite_account, fake_kite
):
    from django.urls import reverse

    client.force_login(user)
    strategy = make_strategy(user, name="Live one")
    detail = client.get(reverse("strategies:detail", args=[strategy.pk])).content.decode()
    assert "Deploy live to a broker account" in detail and 'name="confirm"' in detail
    url = reverse("strategies:deploy", args=[strategy.pk])
    form = {"mode": "live", "broker_account": linked_kite_account.pk, "algo_id": "DASH1"}

    wrong = client.post(url, {**form, "confirm": "live one"}, follow=True)
    assert any("to confirm trading it live" in m for m in _messages(wrong))
    assert not strategy.deployments.exists()

    right = client.post(url, {**form, "confirm": "Live one"}, follow=True)
    assert any("live on your broker account" in m for m in _messages(right))
    live = live_of(strategy.deployments.get())
    assert (live.mode, live.broker_account_id, live.algo_id) == (
        "live",
        linked_kite_account.pk,
        "DASH1",
    )


def test_the_live_form_is_not_offered_without_a_linked_account(client, user):
    from django.urls import reverse

    client.force_login(user)
    strategy = make_strategy(user)
    detail = client.get(reverse("strategies:detail", args=[strategy.pk])).content.decode()
    assert "Deploy live to a broker account" not in detail


def test_operators_see_what_left_for_the_broker_in_the_admin(
    client, user, linked_kite_account, fake_kite, django_user_model
):
    deployment = live_deploy(make_strategy(user), linked_kite_account, algo_id=ALGO)
    step_until(deployment, lambda: sent(deployment).exists())
    link = BrokerOrderLink.objects.get()
    admin = django_user_model.objects.create_superuser(
        email="ops@example.com", password="x-Pass-9182"
    )
    client.force_login(admin)
    page = client.get("/admin/execution/brokerorderlink/").content.decode()
    assert link.broker_order_id in page and link.tag in page
    live_page = client.get(f"/admin/execution/deploymentstate/{deployment.pk}/change/")
    assert live_page.status_code == 200 and ALGO in live_page.content.decode()
    assert client.post(f"/admin/execution/brokerorderlink/{link.pk}/delete/").status_code == 403


def test_an_expired_session_fails_the_step_and_asks_for_a_relogin(
    user, linked_kite_account, fake_kite
):
    strategy = make_strategy(user)
    deployment = live_deploy(strategy, linked_kite_account)
    fake_kite.expire_tokens()  # Kite's daily logout, mid-session
    k = 0
    while not live_of(deployment).failures:
        step(deployment, k)
        k += 1
    live = live_of(deployment)
    assert "SessionExpired" in live.last_error
    assert not sent(deployment).exists()  # the step that met it was rolled back whole
    linked_kite_account.refresh_from_db()
    assert linked_kite_account.status == BrokerAccount.Status.RELOGIN_NEEDED
    assert placements(fake_kite) == []
    # the next steps fail too (no session), and the strategy ends in ERROR saying why
    for _ in range(5):
        if strategy.status == StrategyStatus.ERROR:
            break
        step(deployment, k)
        strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.ERROR
    assert "needs a login" in strategy.status_reason or "Session" in strategy.status_reason


def test_bracket_legs_at_kite_cancel_each_other_from_kites_own_fills(
    user, linked_kite_account, fake_kite
):
    """Kite has no bracket order: the stop (SL-M) and target (LIMIT) are two plain orders once
    the entry has filled; when Kite fills the target, the step cancels the stop there."""
    from execution.services.live_route import sync_bracket_legs

    params = {**FAST_SMA, "exits": {"stop_loss_pct": 5, "target_pct": 5}}
    deployment = live_deploy(make_strategy(user, params=params), linked_kite_account)
    legs = BrokerOrderLink.objects.filter(live_id=deployment.pk)
    step_until(deployment, lambda: legs.filter(client_order_id__endswith="-tp").exists())
    sl = legs.get(client_order_id__endswith="-sl")
    tp = legs.get(client_order_id__endswith="-tp")
    at_kite = fake_kite.book.orders
    stop, target = at_kite[sl.broker_order_id], at_kite[tp.broker_order_id]
    assert (stop["order_type"], target["order_type"]) == ("SL-M", "LIMIT")
    assert stop["tag"] == sl.tag and target["tag"] == tp.tag
    assert stop["market_protection"] == -1  # SL-M orders carry market protection too
    trigger, price = stop["trigger_price"], target["price"]
    mid = round((trigger + price) / 2, 1)
    if target["transaction_type"] == "SELL":  # a long: the market rises through the target
        fake_kite.advance(mid, price + 1, mid, price)
    else:  # a short: it falls through the target
        fake_kite.advance(mid, mid, price - 1, price)
    assert target["status"] == "COMPLETE" and stop["status"] == "TRIGGER PENDING"

    sync_bracket_legs(live_of(deployment))
    assert stop["status"] == "CANCELLED"
    sl.refresh_from_db()
    tp.refresh_from_db()
    assert (tp.status, sl.status) == ("COMPLETE", "CANCELLED")


def test_a_manual_order_on_a_live_deployment_goes_to_kite_or_is_refused_whole(
    user, linked_kite_account, fake_kite
):
    from decimal import Decimal

    from execution.services.live import order_place
    from execution.services.live_route import BrokerUnavailable

    deployment = live_deploy(make_strategy(user), linked_kite_account, algo_id=ALGO)
    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("100")
    )
    (at_kite,) = fake_kite.book.orders.values()
    assert at_kite["tag"] == kite_tag(order.client_order_id, ALGO)
    assert (at_kite["order_type"], at_kite["price"], at_kite["quantity"]) == ("LIMIT", 100.0, 5)

    fake_kite.expire_tokens()
    with pytest.raises(BrokerUnavailable) as refused:
        order_place(
            deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("99")
        )
    assert refused.value.status_code == 502 and "session" in refused.value.message.lower()
    assert Order.objects.filter(deployment=deployment).count() == 1  # nothing written
    # ...but the account says why: the rollback does not take the "re-login needed" mark
    linked_kite_account.refresh_from_db()
    assert linked_kite_account.status == BrokerAccount.Status.RELOGIN_NEEDED
