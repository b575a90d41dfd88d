"""The rule builder page: create and edit a ``rules`` strategy from the dashboard.

One view per page serves every round trip: the builder posts its fields with an ``action``
(``add:<path>``, ``group:<path>``, ``remove:<path>``, ``template:<key>``, ``text``, ``save``).
htmx posts get the builder partial back, re-rendered from the canonical document with its
preview and errors; a plain post (no JS) gets the whole page, so the text form works without
scripts. Validation is the catalogue's and the service's; errors keep their document paths,
which are the builder inputs' names.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from algosaas.errors import DomainError
from strategies import builder, rules_service, selectors, services
from strategies.exceptions import RuleTextInvalid
from strategies.forms import RuleStrategyForm
from strategies.models import Strategy
from strategies.views import INLINE_ERRORS, is_htmx

PANEL = "strategies/builder_panel.html"
STRATEGY_FIELDS = (
    "name",
    "instrument",
    "timeframe",
    "sizing",
    "quantity",
    "allocation_pct",
    "product",
    "capital",
)


def _edit(raw: dict[str, Any], action: str, text: str) -> tuple[dict[str, Any], list]:
    """Apply one builder action to the posted document; return it and any text errors."""
    verb, _, arg = action.partition(":")
    if verb == "template":
        return builder.template(arg) or raw, []
    if verb == "text":
        try:
            parsed = rules_service.rules_parse(text=text)
        except RuleTextInvalid as e:
            return raw, list(e.extra.get("positions") or [])
        doc = parsed.get("document")
        if doc is None:  # one condition is the entry; the exits typed above stay
            doc = {"entry_long": parsed["condition"]}
            if "exits" in raw:
                doc["exits"] = raw["exits"]
        return builder.as_sections(doc), []
    if verb in ("add", "group", "remove"):
        return builder.apply_action(raw, action), []
    return raw, []


def _page(
    request: HttpRequest, strategy: Strategy | None
) -> tuple[RuleStrategyForm, builder.Checked, list, str, Strategy | None]:
    if request.method != "POST":
        form = RuleStrategyForm(strategy=strategy, default_capital=request.user.paper_capital)
        doc = builder.as_sections(strategy.params) if strategy else builder.template("golden_cross")
        checked = builder.check(doc or {})
        return form, checked, [], checked.text, None
    action = request.POST.get("action", "")
    if action == "save":
        form = RuleStrategyForm(
            request.POST, strategy=strategy, default_capital=request.user.paper_capital
        )
    else:  # an edit of the rule: keep what was typed, but no "required" before a save
        typed: dict[str, Any] = {k: v for k, v in request.POST.items() if k in STRATEGY_FIELDS}
        if request.POST.get("basket_form"):  # the picker's ticks survive a full-page redraw
            ids = request.POST.getlist("instruments")
            typed["instruments"] = [int(i) for i in ids if i.isdigit() and len(i) < 19]
        form = RuleStrategyForm(
            strategy=strategy, initial=typed, default_capital=request.user.paper_capital
        )
    text = request.POST.get("rule_text", "")
    raw, text_errors = _edit(builder.from_post(request.POST), action, text)
    checked = builder.check(raw)
    if not text_errors:
        text = checked.text or text
    saved = None
    if action == "save":
        saved = _save(request, form, checked, strategy)
    return form, checked, text_errors, text, saved


def _save(
    request: HttpRequest, form: RuleStrategyForm, checked: builder.Checked, strategy
) -> Strategy | None:
    """Save through the service; a refusal's ``params`` paths go onto the builder's inputs."""
    if not form.is_valid() or checked.errors:
        messages.error(request, INLINE_ERRORS)
        return None
    kwargs = form.service_kwargs_with(checked.doc)
    try:
        if strategy is None:
            return services.strategy_create(owner=request.user, **kwargs)
        return services.strategy_update(strategy=strategy, **kwargs)
    except DomainError as e:
        fields = dict(e.fields)
        params = fields.pop("params", None)
        if isinstance(params, dict):
            checked.errors.update({k: list(v) for k, v in params.items()})
        inline = form.place_errors(fields) if fields else True
        if e.status_code != 400 or not e.fields:
            form.add_error(None, e.message)
        messages.error(request, INLINE_ERRORS if inline else f"Not saved: {e.message}")
        return None


def _respond(request: HttpRequest, strategy: Strategy | None) -> HttpResponse:
    form, checked, text_errors, text, saved = _page(request, strategy)
    if saved is not None:
        verb = "Created" if strategy is None else "Saved"
        messages.success(request, f"{verb} “{saved.name}”. Backtest it from here.")
        return redirect("strategies:builder_edit", pk=saved.pk)
    url = (
        reverse("strategies:builder_edit", args=[strategy.pk])
        if strategy
        else reverse("strategies:builder")
    )
    context = {
        "form": form,
        "strategy": strategy,
        "builder_url": url,
        "text_errors": text_errors,
        "rule_text": text,
        **builder.view(checked),
    }
    action = request.POST.get("action", "")
    if is_htmx(request) and action != "save":
        context["oob_exits"] = action.startswith(("template:", "text"))
        return render(request, PANEL, context)
    return render(request, "strategies/builder.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def rule_builder(request: HttpRequest) -> HttpResponse:
    """A new rule strategy, starting from the golden-cross template."""
    return _respond(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def rule_builder_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit one of the user's rule strategies (anyone else's is a 404)."""
    strategy = selectors.strategy_get_for_user(user=request.user, strategy_id=pk)
    if strategy.strategy_type != RuleStrategyForm.RULES:
        return redirect("strategies:edit", pk=pk)
    return _respond(request, strategy)
