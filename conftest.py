"""Fixtures every test module can use: users, API clients with a JWT, a clean cache."""

import pytest


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters live in the cache; start every test from zero."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def password():
    from tests.factories import TEST_PASSWORD

    return TEST_PASSWORD


@pytest.fixture
def user(db):
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def other_user(db):
    from tests.factories import UserFactory

    return UserFactory()


def _jwt_client(u):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(u).access_token}")
    client.user = u
    return client


@pytest.fixture
def anon_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def api_client(user):
    """An API client authenticated as ``user`` with a real JWT access token."""
    return _jwt_client(user)


@pytest.fixture
def other_client(other_user):
    """An API client authenticated as ``other_user``."""
    return _jwt_client(other_user)
