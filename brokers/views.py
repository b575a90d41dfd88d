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

from brokers import dhan_link, postbacks, selectors, services
from brokers.forms import BrokerAccountForm, DhanAccountForm, DhanTokenForm
from brokers.kite_login import kite_login_account, kite_login_complete, kite_login_start
from brokers.models import BrokerAccount
from brokers.reconcile import reconcile_account


def _page(
    request: HttpRequest,
    form: BrokerAccountForm | None = None,
    status: int = 200,
    dhan_form: DhanAccountForm | None = None,
) -> HttpResponse:
    now = timezone.now()
    rows = list(selectors.broker_accounts_for_user(user=request.user))
    accounts = [(a, a.current_status(now), a.current_status_label(now)) for a in rows]
    for a in rows:  # the URL each Dhan account's postbacks must go to (its token in the path)
        if a.vendor == BrokerAccount.Vendor.DHAN:
            a.postback_url = request.build_absolute_uri(postbacks.dhan_postback_path(account=a))
    context = {
        "accounts": accounts,
        "kite_postback_url": request.build_absolute_uri(postbacks.KITE_POSTBACK_PATH),
        "form": form or BrokerAccountForm(),
        "dhan_form": dhan_form or DhanAccountForm(),
    }
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
    if account.vendor != BrokerAccount.Vendor.KITE:
        messages.error(request, "Dhan has no login page here: paste a fresh access token.")
        return redirect("brokers:list")
    return HttpResponseRedirect(kite_login_start(account=account, session=request.session))


def _form_errors(form: DhanAccountForm, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


@login_required
@require_POST
def dhan_link_account(request: HttpRequest) -> HttpResponse:
    """Link a Dhan account from its client id and a pasted access token."""
    form = DhanAccountForm(request.POST)
    if not form.is_valid():
        return _page(request, dhan_form=form, status=400)
    try:
        account = dhan_link.dhan_account_create(user=request.user, **form.cleaned_data)
    except ValidationError as exc:
        _form_errors(form, exc)
        return _page(request, dhan_form=form, status=400)
    messages.success(request, f"Dhan account {account.api_key} linked.")
    return redirect("brokers:list")


@login_required
@require_POST
def dhan_token(request: HttpRequest, pk: int) -> HttpResponse:
    """Re-login a Dhan account: store a freshly pasted access token."""
    account = selectors.broker_account_get_for_user(user=request.user, account_id=pk)
    form = DhanTokenForm(request.POST)
    error = ""
    if not form.is_valid():
        error = form.errors["access_token"][0]
    else:
        try:
            dhan_link.dhan_account_relink(account=account, **form.cleaned_data)
        except ValidationError as exc:
            error = exc.message_dict.get("access_token", exc.messages)[0]
    if error:
        messages.error(request, f"Dhan account {account.api_key}: {error}")
        return redirect("brokers:list")
    messages.success(request, f"Dhan account {account.api_key} linked again.")
    return redirect("brokers:list")


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


@login_required
@require_POST
def account_reconcile(request: HttpRequest, pk: int) -> HttpResponse:
    """Reconcile now: the broker's order book and positions against ours."""
    account = selectors.broker_account_get_for_user(user=request.user, account_id=pk)
    out = reconcile_account(account=account)
    if out.skipped:
        messages.error(request, f"Reconciliation skipped: {out.skipped}")
    elif out.open_alerts:
        messages.warning(
            request,
            f"Reconciled: {out.fixed} order(s) brought up to date; "
            f"{len(out.open_alerts)} difference(s) need your attention.",
        )
    else:
        messages.success(request, f"Reconciled: {out.fixed} order(s) brought up to date.")
    return redirect("brokers:list")
