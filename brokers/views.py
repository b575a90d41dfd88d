"""The Brokers page: link an account, log in to the broker, see its status, unlink."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from brokers import selectors, services
from brokers.forms import BrokerAccountForm
from brokers.kite_login import kite_login_account, kite_login_complete, kite_login_start


def _page(request: HttpRequest, form: BrokerAccountForm, status: int = 200) -> HttpResponse:
    now = timezone.now()
    accounts = [
        (a, a.current_status(now), a.current_status_label(now))
        for a in selectors.broker_accounts_for_user(user=request.user)
    ]
    context = {"accounts": accounts, "form": form}
    response = render(request, "brokers/accounts.html", context, status=status)
    # "Log in to Kite" is a form whose answer redirects to Kite: CSP's form-action covers
    # redirects, so this page (only) allows Kite's login origin besides our own.
    login = urlsplit(settings.KITE_LOGIN_URL)
    response._csp_update = {"form-action": [f"{login.scheme}://{login.netloc}"]}
    return response


@login_required
@require_http_methods(["GET", "POST"])
def account_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, BrokerAccountForm())
    form = BrokerAccountForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        account = services.broker_account_create(user=request.user, **form.cleaned_data)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _page(request, form, status=400)
    messages.success(request, f"Account {account.api_key} added. Log in to Kite to link it.")
    return redirect("brokers:list")


@login_required
@require_POST
def account_login(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the browser to the broker's login page (Kite's redirect flow; a POST, CSRF-checked)."""
    account = selectors.broker_account_get_for_user(user=request.user, account_id=pk)
    return HttpResponseRedirect(kite_login_start(account=account, session=request.session))


@login_required
@require_GET
def kite_callback(request: HttpRequest) -> HttpResponse:
    """Kite's redirect back: check the state, exchange the request token, show the outcome."""
    try:
        account = kite_login_account(
            state=request.GET.get("state", ""), user=request.user, session=request.session
        )
        if request.GET.get("status") != "success" or not request.GET.get("request_token"):
            raise services.BrokerLoginFailed("Kite did not complete the login; try again.")
        kite_login_complete(account=account, request_token=request.GET["request_token"])
    except services.BrokerLoginFailed as exc:
        messages.error(request, str(exc))
        return redirect("brokers:list")
    messages.success(request, f"Kite account {account.broker_user_id} linked until 06:00 IST.")
    return redirect("brokers:list")


@login_required
@require_POST
def account_unlink(request: HttpRequest, pk: int) -> HttpResponse:
    account = selectors.broker_account_get_for_user(user=request.user, account_id=pk)
    services.broker_account_delete(account=account)
    messages.success(request, "Broker account unlinked and its secrets deleted.")
    return redirect("brokers:list")
