"""A JSON body is typed as the schema says: a mistyped value is a 400 naming the field.

DRF coerces by default: the outside probe stored ``{"name": 84285976}`` as ``"84285976"`` and
registered a number as a password; schemathesis found ``"quantity": "5"``, ``2.0`` and
``"fast": "2"`` stored. Form bodies (the browsable API) still parse their strings.
"""

from __future__ import annotations

import pytest
from rest_framework import relations, serializers
from rest_framework_simplejwt.tokens import RefreshToken

from algosaas import urls  # noqa: F401 - imports every API view and serializer
from algosaas.api.serializers import JSONTypedInput, json_type_error
from strategies.tests.factories import StrategyFactory, seeded_instrument

pytestmark = pytest.mark.django_db


def field_errors(response) -> dict:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    return error["fields"]


def strategy_body(**overrides) -> dict:
    body = {
        "name": "Typed",
        "strategy_type": "sma_crossover",
        "instrument": seeded_instrument().pk,
        "quantity": 5,
    }
    return {**body, **overrides}


def test_a_number_for_a_name_is_refused_and_nothing_is_stored(user, api_client):
    before = user.name
    fields = field_errors(api_client.patch("/api/auth/me/", {"name": 84285976}, format="json"))
    assert fields == {"name": ["Must be a string."]}
    user.refresh_from_db()
    assert user.name == before


def test_a_number_for_a_password_is_refused_at_registration(anon_client):
    body = {"email": "typed@example.com", "password": 84285976123}
    fields = field_errors(anon_client.post("/api/auth/register/", body, format="json"))
    assert fields == {"password": ["Must be a string."]}


def test_the_token_endpoints_refuse_mistyped_values(user, password, anon_client):
    body = {"email": user.email, "password": 12345678}
    assert "password" in field_errors(anon_client.post("/api/auth/token/", body, format="json"))
    refresh = {"refresh": 12345}
    for url in ("/api/auth/token/refresh/", "/api/auth/logout/"):
        assert field_errors(anon_client.post(url, refresh, format="json")) == {
            "refresh": ["Must be a string."]
        }, url
    verify = anon_client.post("/api/auth/token/verify/", {"token": 1}, format="json")
    assert "token" in field_errors(verify)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"quantity": "5"}, "quantity"),
        ({"quantity": 5.0}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"name": 12}, "name"),
        ({"capital": 100000}, "capital"),  # a decimal is a string: no float money
        ({"instrument": "1"}, "instrument"),
        ({"instrument": True}, "instrument"),
        ({"instrument": 2**70}, "instrument"),  # past any id: no such object, not a 500
        ({"timeframe": 1}, "timeframe"),
        ({"risk_limits": {"max_open_orders": "3"}}, "risk_limits"),
    ],
)
def test_mistyped_strategy_fields_are_refused(api_client, overrides, field):
    fields = field_errors(
        api_client.post("/api/strategies/", strategy_body(**overrides), format="json")
    )
    assert field in fields


def test_a_parameter_sent_as_a_string_is_refused(api_client):
    body = strategy_body(params={"fast": "2", "slow": 2.0})
    fields = field_errors(api_client.post("/api/strategies/", body, format="json"))
    assert fields["params"] == {"fast": ["Must be an integer."], "slow": ["Must be an integer."]}


def test_well_typed_json_is_accepted(api_client):
    body = strategy_body(capital="250000.50", params={"fast": 3, "slow": 8})
    response = api_client.post("/api/strategies/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["quantity"] == 5


def test_booleans_and_floats_are_typed_too(user, api_client):
    strategy = StrategyFactory(owner=user)
    url = f"/api/strategies/{strategy.pk}/"
    assert "square_off" in field_errors(
        api_client.post(f"{url}stop/", {"square_off": "true"}, format="json")
    )
    assert "seconds_per_bar" in field_errors(
        api_client.post(f"{url}deploy/", {"seconds_per_bar": "2"}, format="json")
    )


def test_type_errors_and_other_errors_are_reported_together(api_client):
    body = strategy_body(name=12, timeframe="1y")
    assert set(field_errors(api_client.post("/api/strategies/", body, format="json"))) == {
        "name",
        "timeframe",
    }


def test_form_bodies_still_parse_their_strings(user, api_client):
    """The browsable API posts forms: every value is a string there, and DRF parses it."""
    response = api_client.patch("/api/auth/me/", {"name": "84285976"})  # multipart
    assert response.status_code == 200
    strategy = StrategyFactory(owner=user)
    response = api_client.post(
        f"/api/strategies/{strategy.pk}/deploy/",
        "feed=synthetic&seconds_per_bar=2",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content


def _our_serializers() -> list[type[serializers.Serializer]]:
    found, todo = [], [serializers.Serializer]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        app = cls.__module__.split(".")[0]
        base = cls.__module__ == "algosaas.api.serializers"  # the typed bases themselves
        if app in {"accounts", "strategies", "execution", "algosaas", "notifications"} and not base:
            found.append(cls)
    return found


def test_every_serializer_that_takes_input_is_json_typed():
    """One mechanism: each API serializer with a writable field derives from the typed base,
    and each writable field is of a kind whose JSON type the base knows (or holds JSON)."""
    untyped = (serializers.JSONField, serializers.DictField, serializers.ListField)
    checked = 0
    for cls in _our_serializers():
        writable = [f for f in cls()._writable_fields]
        if not writable:
            continue
        checked += 1
        assert issubclass(cls, JSONTypedInput), cls
        for field in writable:
            known = json_type_error(field, object()) is not None
            nested = isinstance(field, (serializers.BaseSerializer, *untyped))
            assert known or nested, (cls, field.field_name)
            if isinstance(field, serializers.BaseSerializer):
                assert isinstance(field, JSONTypedInput), (cls, field.field_name)
    assert checked >= 10


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        (serializers.CharField(), "x", [1, 1.5, True]),
        (serializers.IntegerField(), 1, ["1", 1.0, True]),
        (serializers.FloatField(), 1, ["1", True]),
        (serializers.DecimalField(max_digits=5, decimal_places=2), "1.5", [1.5, 1, True]),
        (serializers.BooleanField(), False, ["false", 0]),
        (serializers.ChoiceField(choices=["1"]), "1", [1]),
        (serializers.DateField(), "2024-01-01", [20240101]),
        (relations.PrimaryKeyRelatedField(read_only=True), 1, ["1", True]),
    ],
)
def test_json_types_by_field_kind(field, good, bad):
    assert json_type_error(field, good) is None
    assert json_type_error(field, None) is None  # null is allow_null's business
    for value in bad:
        assert json_type_error(field, value), value


def test_refresh_still_works_with_a_string(user, anon_client):
    refresh = str(RefreshToken.for_user(user))
    response = anon_client.post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 200
