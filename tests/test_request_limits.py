"""Oversized bodies are refused before any view parses them; deploy honours Idempotency-Key."""

import json

import pytest
from django.test import override_settings

from strategies.models import Deployment
from strategies.tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_an_oversized_json_body_is_refused_with_413(api_client):
    body = json.dumps({"name": "x" * 5000})
    response = api_client.post("/api/strategies/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_a_body_under_the_limit_reaches_the_view(api_client):
    response = api_client.post("/api/strategies/", {"name": "small"}, format="json")
    assert response.status_code == 400  # validation, not the size guard
    assert response.json()["error"]["code"] == "invalid"


def test_deploy_with_the_same_idempotency_key_deploys_once(api_client, user):
    strategy = StrategyFactory(owner=user)
    url = f"/api/strategies/{strategy.pk}/deploy/"
    first = api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-1")
    again = api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-1")
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Deployment.objects.filter(strategy=strategy).count() == 1


def test_deploy_key_reused_with_another_body_is_422(api_client, user):
    strategy = StrategyFactory(owner=user)
    url = f"/api/strategies/{strategy.pk}/deploy/"
    api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-2")
    response = api_client.post(
        url, {"feed": "replay"}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-2"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_a_refused_deploy_does_not_burn_the_key(api_client, user):
    strategy = StrategyFactory(owner=user)
    url = f"/api/strategies/{strategy.pk}/deploy/"
    api_client.post(url, {}, format="json")  # now RUNNING
    refused = api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-3")
    assert refused.status_code == 409
    api_client.post(f"/api/strategies/{strategy.pk}/stop/", {}, format="json")
    retried = api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-3")
    assert retried.status_code == 201
