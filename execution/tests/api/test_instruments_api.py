"""The instruments a user can pick for a strategy: the seeded list, search, authentication."""

from __future__ import annotations

import pytest

from strategies.tests.factories import ensure_seeded_instruments

URL = "/api/instruments/"
NSE_SYMBOLS = {
    "RELIANCE",
    "TCS",
    "HDFCBANK",
    "INFY",
    "ICICIBANK",
    "SBIN",
    "ITC",
    "LT",
    "BHARTIARTL",
    "HINDUNILVR",
    "KOTAKBANK",
    "AXISBANK",
}
FIELDS = {"id", "exchange", "symbol", "name", "tick_size", "lot_size", "currency"}
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _seeded(db):
    ensure_seeded_instruments()


def symbols(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["symbol"] for row in response.json()["results"]]


def test_the_thirteen_seeded_instruments(api_client):
    response = api_client.get(URL)
    body = response.json()
    assert body["count"] == 13 and body["next"] is None
    rows = {row["symbol"]: row for row in body["results"]}
    assert set(rows) == NSE_SYMBOLS | {"GOOG"}
    assert all(set(row) == FIELDS for row in rows.values())
    for symbol in NSE_SYMBOLS:
        row = rows[symbol]
        assert (row["exchange"], row["tick_size"], row["lot_size"], row["currency"]) == (
            "NSE",
            "0.0500",
            1,
            "INR",
        )
        assert row["name"]
    goog = rows["GOOG"]
    assert (goog["exchange"], goog["tick_size"], goog["lot_size"], goog["currency"]) == (
        "NASDAQ",
        "0.0100",
        1,
        "USD",
    )
    assert rows["INFY"]["name"] == "Infosys"


def test_search_by_symbol(api_client):
    assert symbols(api_client.get(URL, {"search": "reli"})) == ["RELIANCE"]
    assert symbols(api_client.get(URL, {"search": "RELIANCE"})) == ["RELIANCE"]


def test_search_by_name(api_client):
    assert symbols(api_client.get(URL, {"search": "infosys"})) == ["INFY"]
    assert symbols(api_client.get(URL, {"search": "alphabet"})) == ["GOOG"]
    assert sorted(symbols(api_client.get(URL, {"search": "bank"}))) == [
        "AXISBANK",
        "HDFCBANK",
        "ICICIBANK",
        "KOTAKBANK",
        "SBIN",
    ]


def test_search_without_a_match(api_client):
    response = api_client.get(URL, {"search": "dogecoin"})
    assert symbols(response) == [] and response.json()["count"] == 0


def test_filter_by_exchange_and_currency(api_client):
    assert symbols(api_client.get(URL, {"exchange": "NASDAQ"})) == ["GOOG"]
    assert set(symbols(api_client.get(URL, {"currency": "INR"}))) == NSE_SYMBOLS


def test_retrieve(api_client):
    listed = {row["symbol"]: row for row in api_client.get(URL).json()["results"]}
    response = api_client.get(f"{URL}{listed['TCS']['id']}/")
    assert response.status_code == 200 and response.json() == listed["TCS"]
    missing = api_client.get(f"{URL}999999/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api_client.get(f"{URL}abc/").status_code == 404


def test_read_only(api_client):
    response = api_client.post(URL, {"exchange": "NSE", "symbol": "NEW"}, format="json")
    assert response.status_code == 405
    assert api_client.get(URL).json()["count"] == 13


def test_requires_authentication(anon_client):
    response = anon_client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert anon_client.get(URL, {"search": "reli"}).status_code == 401
