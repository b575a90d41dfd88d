"""Every strategies endpoint refuses a request without a valid token (401), changing nothing."""

from __future__ import annotations

import pytest

from strategies.tests.api.strategy_api import (
    URL,
    S,
    error,
)
from strategies.tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db


# --- Authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ""),
        ("post", ""),
        ("get", "{pk}/"),
        ("patch", "{pk}/"),
        ("delete", "{pk}/"),
        ("post", "{pk}/deploy/"),
        ("post", "{pk}/stop/"),
        ("post", "{pk}/archive/"),
        ("get", "{pk}/events/"),
        ("get", "{pk}/deployments/"),
    ],
)
def test_unauthenticated_is_401(method, path, anon_client, user):
    strategy = StrategyFactory(owner=user)
    response = getattr(anon_client, method)(URL + path.format(pk=strategy.pk), {}, format="json")
    assert response.status_code == 401
    assert error(response)["code"] == "not_authenticated"
    strategy.refresh_from_db()
    assert strategy.status == S.INACTIVE and strategy.archived_at is None


def test_an_invalid_token_is_401(anon_client, user):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    assert anon_client.get(URL).status_code == 401
