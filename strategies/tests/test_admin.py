"""The operators' admin: finding strategies, a read-only audit trail, the bulk stop action."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from strategies.models import DeploymentStatus, StrategyEvent, StrategyStatus
from strategies.tests.factories import StrategyFactory, put_in_status, seeded_instrument
from tests.factories import UserFactory

S = StrategyStatus
CHANGELIST = "/admin/strategies/strategy/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    return UserFactory(is_staff=True, is_superuser=True, email="ops@example.com")


@pytest.fixture
def admin_browser(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def fleet(user, other_user):
    running = put_in_status(StrategyFactory(owner=user, name="Runner A"), S.RUNNING, actor=user)
    other = put_in_status(
        StrategyFactory(owner=other_user, name="Runner B", instrument=seeded_instrument("TCS")),
        S.RUNNING,
        actor=other_user,
    )
    idle = StrategyFactory(owner=user, name="Idle one", strategy_type="rsi_reversion", params={})
    return {"running": running, "other": other, "idle": idle}


def shown(response) -> set[str]:
    assert response.status_code == 200
    return {s.name for s in response.context["cl"].result_list}


def test_changelist_with_filters_and_search(admin_browser, fleet, other_user):
    response = admin_browser.get(CHANGELIST)
    assert shown(response) == {"Runner A", "Runner B", "Idle one"}
    titles = {spec.title for spec in response.context["cl"].filter_specs}
    assert {"status", "strategy type", "timeframe", "product", "owner"} <= titles

    assert shown(admin_browser.get(CHANGELIST, {"status__exact": "RUNNING"})) == {
        "Runner A",
        "Runner B",
    }
    assert shown(admin_browser.get(CHANGELIST, {"strategy_type": "rsi_reversion"})) == {"Idle one"}
    assert shown(admin_browser.get(CHANGELIST, {"owner__id__exact": other_user.pk})) == {"Runner B"}
    assert shown(admin_browser.get(CHANGELIST, {"q": "idle"})) == {"Idle one"}
    assert shown(admin_browser.get(CHANGELIST, {"q": other_user.email})) == {"Runner B"}
    assert shown(admin_browser.get(CHANGELIST, {"q": "TCS"})) == {"Runner B"}


def test_change_page_shows_the_audit_trail(admin_browser, fleet, user):
    response = admin_browser.get(f"{CHANGELIST}{fleet['running'].pk}/change/")
    assert response.status_code == 200
    assert b"deployed" in response.content and user.email.encode() in response.content


def test_non_staff_cannot_open_the_admin(user):
    client = Client()
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_event_admin_is_read_only(admin_browser, fleet):
    event = StrategyEvent.objects.first()
    base = "/admin/strategies/strategyevent/"
    assert admin_browser.get(base).status_code == 200
    assert admin_browser.get(f"{base}?trigger=deploy").status_code == 200
    assert admin_browser.get(f"{base}add/").status_code == 403
    assert admin_browser.post(f"{base}add/", {"trigger": "deploy"}).status_code == 403
    view = admin_browser.get(f"{base}{event.pk}/change/")
    assert view.status_code == 200
    assert view.context["has_change_permission"] is False
    post = admin_browser.post(f"{base}{event.pk}/change/", {"reason": "rewritten history"})
    assert post.status_code == 403
    assert admin_browser.get(f"{base}{event.pk}/delete/").status_code == 403
    assert admin_browser.post(f"{base}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    # Bulk deletion is not on offer either.
    admin_browser.post(
        base, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    event.refresh_from_db()
    assert event.reason == "deployed"
    assert StrategyEvent.objects.count() == 2


def test_stop_selected_stops_the_running_and_warns_about_the_rest(admin_browser, fleet, operator):
    ids = [fleet["running"].pk, fleet["other"].pk, fleet["idle"].pk]
    response = admin_browser.post(
        CHANGELIST, {"action": "stop_selected", "_selected_action": ids}, follow=True
    )
    assert response.status_code == 200

    for key in ("running", "other"):
        strategy = fleet[key]
        strategy.refresh_from_db()
        assert strategy.status == S.STOPPED
        deployment = strategy.deployments.get()
        assert deployment.status == DeploymentStatus.STOPPED and deployment.stopped_at
        event = strategy.events.first()
        assert (event.trigger, event.from_status, event.to_status) == ("stop", "RUNNING", "STOPPED")
        assert event.actor == operator and event.reason == "stopped by an operator"
        assert event.deployment == deployment

    idle = fleet["idle"]
    idle.refresh_from_db()
    assert idle.status == S.INACTIVE and not idle.events.exists()

    messages = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert ("success", "Stopped 2 strategies.") in messages
    warnings = [text for level, text in messages if level == "warning"]
    assert len(warnings) == 1 and warnings[0].startswith("Idle one:")
    assert "INACTIVE" in warnings[0]


def test_stop_selected_with_nothing_running(admin_browser, fleet):
    response = admin_browser.post(
        CHANGELIST,
        {"action": "stop_selected", "_selected_action": [fleet["idle"].pk]},
        follow=True,
    )
    assert response.status_code == 200
    messages = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert [level for level, _ in messages] == ["warning"]


def test_deployments_cannot_be_added_by_hand(admin_browser, fleet):
    assert admin_browser.get("/admin/strategies/deployment/").status_code == 200
    assert admin_browser.get("/admin/strategies/deployment/add/").status_code == 403
