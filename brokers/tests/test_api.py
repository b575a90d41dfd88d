"""``/api/brokers/``: link, list, read, unlink; secrets never come back; others' accounts 404."""

from __future__ import annotations

import json

import pytest

from brokers import crypto
from brokers.models import BrokerAccount

pytestmark = pytest.mark.django_db
SECRET = "s3cretAPIsecretValue42"


def link(client, **over):
    body = {"vendor": "kite", "label": "Main", "api_key": "kiteKEY123", "api_secret": SECRET}
    return client.post("/api/brokers/", {**body, **over}, format="json")


def test_link_stores_the_secret_encrypted_and_never_returns_it(api_client, user):
    response = link(api_client)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "login_needed" and body["status_label"] == "Login needed"
    assert body["login_url"] == f"/brokers/{body['id']}/login/"
    assert "api_secret" not in body and "access_token" not in json.dumps(body)
    assert SECRET not in response.content.decode()
    row = BrokerAccount.objects.get(pk=body["id"], user=user)
    assert SECRET not in row.api_secret_encrypted
    assert crypto.decrypt(row.api_secret_encrypted) == SECRET
    for url in ("/api/brokers/", f"/api/brokers/{row.pk}/"):
        assert SECRET not in api_client.get(url).content.decode()


def test_bad_input_is_a_400_naming_the_field(api_client):
    response = link(api_client, api_key="has spaces!")
    assert response.status_code == 400
    assert "api_key" in response.json()["error"]["fields"]
    response = link(api_client, api_secret="")
    assert "api_secret" in response.json()["error"]["fields"]
    response = link(api_client, vendor="robinhood")
    assert "vendor" in response.json()["error"]["fields"]
    response = link(api_client, label=0)  # JSON types are not coerced
    assert response.status_code == 400 and "label" in response.json()["error"]["fields"]


def test_the_same_key_twice_is_a_400_on_api_key(api_client):
    assert link(api_client).status_code == 201
    response = link(api_client)
    assert response.status_code == 400
    assert "api_key" in response.json()["error"]["fields"]


def test_another_users_account_is_404_and_unchanged(api_client, other_client):
    account_id = link(api_client).json()["id"]
    assert other_client.get(f"/api/brokers/{account_id}/").status_code == 404
    assert other_client.delete(f"/api/brokers/{account_id}/").status_code == 404
    assert other_client.get("/api/brokers/").json()["count"] == 0
    assert BrokerAccount.objects.filter(pk=account_id).exists()


def test_unlink_deletes_the_account(api_client):
    account_id = link(api_client).json()["id"]
    assert api_client.delete(f"/api/brokers/{account_id}/").status_code == 204
    assert not BrokerAccount.objects.filter(pk=account_id).exists()
    assert api_client.get(f"/api/brokers/{account_id}/").status_code == 404
