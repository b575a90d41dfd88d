"""The API and the dashboard page: CRUD, send test, the log, secrets shown once, ownership."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from notifications import services
from notifications.models import SUBSCRIBABLE, Delivery, WebhookEndpoint
from tests.security.test_secrets_in_logs import all_logs  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

HOOKS = "/api/notifications/webhooks/"
LOG = "/api/notifications/deliveries/"


def _session(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_the_secret_is_in_the_create_answer_only(api_client, receiver):
    created = api_client.post(HOOKS, {"url": receiver.url, "kinds": ["fill", "fill"]})

    assert created.status_code == 201, created.json()
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["kinds"] == ["fill"] and body["enabled"] is True
    pk = body["id"]
    tested = api_client.post(f"{HOOKS}{pk}/test/")
    assert tested.status_code == 200 and tested.json()["status_code"] == 200
    for url in (HOOKS, f"{HOOKS}{pk}/", LOG, f"{LOG}{tested.json()['id']}/"):
        response = api_client.get(url)
        assert response.status_code == 200 and secret not in response.content.decode(), url
    assert api_client.patch(f"{HOOKS}{pk}/", {"secret": "mine"}).status_code == 200
    assert WebhookEndpoint.objects.get(pk=pk).secret == secret  # not writable


def test_secrets_never_reach_the_logs(user, api_client, receiver, all_logs, settings):  # noqa: F811
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "BACKOFF_SECONDS": 0, "MAX_ATTEMPTS": 2}
    receiver.codes = [200, 500]  # the test event, then the fill's first attempt
    secret = api_client.post(HOOKS, {"url": receiver.url}).json()["secret"]
    pk = WebhookEndpoint.objects.get(user=user).pk
    api_client.post(f"{HOOKS}{pk}/test/")
    services.dispatch(user.pk, "fill", {"fill_id": "f-9"})  # 500, then retried at once

    assert len(receiver.received) == 3
    text = all_logs.text()
    assert "webhook_attempt" in text  # the attempts were logged...
    assert secret not in text and secret[6:] not in text  # ...without the secret
    signature = receiver.received[-1].headers["X-Algosaas-Signature"]
    assert signature.split("v1=")[1] not in text
    assert not Delivery.objects.filter(payload__icontains=secret[6:]).exists()


def test_bad_input_is_a_400_naming_the_field(api_client, settings):
    def fields(body: dict) -> dict:
        response = api_client.post(HOOKS, body)
        assert response.status_code == 400
        return response.json()["error"]["fields"]

    assert "url" in fields({"url": "ftp://example.com/x"})
    assert "url" in fields({"url": "not a url"})
    assert "kinds" in fields({"url": "https://e.com/", "kinds": ["x"]})
    # more items than there are kinds (schemathesis): refused, not silently deduplicated
    assert "kinds" in fields({"url": "https://e.com/", "kinds": ["fill"] * (len(SUBSCRIBABLE) + 1)})
    assert "enabled" in fields({"url": "https://e.com/", "enabled": "false"})  # typed JSON
    assert "url" in fields({"url": 5})
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "ALLOW_PRIVATE_ADDRESSES": False}
    for url in ("http://127.0.0.1:8000/", "http://169.254.169.254/latest", "http://10.0.0.1/"):
        response = api_client.post(HOOKS, {"url": url})
        assert response.status_code == 400 and "private or loopback" in str(response.json()), url
    assert not WebhookEndpoint.objects.exists()


def test_another_users_webhooks_and_deliveries_are_404(user, other_client, receiver):
    endpoint = services.webhook_create(user=user, url=receiver.url)
    delivery = services.webhook_send_test(endpoint=endpoint)
    received = len(receiver.received)

    for url in (f"{HOOKS}{endpoint.pk}/", f"{LOG}{delivery.pk}/"):
        assert other_client.get(url).status_code == 404
    assert other_client.patch(f"{HOOKS}{endpoint.pk}/", {"enabled": False}).status_code == 404
    assert other_client.delete(f"{HOOKS}{endpoint.pk}/").status_code == 404
    assert other_client.post(f"{HOOKS}{endpoint.pk}/test/").status_code == 404
    assert other_client.get(HOOKS).json()["count"] == 0
    assert other_client.get(LOG).json()["count"] == 0
    assert other_client.get(f"{LOG}?endpoint={endpoint.pk}").json()["count"] == 0
    assert len(receiver.received) == received
    endpoint.refresh_from_db()
    assert endpoint.enabled
    assert APIClient().get(HOOKS).status_code == 401


def test_the_log_is_filtered_and_paginated(user, api_client, receiver):
    receiver.codes = [500]
    endpoint = services.webhook_create(user=user, url=receiver.url)
    services.webhook_send_test(endpoint=endpoint)
    services.webhook_send_test(endpoint=endpoint)

    failed = api_client.get(f"{LOG}?status=failed").json()
    assert failed["count"] == 1 and failed["results"][0]["status_code"] == 500
    page = api_client.get(f"{LOG}?page_size=1").json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    assert api_client.get(f"{LOG}?status=nope").status_code == 400


def test_the_page_adds_a_webhook_shows_the_secret_once_and_sends_a_test(user, receiver):
    client = _session(user)
    page = client.get("/notifications/")
    assert page.status_code == 200 and b"Notifications" in page.content

    added = client.post("/notifications/webhooks/", {"url": receiver.url, "kinds": ["fill"]})
    endpoint = WebhookEndpoint.objects.get(user=user)
    assert added.status_code == 200 and endpoint.secret in added.content.decode()
    assert endpoint.secret not in client.get("/notifications/").content.decode()

    result = client.post(f"/notifications/webhooks/{endpoint.pk}/test/", HTTP_HX_REQUEST="true")
    assert result.status_code == 200 and b"Delivered" in result.content
    assert b"HTTP 200" in result.content
    assert receiver.received[0].event["type"] == "test"

    client.post("/notifications/email/", {"email_kinds": ["fill", "daily.summary"]})
    assert user.notification_settings.email_kinds == ["fill", "daily.summary"]


def test_the_page_turns_away_another_users_webhook(user, other_user, receiver):
    endpoint = services.webhook_create(user=user, url=receiver.url)
    client = _session(other_user)
    for action in ("toggle", "delete", "test"):
        assert client.post(f"/notifications/webhooks/{endpoint.pk}/{action}/").status_code == 404
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled and receiver.received == []


def test_the_number_of_webhooks_is_capped(user, api_client, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "MAX_WEBHOOKS_PER_USER": 2}
    codes = [api_client.post(HOOKS, {"url": f"https://e.com/{i}"}).status_code for i in range(3)]
    assert codes == [201, 201, 403]
    page = _session(user).post(
        "/notifications/webhooks/", {"url": "https://e.com/x", "kinds": ["fill"]}
    )
    assert page.status_code == 400 and b"at most 2 webhooks" in page.content
    assert WebhookEndpoint.objects.filter(user=user).count() == 2


def test_the_admin_never_shows_a_secret(admin_client, user, receiver):
    endpoint = services.webhook_create(user=user, url=receiver.url)
    delivery = services.webhook_send_test(endpoint=endpoint)
    for url in (
        "/admin/notifications/webhookendpoint/",
        f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/",
        f"/admin/notifications/delivery/{delivery.pk}/change/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200 and endpoint.secret not in response.content.decode()
