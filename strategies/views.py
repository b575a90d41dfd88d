"""Dashboard pages for strategies: list, create/edit, detail and the lifecycle buttons.

Views parse, call one service and render. Every object comes from ``strategy_get_for_user`` (a
stranger's strategy is a 404), and every refusal is the service's own ``DomainError``: a toast
(and inline field errors on the form) carrying its message, never a rule restated here.

htmx requests get partials plus an ``HX-Trigger: {"toast": ...}`` header that ``app.js`` turns
into a toast; the same URLs answer plain form posts with a redirect and a Django message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from algosaas.errors import DomainError
from execution.engine.exits import EXIT_HELP, EXIT_LABELS
from strategies import catalog, selectors, services
from strategies.basket_picker import cap_inputs, parse_ids, picker_context
from strategies.baskets import basket_members, effective_allocations
from strategies.forms import (
    LiveDeployForm,
    StopForm,
    StrategyFilterForm,
    StrategyForm,
    choice_label,
)
from strategies.models import Strategy, StrategyStatus
from strategies.rules import text as rule_text
from strategies.rules.schema import RuleInvalid

PAGE_SIZE = 20
EVENTS_SHOWN = 100
INLINE_ERRORS = "Not saved: check the highlighted fields."
RESULTS_TARGET = "strategy-results"
LEVELS = {"success": messages.SUCCESS, "error": messages.ERROR}


# --- htmx helpers ---------------------------------------------------------------------------


def is_htmx(request: HttpRequest) -> bool:
    """True for an htmx request that wants a fragment (a history restore wants the full page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def with_toast(response: HttpResponse, level: str, message: str) -> HttpResponse:
    """Ask the page to show a toast: ``app.js`` listens for the ``toast`` event htmx fires."""
    # json.dumps escapes non-ASCII (₹, quotes), so the header stays latin-1 safe.
    response["HX-Trigger"] = json.dumps({"toast": {"level": level, "message": message}})
    return response


def _type_name(key: str) -> str:
    try:
        return catalog.get(key).name
    except catalog.UnknownStrategyType:
        return key


def _params_summary(strategy: Strategy) -> list[dict[str, Any]]:
    """Return the strategy's parameters with their catalogue labels, in catalogue order."""
    try:
        stype = catalog.get(strategy.strategy_type)
    except catalog.UnknownStrategyType:
        return [{"label": k, "value": v, "help": ""} for k, v in strategy.params.items()]
    if not stype.dashboard_form:  # a rule document: one row per section, in the text form
        try:
            sections = rule_text.section_texts(strategy.params)
        except RuleInvalid:
            sections = [(k, str(v)) for k, v in strategy.params.items() if k != "exits"]
        rows = [
            {"label": choice_label(k), "value": v, "help": "", "is_default": False}
            for k, v in sections
        ]
    else:
        rows = [
            {
                "label": p.label or p.name,
                "value": strategy.params.get(p.name, p.default),
                "help": p.help,
                "is_default": strategy.params.get(p.name, p.default) == p.default,
            }
            for p in stype.params
        ]
    return rows + _exit_rows(strategy.params.get("exits"))


def _exit_rows(exits: Any) -> list[dict[str, Any]]:
    """The stop-loss, target, trailing and time exits, with the help text of their semantics."""
    if not isinstance(exits, dict):
        return []
    return [
        {"label": EXIT_LABELS[k], "value": exits[k], "help": EXIT_HELP[k], "is_default": False}
        for k in EXIT_LABELS
        if exits.get(k) is not None
    ]


# --- list -----------------------------------------------------------------------------------


@login_required
@require_GET
def strategy_list(request: HttpRequest) -> HttpResponse:
    filters = StrategyFilterForm(request.GET)
    queryset = filters.filter(
        lambda include_archived: selectors.strategies_for_user(
            user=request.user, include_archived=include_archived
        )
    )
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    for strategy in page:
        strategy.type_name = _type_name(strategy.strategy_type)
    context = {
        "filters": filters,
        "page": page,
        "has_any": bool(page.object_list)
        or selectors.strategies_for_user(user=request.user, include_archived=True).exists(),
    }
    if is_htmx(request) and request.headers.get("HX-Target") == RESULTS_TARGET:
        return render(request, "strategies/partials/list_results.html", context)
    return render(request, "strategies/list.html", context)


# --- create / edit --------------------------------------------------------------------------


def _save(
    request: HttpRequest, form: StrategyForm, save: Callable[..., Strategy]
) -> Strategy | None:
    """Call ``save`` with the form's input; on a refusal map it onto the form and toast it."""
    if request.method != "POST":
        return None
    if not form.is_valid():  # the form's own checks, the type's cross-field rules included
        messages.error(request, INLINE_ERRORS)
        return None
    try:
        return save(**form.service_kwargs())
    except DomainError as e:
        inline = form.add_domain_error(e)
        messages.error(request, INLINE_ERRORS if inline else f"Not saved: {e.message}")
        return None


@login_required
@require_http_methods(["GET", "POST"])
def strategy_create(request: HttpRequest) -> HttpResponse:
    form = StrategyForm(
        request.POST or None,
        strategy_type=request.GET.get("type"),
        default_capital=request.user.paper_capital,
    )
    strategy = _save(request, form, lambda **kw: services.strategy_create(owner=request.user, **kw))
    if strategy is not None:
        messages.success(request, f"Created “{strategy.name}”. Deploy it when you are ready.")
        return redirect("strategies:detail", pk=strategy.pk)
    return render(request, "strategies/form.html", {"form": form, "strategy": None})


@login_required
@require_http_methods(["GET", "POST"])
def strategy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    strategy = selectors.strategy_get_for_user(user=request.user, strategy_id=pk)
    if strategy.strategy_type == "rules":  # its document is edited in the rule builder
        return redirect("strategies:builder_edit", pk=pk)
    form = StrategyForm(request.POST or None, strategy=strategy)
    saved = _save(request, form, lambda **kw: services.strategy_update(strategy=strategy, **kw))
    if saved is not None:
        messages.success(request, f"Saved “{saved.name}”.")
        return redirect("strategies:detail", pk=saved.pk)
    return render(request, "strategies/form.html", {"form": form, "strategy": strategy})


@login_required
@require_GET
def strategy_params(request: HttpRequest) -> HttpResponse:
    """The parameter fields of one strategy type: the form swaps them in when the type changes."""
    key = request.GET.get("strategy_type", "")
    try:
        catalog.get(key)
    except catalog.UnknownStrategyType:
        raise Http404("No such strategy type.") from None
    strategy = None
    if request.GET.get("strategy"):
        strategy = selectors.strategy_get_for_user(
            user=request.user, strategy_id=request.GET["strategy"]
        )
    form = StrategyForm(strategy=strategy, initial={"strategy_type": key}, strategy_type=key)
    return render(request, "strategies/partials/param_fields.html", {"form": form})


@login_required
@require_GET
def basket_picker(request: HttpRequest) -> HttpResponse:
    """The picker's region below its search box, redrawn with the ticked instruments and the
    search's matches (the box itself is never redrawn: typing in it keeps its focus)."""
    try:
        ids = parse_ids(request.GET.getlist("instruments"))
    except forms.ValidationError:  # a tampered id: redraw with nothing ticked
        ids = []
    picker = picker_context(ids, request.GET.get("basket_q", ""), cap_inputs(request.GET, ids))
    return render(request, "strategies/partials/basket_picked.html", {"picker": picker})


# --- detail and the lifecycle actions -------------------------------------------------------


def _detail_context(strategy: Strategy) -> dict[str, Any]:
    deployments = list(selectors.deployments_for_strategy(strategy=strategy))
    members = basket_members(strategy)
    basket = [
        {"instrument": m["instrument"], "cap": format(cap.normalize(), "f")}
        for m, cap in zip(members, effective_allocations(members), strict=True)
    ]
    return {
        "basket": basket,
        "strategy": strategy,
        "type_name": _type_name(strategy.strategy_type),
        "params": _params_summary(strategy),
        "events": list(selectors.strategy_events(strategy=strategy)[:EVENTS_SHOWN]),
        "deployments": deployments,
        "stop_form": StopForm(),
        "live_form": LiveDeployForm(accounts=_live_accounts(strategy.owner_id)),
        # Which buttons to offer; the services decide, and a stale page gets their refusal.
        "can_deploy": strategy.status != StrategyStatus.RUNNING and not strategy.archived_at,
        "can_stop": strategy.status == StrategyStatus.RUNNING,
        "can_archive": strategy.status != StrategyStatus.RUNNING and not strategy.archived_at,
        "can_delete": strategy.status == StrategyStatus.INACTIVE and not deployments,
    }


@login_required
@require_GET
def strategy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    strategy = selectors.strategy_get_for_user(user=request.user, strategy_id=pk)
    return render(request, "strategies/detail.html", _detail_context(strategy))


def _run_action(request: HttpRequest, pk: int, action: Callable[[Strategy], str]) -> HttpResponse:
    """Run one lifecycle action on the user's strategy and answer with its outcome."""
    strategy = selectors.strategy_get_for_user(user=request.user, strategy_id=pk)
    try:
        text = action(strategy)
    except DomainError as e:
        return _answer(request, pk, "error", e.message, e.status_code)
    return _answer(request, pk, "success", text, 200)


def _answer(request: HttpRequest, pk: int, level: str, text: str, status: int) -> HttpResponse:
    """htmx: the fresh status panel (+ history, out of band) and a toast; else a redirect to
    the detail page with a Django message."""
    if not is_htmx(request):
        messages.add_message(request, LEVELS[level], text)
        return redirect("strategies:detail", pk=pk)
    strategy = selectors.strategy_get_for_user(user=request.user, strategy_id=pk)
    response = render(
        request, "strategies/partials/detail_update.html", _detail_context(strategy), status=status
    )
    return with_toast(response, level, text)


def _live_accounts(owner_id: int) -> list[tuple[int, str]]:
    """The owner's linked broker accounts as form choices (the brokers app owns the model,
    looked up by name: strategies does not import it)."""
    model = apps.get_model("brokers", "BrokerAccount")
    now = timezone.now()
    return [
        (a.pk, f"{a.get_vendor_display()} {a.label or a.api_key} — {a.current_status_label(now)}")
        for a in model.objects.filter(user_id=owner_id)
    ]


@login_required
@require_POST
def strategy_deploy(request: HttpRequest, pk: int) -> HttpResponse:
    live: dict[str, Any] = {}
    if request.POST.get("mode") == "live":
        form = LiveDeployForm(request.POST, accounts=_live_accounts(request.user.pk))
        if not form.is_valid():
            errors = "; ".join(
                f"{form.fields[k].label}: {' '.join(v)}" for k, v in form.errors.items()
            )
            return _answer(request, pk, "error", f"Not deployed live. {errors}", 400)
        live = {"mode": "live", **form.cleaned_data}

    def deploy(strategy: Strategy) -> str:
        try:
            deployment = services.strategy_deploy(strategy=strategy, actor=request.user, **live)
        except DomainError as e:
            if e.fields:  # name what to fix: the confirmation, the account
                msgs = " ".join(str(m) for v in e.fields.values() for m in v)
                raise DomainError(f"{e.message} {msgs}") from e
            raise
        where = "live on your broker account" if live else "live"
        return f"Deployed “{strategy.name}”: run #{deployment.number} is {where}."

    return _run_action(request, pk, deploy)


@login_required
@require_POST
def strategy_stop(request: HttpRequest, pk: int) -> HttpResponse:
    form = StopForm(request.POST)
    square_off = form.is_valid() and form.cleaned_data["square_off"]

    def stop(strategy: Strategy) -> str:
        services.strategy_stop(strategy=strategy, actor=request.user, square_off=square_off)
        return f"Stopped “{strategy.name}”" + (
            " and squared off its open positions." if square_off else "."
        )

    return _run_action(request, pk, stop)


@login_required
@require_POST
def strategy_archive(request: HttpRequest, pk: int) -> HttpResponse:
    def archive(strategy: Strategy) -> str:
        services.strategy_archive(strategy=strategy)
        return f"Archived “{strategy.name}”. Its history is kept."

    return _run_action(request, pk, archive)


@login_required
@require_POST
def strategy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    strategy = selectors.strategy_get_for_user(user=request.user, strategy_id=pk)
    try:
        services.strategy_delete(strategy=strategy)
    except DomainError as e:
        return _answer(request, pk, "error", e.message, e.status_code)
    messages.success(request, f"Deleted “{strategy.name}”.")
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("strategies:list")
        return response
    return redirect("strategies:list")
