"""The strategy dashboard pages: rendering, tenancy, the form and the lifecycle buttons.

Every state change goes through the real services; the pages only show what they answer.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from execution.models import Instrument
from strategies.models import Deployment, Strategy, StrategyEvent, StrategyStatus
from strategies.tests.factories import StrategyFactory, put_in_status, seeded_instrument

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def strategy(user):
    return StrategyFactory(owner=user, name="Golden cross")


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


def form_data(**overrides):
    data = {
        "name": "Nifty trend",
        "strategy_type": "sma_crossover",
        "instrument": seeded_instrument().pk,
        "timeframe": "1d",
        "sizing": "allocation",
        "quantity": "",
        "allocation_pct": "50",
        "product": "CNC",
        "capital": "250000",
        "param_fast": "10",
        "param_slow": "30",
        "param_mode": "long_only",
    }
    data.update(overrides)
    return data


def toast_of(response) -> dict:
    return json.loads(response["HX-Trigger"])["toast"]


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- access ---------------------------------------------------------------------------------


def _page_urls(pk):
    return [
        reverse("overview"),
        reverse("strategies:list"),
        reverse("strategies:create"),
        reverse("strategies:params") + "?strategy_type=sma_crossover",
        reverse("strategies:detail", args=[pk]),
        reverse("strategies:edit", args=[pk]),
    ]


def _action_urls(pk):
    return [
        reverse(f"strategies:{name}", args=[pk]) for name in ("deploy", "stop", "archive", "delete")
    ]


def test_pages_require_login(client, strategy):
    login = reverse("login")
    for url in _page_urls(strategy.pk):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(login), url
    for url in _action_urls(strategy.pk):
        response = client.post(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(login), url
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.INACTIVE


def test_pages_render_for_the_owner(owner_client, strategy):
    for url in _page_urls(strategy.pk):
        response = owner_client.get(url)
        assert response.status_code == 200, url


def test_another_users_strategy_is_a_404(client, other_user, strategy):
    client.force_login(other_user)
    for url in [
        reverse("strategies:detail", args=[strategy.pk]),
        reverse("strategies:edit", args=[strategy.pk]),
        reverse("strategies:params") + f"?strategy_type=sma_crossover&strategy={strategy.pk}",
    ]:
        assert client.get(url).status_code == 404, url
    assert (
        client.post(reverse("strategies:edit", args=[strategy.pk]), form_data()).status_code == 404
    )
    for url in _action_urls(strategy.pk):
        assert client.post(url).status_code == 404, url
        assert client.post(url, **HTMX).status_code == 404, url
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.INACTIVE
    assert strategy.name == "Golden cross"
    assert client.get(reverse("strategies:list")).context["page"].paginator.count == 0


def test_actions_refuse_get(owner_client, strategy):
    for url in _action_urls(strategy.pk):
        assert owner_client.get(url).status_code == 405, url


# --- list -----------------------------------------------------------------------------------


def test_list_shows_the_users_strategies_with_badges(owner_client, user, other_user, strategy):
    StrategyFactory(owner=other_user, name="Not mine")
    put_in_status(StrategyFactory(owner=user, name="Live one"), StrategyStatus.RUNNING)
    response = owner_client.get(reverse("strategies:list"))
    html = response.content.decode()
    assert "Golden cross" in html
    assert "Live one" in html
    assert "Not mine" not in html
    assert "SMA crossover" in html  # the type's display name
    assert 'class="badge RUNNING"' in html
    assert 'class="badge INACTIVE"' in html
    assert "₹1,00,000.00" in html  # capital with lakh grouping


def test_list_filters_by_status_type_and_name(owner_client, user):
    StrategyFactory(owner=user, name="Alpha SMA")
    StrategyFactory(
        owner=user,
        name="Beta RSI",
        strategy_type="rsi_reversion",
        params={"period": 14, "oversold": 30.0, "overbought": 70.0, "mode": "long_only"},
    )
    put_in_status(StrategyFactory(owner=user, name="Gamma SMA"), StrategyStatus.RUNNING)

    def names(**params):
        response = owner_client.get(reverse("strategies:list"), params)
        return sorted(s.name for s in response.context["page"])

    assert names() == ["Alpha SMA", "Beta RSI", "Gamma SMA"]
    assert names(status="RUNNING") == ["Gamma SMA"]
    assert names(strategy_type="rsi_reversion") == ["Beta RSI"]
    assert names(q="sma") == ["Alpha SMA", "Gamma SMA"]
    assert names(q="sma", status="INACTIVE") == ["Alpha SMA"]
    assert names(status="bogus") == ["Alpha SMA", "Beta RSI", "Gamma SMA"]  # ignored


def test_list_shows_archived_strategies_only_when_asked(owner_client, user, strategy):
    archived = StrategyFactory(owner=user, name="Old idea")
    owner_client.post(reverse("strategies:archive", args=[archived.pk]))
    listed = owner_client.get(reverse("strategies:list")).context["page"]
    assert [s.name for s in listed] == ["Golden cross"]
    listed = owner_client.get(reverse("strategies:list"), {"status": "archived"}).context["page"]
    assert [s.name for s in listed] == ["Old idea"]


def test_list_paginates_and_keeps_filters_in_page_links(owner_client, user):
    for i in range(25):
        StrategyFactory(owner=user, name=f"S{i:02d}")
    first = owner_client.get(reverse("strategies:list"), {"q": "S"})
    assert len(first.context["page"]) == 20
    assert "?q=S&amp;page=2" in first.content.decode()
    second = owner_client.get(reverse("strategies:list"), {"q": "S", "page": 2})
    assert len(second.context["page"]) == 5


def test_list_htmx_filter_answers_with_the_results_partial(owner_client, strategy):
    response = owner_client.get(
        reverse("strategies:list"), {"q": "golden"}, HTTP_HX_TARGET="strategy-results", **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="strategy-results">')
    assert "<html" not in html
    assert "Golden cross" in html


def test_list_empty_states(owner_client, user):
    html = owner_client.get(reverse("strategies:list")).content.decode()
    assert "No strategies yet" in html
    assert reverse("strategies:create") in html
    StrategyFactory(owner=user, name="Something")
    html = owner_client.get(reverse("strategies:list"), {"q": "nothing-like-it"}).content.decode()
    assert "No strategies match these filters" in html


# --- create / edit --------------------------------------------------------------------------


def test_create_form_builds_parameter_fields_from_the_catalogue(owner_client):
    response = owner_client.get(reverse("strategies:create"))
    form = response.context["form"]
    assert [f.name for f in form.param_fields] == ["param_fast", "param_slow", "param_mode"]
    fast = form.fields["param_fast"]
    assert (fast.min_value, fast.max_value, fast.initial) == (1, 500, 10)
    assert fast.label == "Fast period"
    html = response.content.decode()
    assert 'name="param_fast"' in html
    assert 'min="1"' in html
    assert 'max="500"' in html
    assert "Bars in the fast simple moving average" in html
    # Switching the type asks the server for that type's fields.
    assert f'hx-get="{reverse("strategies:params")}"' in html
    assert 'hx-target="#param-fields"' in html


def test_create_can_preselect_a_type(owner_client):
    response = owner_client.get(reverse("strategies:create"), {"type": "donchian_breakout"})
    names = [f.name for f in response.context["form"].param_fields]
    assert names == ["param_entry", "param_exit", "param_mode"]


def test_create_shows_the_services_error_next_to_the_field_then_succeeds(owner_client, user):
    url = reverse("strategies:create")
    response = owner_client.post(url, form_data(param_fast="30", param_slow="20"))
    assert response.status_code == 200
    assert not Strategy.objects.filter(owner=user).exists()
    form = response.context["form"]
    message = "Fast period (30) must be shorter than slow period (20)."
    assert form.errors["param_fast"] == [message]
    assert "param_slow" not in form.errors
    html = response.content.decode()
    # Inline: the message sits inside the fast-period field's block, which is marked invalid.
    field_start = html.index('<div class="field has-error">\n  <label for="id_param_fast">')
    assert html.index(message, field_start) < html.index('name="param_slow"')
    assert page_messages(response) == ["Not saved: check the highlighted fields."]

    response = owner_client.post(url, form_data(param_fast="5", param_slow="20"), follow=True)
    strategy = Strategy.objects.get(owner=user)
    assert response.redirect_chain[-1][0] == reverse("strategies:detail", args=[strategy.pk])
    assert strategy.params == {"fast": 5, "slow": 20, "mode": "long_only"}
    assert strategy.allocation_pct == Decimal("50")
    assert strategy.quantity is None
    assert strategy.capital == Decimal("250000")
    assert strategy.status == StrategyStatus.INACTIVE
    assert any("Created “Nifty trend”" in m for m in page_messages(response))


def test_create_with_fixed_quantity_and_default_capital(owner_client, user):
    response = owner_client.post(
        reverse("strategies:create"),
        form_data(sizing="quantity", quantity="25", allocation_pct="", capital=""),
    )
    assert response.status_code == 302
    strategy = Strategy.objects.get(owner=user)
    assert (strategy.quantity, strategy.allocation_pct) == (25, None)
    assert strategy.capital == user.paper_capital


def test_create_without_the_chosen_size_names_that_field(owner_client, user):
    response = owner_client.post(
        reverse("strategies:create"), form_data(sizing="quantity", quantity="")
    )
    assert response.status_code == 200
    assert "Set exactly one of quantity" in response.context["form"].errors["quantity"][0]
    assert not Strategy.objects.filter(owner=user).exists()


def test_create_maps_lot_size_errors_onto_quantity(owner_client, user):
    lot = Instrument.objects.create(exchange="NSE", symbol="LOTTY", lot_size=50)
    response = owner_client.post(
        reverse("strategies:create"),
        form_data(instrument=lot.pk, sizing="quantity", quantity="75"),
    )
    assert response.context["form"].errors["quantity"] == [
        "Must be a multiple of the lot size (50)."
    ]


def test_create_with_a_taken_name_errors_on_name(owner_client, strategy):
    response = owner_client.post(reverse("strategies:create"), form_data(name="Golden cross"))
    assert response.context["form"].errors["name"] == [
        "You already have a strategy with this name."
    ]


def test_create_rejects_out_of_range_parameters_from_the_param_bounds(owner_client, user):
    response = owner_client.post(reverse("strategies:create"), form_data(param_fast="0"))
    assert "param_fast" in response.context["form"].errors
    assert not Strategy.objects.filter(owner=user).exists()


def test_create_another_type_with_float_and_choice_params(owner_client, user):
    data = form_data(strategy_type="bollinger_reversion", param_period="30", param_width="2.5")
    for stale in ("param_fast", "param_slow"):
        data.pop(stale)
    response = owner_client.post(reverse("strategies:create"), data)
    assert response.status_code == 302
    strategy = Strategy.objects.get(owner=user)
    assert strategy.strategy_type == "bollinger_reversion"
    assert strategy.params == {"period": 30, "width": 2.5, "mode": "long_only"}


def test_edit_prefills_and_saves_through_the_service(owner_client, strategy):
    url = reverse("strategies:edit", args=[strategy.pk])
    form = owner_client.get(url).context["form"]
    assert form["name"].value() == "Golden cross"
    assert form["param_slow"].value() == 20
    assert form["allocation_pct"].value() == "100"
    response = owner_client.post(url, form_data(name="Golden cross v2", param_slow="50"))
    assert response.status_code == 302
    strategy.refresh_from_db()
    assert strategy.name == "Golden cross v2"
    assert strategy.params["slow"] == 50


def test_editing_a_running_strategy_explains_and_shows_the_services_refusal(
    owner_client, user, strategy
):
    put_in_status(strategy, StrategyStatus.RUNNING, actor=user)
    url = reverse("strategies:edit", args=[strategy.pk])
    assert "stop it before changing how it trades" in owner_client.get(url).content.decode()

    unchanged = {
        "name": "Golden cross",
        "instrument": strategy.instrument_id,
        "allocation_pct": "100",
        "capital": "100000.00",
        "param_fast": "10",
        "param_slow": "20",
    }
    response = owner_client.post(url, form_data(**{**unchanged, "param_slow": "40"}))
    assert response.status_code == 200
    form = response.context["form"]
    assert "Stop the strategy before changing how it trades." in form.non_field_errors()
    assert "Parameters: Cannot change while the strategy is running." in form.non_field_errors()
    strategy.refresh_from_db()
    assert strategy.params["slow"] == 20

    # A rename is not a trading change: the service allows it while running.
    response = owner_client.post(url, form_data(**{**unchanged, "name": "Renamed live"}))
    assert response.status_code == 302
    strategy.refresh_from_db()
    assert (strategy.name, strategy.status) == ("Renamed live", StrategyStatus.RUNNING)


# --- the type-switch partial ----------------------------------------------------------------


def test_params_partial_renders_the_chosen_types_fields(owner_client):
    url = reverse("strategies:params")
    response = owner_client.get(url, {"strategy_type": "rsi_reversion"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    for name in ("param_period", "param_oversold", "param_overbought", "param_mode"):
        assert f'name="{name}"' in html
    assert 'name="param_fast"' not in html
    assert 'value="30.0"' in html  # the oversold default
    assert "RSI mean reversion" in html
    assert owner_client.get(url, {"strategy_type": "nope"}).status_code == 404


def test_params_partial_keeps_the_edited_strategys_values(owner_client, strategy):
    strategy.params = {"fast": 7, "slow": 21, "mode": "long_short"}
    strategy.save()
    url = reverse("strategies:params")
    html = owner_client.get(
        url, {"strategy_type": "sma_crossover", "strategy": strategy.pk}
    ).content.decode()
    assert 'value="7"' in html
    assert 'value="21"' in html
    html = owner_client.get(
        url, {"strategy_type": "ema_crossover", "strategy": strategy.pk}
    ).content.decode()
    assert 'value="10"' in html  # another type starts from its defaults


# --- detail and lifecycle actions -----------------------------------------------------------


def test_detail_shows_configuration_and_params_with_labels(owner_client, strategy):
    html = owner_client.get(reverse("strategies:detail", args=[strategy.pk])).content.decode()
    for text in ("Golden cross", "SMA crossover", "NSE:RELIANCE", "Fast period", "Slow period"):
        assert text in html
    assert "₹1,00,000.00" in html
    assert "Deploy to paper" in html
    assert "Delete" in html
    assert "Stop strategy" not in html


def test_deploy_then_stop_through_the_page(owner_client, user, strategy):
    detail = reverse("strategies:detail", args=[strategy.pk])
    response = owner_client.post(reverse("strategies:deploy", args=[strategy.pk]), follow=True)
    assert response.redirect_chain == [(detail, 302)]
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.RUNNING
    assert any("run #1 is live" in m for m in page_messages(response))
    html = response.content.decode()
    assert "Stop strategy" in html
    assert user.email in html  # the event history names who deployed

    response = owner_client.post(
        reverse("strategies:stop", args=[strategy.pk]), {"square_off": "on"}, follow=True
    )
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.STOPPED
    deployment = Deployment.objects.get(strategy=strategy)
    assert deployment.square_off is True
    assert any("squared off" in m for m in page_messages(response))
    assert StrategyEvent.objects.filter(strategy=strategy).count() == 2


def test_deploying_a_running_strategy_shows_the_refusal(owner_client, user, strategy):
    put_in_status(strategy, StrategyStatus.RUNNING, actor=user)
    response = owner_client.post(reverse("strategies:deploy", args=[strategy.pk]), follow=True)
    assert "Cannot deploy a strategy that is RUNNING." in page_messages(response)
    assert Deployment.objects.filter(strategy=strategy).count() == 1


def test_htmx_deploy_answers_with_the_panel_history_and_a_toast(owner_client, strategy):
    response = owner_client.post(reverse("strategies:deploy", args=[strategy.pk]), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="status-panel"' in html
    assert 'id="history" class="stack history" hx-swap-oob="true"' in html
    assert 'id="head-badge" hx-swap-oob="true"' in html
    assert "Stop strategy" in html
    assert toast_of(response) == {
        "level": "success",
        "message": "Deployed “Golden cross”: run #1 is live.",
    }
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.RUNNING


def test_htmx_refusal_is_a_409_with_the_fresh_panel_and_an_error_toast(
    owner_client, user, strategy
):
    put_in_status(strategy, StrategyStatus.RUNNING, actor=user)
    response = owner_client.post(reverse("strategies:deploy", args=[strategy.pk]), **HTMX)
    assert response.status_code == 409
    assert toast_of(response) == {
        "level": "error",
        "message": "Cannot deploy a strategy that is RUNNING.",
    }
    assert 'id="status-panel"' in response.content.decode()

    response = owner_client.post(reverse("strategies:archive", args=[strategy.pk]), **HTMX)
    assert response.status_code == 409
    assert toast_of(response)["message"] == "Stop the strategy before archiving it."
    strategy.refresh_from_db()
    assert strategy.archived_at is None


def test_htmx_stop_without_square_off(owner_client, user, strategy):
    put_in_status(strategy, StrategyStatus.RUNNING, actor=user)
    response = owner_client.post(reverse("strategies:stop", args=[strategy.pk]), **HTMX)
    assert response.status_code == 200
    assert toast_of(response)["message"] == "Stopped “Golden cross”."
    deployment = Deployment.objects.get(strategy=strategy)
    assert deployment.square_off is False
    assert "Deploy again" in response.content.decode()


def test_archive_through_the_page(owner_client, user, strategy):
    put_in_status(strategy, StrategyStatus.STOPPED, actor=user)
    response = owner_client.post(reverse("strategies:archive", args=[strategy.pk]), follow=True)
    strategy.refresh_from_db()
    assert strategy.archived_at is not None
    assert any("Archived “Golden cross”" in m for m in page_messages(response))
    html = response.content.decode()
    assert "badge ARCHIVED" in html
    assert "Deploy again" not in html


def test_delete_a_strategy_that_never_ran(owner_client, strategy):
    response = owner_client.post(reverse("strategies:delete", args=[strategy.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("strategies:list")
    assert not Strategy.objects.filter(pk=strategy.pk).exists()
    assert "Deleted “Golden cross”." in page_messages(response)


def test_htmx_delete_redirects_the_page_to_the_list(owner_client, strategy):
    response = owner_client.post(reverse("strategies:delete", args=[strategy.pk]), **HTMX)
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("strategies:list")
    assert not Strategy.objects.filter(pk=strategy.pk).exists()


def test_deleting_a_strategy_with_history_is_refused(owner_client, user, strategy):
    put_in_status(strategy, StrategyStatus.STOPPED, actor=user)
    html = owner_client.get(reverse("strategies:detail", args=[strategy.pk])).content.decode()
    assert ">Delete<" not in html  # not offered
    response = owner_client.post(reverse("strategies:delete", args=[strategy.pk]), **HTMX)
    assert response.status_code == 409
    assert toast_of(response)["message"].startswith("This strategy has run before")
    response = owner_client.post(reverse("strategies:delete", args=[strategy.pk]), follow=True)
    assert any("archive it" in m for m in page_messages(response))
    assert Strategy.objects.filter(pk=strategy.pk).exists()


def test_detail_calls_out_an_error_and_lists_events_and_deployments(owner_client, user, strategy):
    put_in_status(strategy, StrategyStatus.ERROR, actor=user)
    html = owner_client.get(reverse("strategies:detail", args=[strategy.pk])).content.decode()
    assert "Stopped by an error" in html
    assert "broker went away" in html
    assert "system" in html  # the failure's actor
    assert user.email in html  # the deploy's actor
    assert "#1" in html
    assert "Deploy again" in html


# --- overview -------------------------------------------------------------------------------


def test_overview_counts_by_status_and_calls_out_errors(owner_client, user, other_user):
    put_in_status(StrategyFactory(owner=user, name="Runner"), StrategyStatus.RUNNING)
    put_in_status(StrategyFactory(owner=user, name="Broken"), StrategyStatus.ERROR)
    StrategyFactory(owner=user, name="Idle")
    put_in_status(StrategyFactory(owner=other_user, name="Theirs"), StrategyStatus.RUNNING)
    response = owner_client.get(reverse("overview"))
    counts = {c["status"]: c["count"] for c in response.context["counts"]}
    assert counts == {"INACTIVE": 1, "RUNNING": 1, "STOPPED": 0, "ERROR": 1}
    assert response.context["total"] == 3
    html = response.content.decode()
    assert "Runner" in html
    assert "Theirs" not in html
    assert "needs attention" in html
    assert "broker went away" in html
    assert "Total equity" in html


def test_overview_empty_state_has_a_call_to_action(owner_client):
    html = owner_client.get(reverse("overview")).content.decode()
    assert "Build your first strategy" in html
    assert reverse("strategies:create") in html


def test_list_and_overview_queries_do_not_grow_with_strategies(
    owner_client, user, django_assert_max_num_queries
):
    for i in range(3):
        put_in_status(StrategyFactory(owner=user, name=f"Run {i}"), StrategyStatus.RUNNING)
    with django_assert_max_num_queries(12) as few:
        owner_client.get(reverse("strategies:list"))
    for i in range(15):
        put_in_status(StrategyFactory(owner=user, name=f"More {i}"), StrategyStatus.RUNNING)
    with django_assert_max_num_queries(len(few.captured_queries)):
        owner_client.get(reverse("strategies:list"))
    with django_assert_max_num_queries(12) as few:
        owner_client.get(reverse("overview"))


def test_boolean_parameters_become_optional_checkboxes():
    from strategies.catalog.base import Param
    from strategies.forms import param_field

    field = param_field(Param("trail", "bool", True, label="Trail stop", help="Move the stop."))
    assert field.required is False
    assert field.initial is True
    assert field.label == "Trail stop"
    assert field.widget.input_type == "checkbox"
