"""The Notifications page: email settings, webhook endpoints, send-test and recent deliveries."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from algosaas.errors import LimitExceeded
from notifications import selectors, services
from notifications.forms import EmailKindsForm, WebhookForm

RECENT = 20


def _page(
    request: HttpRequest,
    *,
    webhook_form: WebhookForm | None = None,
    created=None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    context = {
        "email_form": EmailKindsForm(
            initial={"email_kinds": selectors.email_kinds_for_user(user=user)}
        ),
        "webhook_form": webhook_form or WebhookForm(),
        "webhooks": selectors.webhooks_for_user(user=user),
        "deliveries": selectors.deliveries_for_user(user=user)[:RECENT],
        "created": created,
    }
    return render(request, "notifications/page.html", context, status=status)


@login_required
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def email_settings(request: HttpRequest) -> HttpResponse:
    form = EmailKindsForm(request.POST)
    if form.is_valid():
        services.email_kinds_set(user=request.user, kinds=form.cleaned_data["email_kinds"])
        messages.success(request, "Email notifications saved.")
    return redirect("notifications:page")


@login_required
@require_POST
def webhook_add(request: HttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _page(request, webhook_form=form, status=400)
    try:
        endpoint = services.webhook_create(user=request.user, **form.cleaned_data)
    except LimitExceeded as exc:
        form.add_error(None, exc.message)
        return _page(request, webhook_form=form, status=400)
    # The secret is shown in this answer only (never in a redirect's query, never again).
    return _page(request, created=endpoint)


@login_required
@require_POST
def webhook_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = selectors.webhook_get_for_user(user=request.user, webhook_id=pk)
    services.webhook_update(endpoint=endpoint, enabled=not endpoint.enabled)
    return redirect("notifications:page")


@login_required
@require_POST
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    selectors.webhook_get_for_user(user=request.user, webhook_id=pk).delete()
    messages.success(request, "Webhook deleted.")
    return redirect("notifications:page")


@login_required
@require_POST
def webhook_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a test event; htmx swaps in the attempt's outcome, a plain POST returns the page."""
    endpoint = selectors.webhook_get_for_user(user=request.user, webhook_id=pk)
    delivery = services.webhook_send_test(endpoint=endpoint)
    if request.headers.get("HX-Request"):
        return render(request, "notifications/partials/test_result.html", {"d": delivery})
    if delivery.status == "delivered":
        messages.success(request, f"Test delivered (HTTP {delivery.status_code}).")
    else:
        messages.error(request, f"Test failed: {delivery.error}")
    return redirect("notifications:page")
