"""pytest fixtures for the fake Dhan: the app pointed at it (REST, scrip master, feed) and a
linked Dhan account.

Import them into a test module or a ``conftest.py``::

    from tests.fakes.dhan.fixtures import dhan_account, fake_dhan, fake_dhan_feed  # noqa: F401
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.dhan.feed import FakeDhanFeed, shared_feed
from tests.fakes.dhan.server import FakeDhan, shared_server


@pytest.fixture
def fake_dhan(settings) -> FakeDhan:
    """A fresh fake Dhan whose book knows every scrip-master instrument, settings at it."""
    server = shared_server()
    dhan = server.reset()
    dhan.load_scrip_master()
    settings.DHAN_API_ROOT = server.root
    settings.DHAN_TIMEOUT_SECONDS = 5.0
    settings.DHAN_SCRIP_MASTER_URL = f"{server.url}/api-data/api-scrip-master.csv"
    settings.BROKER_RATE_LIMIT_REDIS_URL = ""
    settings.DHAN_HISTORY_REQUESTS_PER_SECOND = 0  # no pacing against the fake
    return dhan


@pytest.fixture
def dhan_account(user, fake_dhan) -> Any:
    """``user``'s Dhan account on the fake, linked with a valid token."""
    from brokers.dhan_link import dhan_account_create

    return dhan_account_create(
        user=user, client_id=fake_dhan.client_id, access_token=fake_dhan.issue_access_token()
    )


@pytest.fixture
def fake_dhan_feed(fake_dhan, settings) -> FakeDhanFeed:
    """The fake Live Market Feed, checking tokens against the current fake Dhan."""
    feed = shared_feed()
    feed.reset(fake_dhan.client_id, fake_dhan.access_tokens)
    settings.DHAN_FEED_ROOT = feed.url
    return feed
