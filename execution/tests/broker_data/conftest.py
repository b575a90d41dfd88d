"""Fixtures: the fake Kite (REST and ticker) on loopback, and a linked Kite account; the fake
Dhan's (REST, scrip master, feed) come from ``tests.fakes.dhan.fixtures``."""

from __future__ import annotations

import pytest

from brokers.models import BrokerAccount
from tests.fakes.dhan.fixtures import dhan_account, fake_dhan, fake_dhan_feed  # noqa: F401
from tests.fakes.kite import FakeKite, shared_server
from tests.fakes.kite.fixtures import linked_kite_account  # noqa: F401 (the fixture)
from tests.fakes.kite.ticker import FakeTicker

_ticker: FakeTicker | None = None


@pytest.fixture
def fake_kite(settings) -> FakeKite:
    server = shared_server()
    kite = server.reset()
    settings.KITE_API_ROOT = server.url
    settings.KITE_TIMEOUT_SECONDS = 5.0
    settings.KITE_HISTORY_REQUESTS_PER_SECOND = 0  # no pacing against the fake
    settings.BROKER_RATE_LIMIT_REDIS_URL = ""
    return kite


@pytest.fixture
def kite_account(linked_kite_account) -> BrokerAccount:  # noqa: F811 (the fixture)
    """A Kite account logged in (a real access token of this module's ``fake_kite``)."""
    return linked_kite_account


@pytest.fixture
def fake_ticker(fake_kite, settings) -> FakeTicker:
    """One ticker server per test process, checking tokens against the current fake Kite."""
    global _ticker
    if _ticker is None:
        _ticker = FakeTicker()
    _ticker.api_key = fake_kite.api_key
    _ticker.access_tokens = fake_kite.access_tokens
    _ticker.modes.clear()
    _ticker.connects = 0
    settings.KITE_TICKER_ROOT = _ticker.url
    return _ticker
