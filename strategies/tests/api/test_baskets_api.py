"""Baskets through the strategies API: members round trip, and each refusal names its field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution.models import Instrument
from strategies.models import MAX_BASKET_SIZE, Deployment, StrategyInstrument
from strategies.tests.factories import ensure_seeded_instruments

URL = "/api/strategies/"
pytestmark = pytest.mark.django_db


def _nse(n: int) -> list[Instrument]:
    ensure_seeded_instruments()
    return list(Instrument.objects.filter(exchange="NSE").order_by("symbol")[:n])


def _body(members: list[dict], **extra) -> dict:
    return {
        "name": "Basket",
        "strategy_type": "sma_crossover",
        "params": {"fast": 5, "slow": 20, "mode": "long_only"},
        "allocation_pct": "100",
        "instruments": members,
        **extra,
    }


def _error(resp) -> dict:
    assert resp.status_code == 400, resp.content
    return resp.json()["error"]["fields"]


def test_create_basket_keeps_members_in_order_and_the_first_is_primary(api_client):
    a, b, c = _nse(3)
    resp = api_client.post(
        URL,
        _body(
            [
                {"instrument": c.pk, "allocation_pct": "50"},
                {"instrument": a.pk},
                {"instrument": b.pk, "allocation_pct": "20.5"},
            ]
        ),
        format="json",
    )
    assert resp.status_code == 201, resp.content
    data = resp.json()
    assert data["instrument"] == c.pk
    assert [m["instrument"] for m in data["instruments"]] == [c.pk, a.pk, b.pk]
    assert [m["allocation_pct"] for m in data["instruments"]] == ["50.00", None, "20.50"]
    rows = StrategyInstrument.objects.filter(strategy_id=data["id"]).order_by("position")
    assert [r.instrument_id for r in rows] == [c.pk, a.pk, b.pk]
    got = api_client.get(f"{URL}{data['id']}/").json()
    assert got["instruments"] == data["instruments"]


def test_single_instrument_strategy_has_an_empty_basket(api_client):
    (a,) = _nse(1)
    body = _body([], instrument=a.pk)
    del body["instruments"]
    resp = api_client.post(URL, body, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["instruments"] == []
    assert resp.json()["instrument"] == a.pk


def test_patch_replaces_and_clears_the_basket(api_client):
    a, b, c = _nse(3)
    sid = api_client.post(
        URL, _body([{"instrument": a.pk}, {"instrument": b.pk}]), format="json"
    ).json()["id"]
    resp = api_client.patch(f"{URL}{sid}/", {"instruments": [{"instrument": c.pk}]}, format="json")
    assert resp.status_code == 200, resp.content
    assert [m["instrument"] for m in resp.json()["instruments"]] == [c.pk]
    assert resp.json()["instrument"] == c.pk
    resp = api_client.patch(f"{URL}{sid}/", {"instruments": []}, format="json")
    assert resp.status_code == 200
    assert resp.json()["instruments"] == []
    assert resp.json()["instrument"] == c.pk  # stays the single instrument


def test_duplicate_member_is_refused_naming_instruments(api_client):
    a, b = _nse(2)
    fields = _error(
        api_client.post(
            URL,
            _body([{"instrument": a.pk}, {"instrument": b.pk}, {"instrument": a.pk}]),
            format="json",
        )
    )
    assert "twice" in fields["instruments"][0]
    assert a.symbol in fields["instruments"][0]


def test_more_than_fifty_members_is_refused(api_client):
    ensure_seeded_instruments()
    extra = [
        Instrument.objects.create(exchange="NSE", symbol=f"BSK{n}", tick_size=Decimal("0.05"))
        for n in range(MAX_BASKET_SIZE + 1)
    ]
    fields = _error(
        api_client.post(URL, _body([{"instrument": i.pk} for i in extra]), format="json")
    )
    assert "instruments" in fields
    ok = api_client.post(
        URL, _body([{"instrument": i.pk} for i in extra[:MAX_BASKET_SIZE]]), format="json"
    )
    assert ok.status_code == 201, ok.content


def test_mixed_currencies_are_refused(api_client):
    (a,) = _nse(1)
    goog = Instrument.objects.get(symbol="GOOG")
    fields = _error(
        api_client.post(URL, _body([{"instrument": a.pk}, {"instrument": goog.pk}]), format="json")
    )
    assert "USD" in fields["instruments"][0] and "INR" in fields["instruments"][0]


def test_fixed_quantity_must_be_whole_lots_of_every_member(api_client):
    a, b = _nse(2)
    b.lot_size = 25
    b.save()
    body = _body([{"instrument": a.pk}, {"instrument": b.pk}], quantity=10)
    body["allocation_pct"] = None
    fields = _error(api_client.post(URL, body, format="json"))
    assert b.symbol in fields["quantity"][0] and "25" in fields["quantity"][0]
    body["quantity"] = 50
    assert api_client.post(URL, body, format="json").status_code == 201


def test_bad_member_fields_are_named(api_client):
    (a,) = _nse(1)
    fields = _error(
        api_client.post(
            URL,
            _body([{"instrument": 999999}, {"instrument": a.pk, "allocation_pct": "150"}]),
            format="json",
        )
    )
    assert "does not exist" in fields["instruments"]["0"]["instrument"][0]
    assert "100" in fields["instruments"]["1"]["allocation_pct"][0]


def test_instrument_beside_a_basket_must_be_its_first(api_client):
    a, b = _nse(2)
    fields = _error(
        api_client.post(
            URL, _body([{"instrument": a.pk}, {"instrument": b.pk}], instrument=b.pk), format="json"
        )
    )
    assert "first" in fields["instrument"][0]


def test_neither_instrument_nor_basket_is_refused(api_client):
    body = _body([])
    assert "instrument" in _error(api_client.post(URL, body, format="json"))
    del body["instruments"]
    assert "instrument" in _error(api_client.post(URL, body, format="json"))


def test_someone_elses_basket_is_404(api_client, other_client):
    a, b = _nse(2)
    sid = api_client.post(
        URL, _body([{"instrument": a.pk}, {"instrument": b.pk}]), format="json"
    ).json()["id"]
    assert other_client.get(f"{URL}{sid}/").status_code == 404
    assert other_client.patch(f"{URL}{sid}/", {"instruments": []}, format="json").status_code == 404


def test_deploying_a_basket_runs_one_deployment_with_a_position_per_member(api_client):
    a, b = _nse(2)
    sid = api_client.post(
        URL, _body([{"instrument": a.pk}, {"instrument": b.pk}]), format="json"
    ).json()["id"]
    resp = api_client.post(f"{URL}{sid}/deploy/", {}, format="json")
    assert resp.status_code == 201
    assert api_client.get(f"{URL}{sid}/").json()["status"] == "RUNNING"
    deployment = Deployment.objects.get(strategy_id=sid)
    assert sorted(p.instrument_id for p in deployment.positions.all()) == sorted([a.pk, b.pk])


def test_deploy_snapshots_the_basket_and_stop_answers_with_it(api_client):
    """The deploy and stop endpoints leave the basket to their services' locked read: the
    deployment's snapshot still names every member, in order, and the stop's answer lists them."""
    a, b, c = _nse(3)
    members = [{"instrument": c.pk}, {"instrument": a.pk}, {"instrument": b.pk}]
    sid = api_client.post(URL, _body(members), format="json").json()["id"]
    assert api_client.post(f"{URL}{sid}/deploy/", {}, format="json").status_code == 201
    config = Deployment.objects.get(strategy_id=sid).config
    assert [m["id"] for m in config["instruments"]] == [c.pk, a.pk, b.pk]
    stopped = api_client.post(f"{URL}{sid}/stop/", {}, format="json").json()
    assert stopped["status"] == "STOPPED"
    assert [m["instrument"] for m in stopped["instruments"]] == [c.pk, a.pk, b.pk]


def test_basket_cannot_change_while_running(api_client):
    a, b = _nse(2)
    sid = api_client.post(URL, _body([], instrument=a.pk) | {"instruments": []}, format="json")
    sid = sid.json()["id"]
    assert api_client.post(f"{URL}{sid}/deploy/", {}, format="json").status_code == 201
    resp = api_client.patch(
        f"{URL}{sid}/", {"instruments": [{"instrument": a.pk}, {"instrument": b.pk}]}, format="json"
    )
    assert resp.status_code == 409
    assert "instruments" in resp.json()["error"]["fields"]


def test_a_basket_is_swept_and_walked_forward_through_the_api(api_client):
    """Both run the basket (optimisation/tests: test_basket_sweeps, test_basket_walkforward)."""
    a, b = _nse(2)
    sid = api_client.post(
        URL, _body([{"instrument": a.pk}, {"instrument": b.pk}]), format="json"
    ).json()["id"]
    space = {"fast": [5, 10], "slow": [20, 40]}
    resp = api_client.post(f"{URL}{sid}/optimisations/", {"space": space}, format="json")
    assert resp.status_code in (201, 202), resp.json()
    resp = api_client.post(f"{URL}{sid}/walk-forward/", {"space": space}, format="json")
    assert resp.status_code == 202, resp.json()
    assert resp.json()["kind"] == "walk_forward"
    assert resp.json()["strategy"] == sid
