"""The strategy form's basket picker: search, tick, save in order, errors beside the field."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from execution.models import Instrument
from strategies.models import Strategy
from strategies.tests.factories import ensure_seeded_instruments
from strategies.tests.test_builder_views import golden_rsi
from strategies.tests.test_views import form_data

PICKER = reverse("strategies:basket_picker")


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    ensure_seeded_instruments()
    return client


def nse(*symbols: str) -> list[Instrument]:
    return [Instrument.objects.get(exchange="NSE", symbol=s) for s in symbols]


def test_search_shows_matches_not_yet_chosen(owner_client):
    (infy,) = nse("INFY")
    html = owner_client.get(PICKER, {"basket_q": "inf"}).content.decode()
    assert 'data-basket-result="NSE:INFY"' in html
    html = owner_client.get(PICKER, {"basket_q": "inf", "instruments": [infy.pk]}).content.decode()
    assert 'data-basket-member="NSE:INFY"' in html
    assert 'data-basket-result="NSE:INFY"' not in html  # already in the basket
    assert "No other instrument matches" in html


def test_chosen_members_keep_their_order_and_a_bad_id_is_ignored(owner_client):
    tcs, infy = nse("TCS", "INFY")
    html = owner_client.get(PICKER, {"instruments": [tcs.pk, infy.pk]}).content.decode()
    assert html.index("NSE:TCS") < html.index("NSE:INFY")
    assert owner_client.get(PICKER, {"instruments": ["x1"]}).status_code == 200


def test_picker_needs_a_login(client):
    assert client.get(PICKER).status_code == 302


def test_create_a_basket_from_the_form(owner_client, user):
    tcs, infy, reliance = nse("TCS", "INFY", "RELIANCE")
    data = form_data(basket_form="1", instruments=[tcs.pk, infy.pk, reliance.pk])
    data["instrument"] = ""
    response = owner_client.post(reverse("strategies:create"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    strategy = Strategy.objects.get(owner=user, name="Nifty trend")
    assert strategy.instrument == tcs
    assert [m.instrument for m in strategy.members.order_by("position")] == [tcs, infy, reliance]
    # the edit form shows the basket ticked, in order
    html = owner_client.get(reverse("strategies:edit", args=[strategy.pk])).content.decode()
    assert html.index('data-basket-member="NSE:TCS"') < html.index('data-basket-member="NSE:INFY"')
    # unticking all of them leaves the primary instrument alone
    data = form_data(basket_form="1", instrument=tcs.pk)
    response = owner_client.post(reverse("strategies:edit", args=[strategy.pk]), data)
    assert response.status_code == 302
    assert not strategy.members.exists()


def test_basket_errors_show_beside_the_picker(owner_client):
    (infy,) = nse("INFY")
    goog = Instrument.objects.get(symbol="GOOG")
    data = form_data(basket_form="1", instruments=[infy.pk, goog.pk], instrument="")
    response = owner_client.post(reverse("strategies:create"), data)
    assert response.status_code == 200
    assert "USD" in " ".join(response.context["form"].errors["instruments"])
    data = form_data(basket_form="1", instrument="")
    response = owner_client.post(reverse("strategies:create"), data)
    assert "instrument" in response.context["form"].errors


def test_detail_lists_the_basket_and_offers_deploy(owner_client, user):
    tcs, infy = nse("TCS", "INFY")
    data = form_data(basket_form="1", instruments=[tcs.pk, infy.pk], instrument="")
    owner_client.post(reverse("strategies:create"), data)
    strategy = Strategy.objects.get(owner=user, name="Nifty trend")
    response = owner_client.get(reverse("strategies:detail", args=[strategy.pk]))
    html = response.content.decode()
    assert "data-basket" in html and "NSE:INFY" in html
    assert [m["cap"] for m in response.context["basket"]] == ["50", "50"]
    assert response.context["can_deploy"] is True


def test_caps_are_typed_per_member_and_blank_is_an_equal_split(owner_client, user):
    tcs, infy, wipro = nse("TCS", "INFY", "HDFCBANK")
    data = form_data(
        basket_form="1",
        instruments=[tcs.pk, infy.pk, wipro.pk],
        instrument="",
        **{f"cap_{tcs.pk}": "60", f"cap_{infy.pk}": "45.5", f"cap_{wipro.pk}": ""},
    )
    response = owner_client.post(reverse("strategies:create"), data)
    assert response.status_code == 302, response.context["form"].errors
    strategy = Strategy.objects.get(owner=user, name="Nifty trend")
    assert [(m.instrument_id, m.allocation_pct) for m in strategy.members.order_by("position")] == [
        (tcs.pk, Decimal("60.00")),
        (infy.pk, Decimal("45.50")),
        (wipro.pk, None),
    ]
    # the edit form shows the stored caps; a member ticked without a cap input keeps its cap
    html = owner_client.get(reverse("strategies:edit", args=[strategy.pk])).content.decode()
    assert re.search(rf'name="cap_{tcs.pk}" value="60"', html)
    assert re.search(rf'name="cap_{infy.pk}" value="45.5"', html)
    assert re.search(rf'name="cap_{wipro.pk}" value=""', html)


@pytest.mark.parametrize("cap", ["0", "150", "abc", "12.345"])
def test_a_bad_cap_is_refused_beside_the_basket_naming_the_member(owner_client, user, cap):
    tcs, infy = nse("TCS", "INFY")
    data = form_data(
        basket_form="1", instruments=[tcs.pk, infy.pk], instrument="", **{f"cap_{infy.pk}": cap}
    )
    response = owner_client.post(reverse("strategies:create"), data)
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["instruments"])
    assert "NSE:INFY" in errors and "cap" in errors
    assert not Strategy.objects.filter(owner=user, name="Nifty trend").exists()


def test_the_picker_redraw_keeps_typed_caps(owner_client):
    tcs, infy = nse("TCS", "INFY")
    html = owner_client.get(
        PICKER, {"instruments": [tcs.pk, infy.pk], f"cap_{tcs.pk}": "70", "basket_q": "wip"}
    ).content.decode()
    assert re.search(rf'name="cap_{tcs.pk}" value="70"', html)
    assert re.search(rf'name="cap_{infy.pk}" value=""', html)


def _single_select(html: str) -> str:
    field = r'<div class="field[^"]*"[^>]*>\s*<label for="id_instrument">.*?</div>'
    return re.search(field, html, re.S)[0]


def test_a_chosen_basket_hides_and_disables_the_single_instrument(owner_client, user):
    tcs, infy = nse("TCS", "INFY")
    html = owner_client.get(reverse("strategies:create")).content.decode()
    assert " hidden" not in _single_select(html).split(">")[0]
    assert "disabled" not in _single_select(html)
    data = form_data(basket_form="1", instruments=[tcs.pk, infy.pk], instrument="")
    owner_client.post(reverse("strategies:create"), data)
    strategy = Strategy.objects.get(owner=user, name="Nifty trend")
    select = _single_select(
        owner_client.get(reverse("strategies:edit", args=[strategy.pk])).content.decode()
    )
    assert select.split(">")[0].endswith(" hidden")  # the field's wrapper
    assert "disabled" in select and "data-basket-single" in select


@pytest.mark.parametrize("view", ["strategies:create", "strategies:builder"])
def test_an_instrument_beside_a_basket_must_be_its_first_member(owner_client, user, view):
    """As the API answers (a 400 naming ``instrument``): which of the two was meant is unclear."""
    tcs, infy, reliance = nse("TCS", "INFY", "RELIANCE")
    data = form_data(basket_form="1", instruments=[tcs.pk, infy.pk], instrument=reliance.pk)
    if view == "strategies:builder":
        data.update(action="save", strategy_type="rules", timeframe="5s", product="MIS")
        data.update(golden_rsi())
    response = owner_client.post(reverse(view), data)
    assert response.status_code == 200
    assert response.context["form"].errors["instrument"] == [
        "Must be the basket's first instrument (or left out)."
    ]
    assert not Strategy.objects.filter(owner=user).exists()
    # the basket's own first member beside it is the same choice: saved, the basket wins
    data["instrument"] = tcs.pk
    assert owner_client.post(reverse(view), data).status_code == 302
    strategy = Strategy.objects.get(owner=user)
    assert strategy.instrument == tcs
    assert [m.instrument for m in strategy.members.order_by("position")] == [tcs, infy]
