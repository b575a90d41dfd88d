"""What the strategies API tests share: the URL, the documented fields, request and error
helpers. Imported by the ``test_strategy_*_api`` modules (and a few others) of this folder."""

from __future__ import annotations

from strategies.models import Strategy, StrategyStatus
from strategies.tests.factories import seeded_instrument

S = StrategyStatus
URL = "/api/strategies/"

# The fields the OpenAPI schema documents for a strategy. The brief's list plus
# risk_limits, status_reason and archived_at, which the API exposes on purpose.
STRATEGY_FIELDS = {
    "id",
    "name",
    "strategy_type",
    "params",
    "instrument",
    "instruments",
    "timeframe",
    "quantity",
    "allocation_pct",
    "product",
    "capital",
    "currency",
    "status",
    "created_at",
    "updated_at",
    "risk_limits",
    "status_reason",
    "archived_at",
}
DEPLOYMENT_FIELDS = {
    "id",
    "strategy",
    "number",
    "status",
    "capital",
    "currency",
    "config",
    "started_at",
    "stopped_at",
    "stop_reason",
    "square_off",
}


def detail(pk, action: str = "") -> str:
    return f"{URL}{pk}/{action + '/' if action else ''}"


def payload(**overrides) -> dict:
    body = {
        "name": "Golden cross",
        "strategy_type": "sma_crossover",
        "instrument": seeded_instrument().pk,
        "timeframe": "1d",
        "allocation_pct": "50",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "fields"} <= set(body["error"])
    return body["error"]


def post(client, url, data=None):
    return client.post(url, data if data is not None else {}, format="json")


def assert_400(response, *fields):
    assert response.status_code == 400, response.content
    err = error(response)
    assert set(fields) <= set(err["fields"]), err
    assert not Strategy.objects.exists()
    return err


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


# Per catalogue type: its defaults, a valid set, and the refusals the validation tests send.
TYPES = {
    "sma_crossover": {
        "defaults": {"fast": 10, "slow": 20, "mode": "long_only"},
        "valid": {"fast": 5, "slow": 50, "mode": "long_short"},
        "int_param": "fast",
        "too_low": ("fast", 0),
        "too_high": ("slow", 1001),
        "cross": ({"fast": 20, "slow": 20}, "fast"),
    },
    "ema_crossover": {
        "defaults": {"fast": 10, "slow": 20, "mode": "long_only"},
        "valid": {"fast": 12, "slow": 26, "mode": "long_short"},
        "int_param": "slow",
        "too_low": ("slow", 1),
        "too_high": ("fast", 501),
        "cross": ({"fast": 30, "slow": 20}, "fast"),
    },
    "rsi_reversion": {
        "defaults": {"period": 14, "oversold": 30.0, "overbought": 70.0, "mode": "long_only"},
        "valid": {"period": 7, "oversold": 25.5, "overbought": 80, "mode": "long_short"},
        "int_param": "period",
        "too_low": ("period", 1),
        "too_high": ("overbought", 99.5),
        "cross": ({"oversold": 70, "overbought": 30}, "oversold"),
    },
    "bollinger_reversion": {
        "defaults": {"period": 20, "width": 2.0, "mode": "long_only"},
        "valid": {"period": 30, "width": 2.5, "mode": "long_short"},
        "int_param": "period",
        "too_low": ("width", 0.4),
        "too_high": ("period", 501),
        "cross": None,  # no cross-field rule
    },
    "donchian_breakout": {
        "defaults": {"entry": 20, "exit": 10, "mode": "long_only"},
        "valid": {"entry": 55, "exit": 20, "mode": "long_short"},
        "int_param": "entry",
        "too_low": ("entry", 1),
        "too_high": ("exit", 501),
        "cross": ({"entry": 10, "exit": 20}, "exit"),
    },
}
