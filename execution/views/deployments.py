"""Deployment pages: the list of runs and one run's live page with its order ticket and stop.

The live page polls its live region every three seconds while the run trades (or squares off)
and fetches new equity points as JSON for its chart; the region drops its ``hx-trigger`` once
there is nothing left to wait for. The ticket, the cancel buttons and the stop button call the
services the API calls (``order_place``, ``order_cancel``, ``strategy_stop``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from algosaas.errors import DomainError
from algosaas.templatetags.money import lakh, price
from execution import selectors
from execution.engine.orders import WORKING_STATUSES
from execution.forms import DeploymentFilterForm, OrderTicketForm
from execution.models import LivePhase, Order, OrderEvent, TradingMode
from execution.push.mode import live_updates
from execution.services.live import order_cancel, order_place
from execution.services.live_chart import CHART_BARS, deployment_chart, deployment_quote
from execution.views.common import (
    INLINE_ERRORS,
    LEVELS,
    PAGE_SIZE,
    answer_with,
    basket_label,
    epoch,
    paginate,
    type_names,
)
from strategies.forms import StopForm
from strategies.models import Deployment, DeploymentStatus
from strategies.services import strategy_stop
from strategies.views import is_htmx

LIVE_POINTS = 5000
LIVE_ROWS = 50
LIVE_POLL = "every 3s"
REFRESH_EVENT = "deployment-refresh"
PUSH_PATH = "/ws/live/"  # execution/push/routing.py


def _live_state(deployment: Deployment):
    try:
        return deployment.live
    except ObjectDoesNotExist:
        return None


def _polling(deployment: Deployment) -> bool:
    """Keep refreshing while the run trades, or squares off after a stop."""
    live = _live_state(deployment)
    if deployment.status == DeploymentStatus.RUNNING:
        return True
    return live is not None and live.phase == LivePhase.SQUARING_OFF


def _deployment_head(deployment: Deployment) -> dict[str, Any]:
    config = deployment.config
    live = _live_state(deployment)
    return {
        "deployment": deployment,
        "strategy": deployment.strategy,
        "live": live,
        # a run on a broker account: the page must not say "paper" (base.html, the ticket)
        "trading_live": live is not None and live.mode == TradingMode.LIVE,
        "instrument": "{exchange}:{symbol}".format(**config["instrument"]),  # the primary's
        "basket": bool(config.get("instruments")),
        "basket_label": basket_label(config),
        "currency": _currency(deployment),
        "timeframe": config.get("timeframe", ""),
        "type_name": type_names().get(config.get("strategy_type"), config.get("strategy_type")),
        "is_running": deployment.status == DeploymentStatus.RUNNING,
        "polling": _polling(deployment),
        "poll": LIVE_POLL,
        "refresh_event": REFRESH_EVENT,
    }


def _member_positions(deployment: Deployment) -> list[Any]:
    """The run's positions in basket order, each with its member's cap (``cap_pct``)."""
    positions = list(deployment.positions.select_related("instrument"))
    members = deployment.config.get("instruments")
    if not members:
        return positions
    order = {m["id"]: (n, m["allocation_pct"]) for n, m in enumerate(members)}
    for p in positions:
        p.cap_pct = order.get(p.instrument_id, (0, None))[1]
    return sorted(positions, key=lambda p: order.get(p.instrument_id, (len(order), None))[0])


def _live_context(deployment: Deployment) -> dict[str, Any]:
    pnl = selectors.deployment_pnl(deployment)
    positions = _member_positions(deployment)
    orders = deployment.orders.select_related("instrument")
    return {
        **_deployment_head(deployment),
        "pnl": pnl,
        "net_pnl": pnl["equity"] - deployment.capital,
        "positions": positions,
        "position_count": sum(1 for p in positions if p.quantity),
        "open_orders": list(orders.filter(status__in=WORKING_STATUSES)),
        "orders": list(orders[:LIVE_ROWS]),
        "order_count": orders.count(),
        "trades": list(deployment.trades.select_related("order__instrument")[:LIVE_ROWS]),
        "events": list(
            OrderEvent.objects.filter(order__deployment=deployment)
            .select_related("order")
            .order_by("-ts", "-id")[:LIVE_ROWS]
        ),
        "live_rows": LIVE_ROWS,
        "quote": deployment_quote(deployment=deployment),
        "updated_at": timezone.now(),
    }


def _lot_size(deployment: Deployment) -> int:
    return int(deployment.config["instrument"].get("lot_size") or 1)


def _new_ticket(deployment: Deployment, **initial: Any) -> OrderTicketForm:
    """A blank ticket; the quantity starts at the strategy's own size when it has one."""
    quantity = deployment.config.get("quantity") or _lot_size(deployment)
    return OrderTicketForm(
        lot_size=_lot_size(deployment),
        currency=_currency(deployment),
        members=deployment.config.get("instruments"),
        initial={"quantity": quantity, **initial},
    )


def _currency(deployment: Deployment) -> str:
    return deployment.config["instrument"].get("currency") or "INR"


def _controls_context(
    deployment: Deployment, ticket: OrderTicketForm | None = None
) -> dict[str, Any]:
    return {
        **_deployment_head(deployment),
        "ticket": ticket or _new_ticket(deployment),
        "stop_form": StopForm(),
    }


def _equity_points(deployment: Deployment, *, since: int | None = None) -> list[list[float]]:
    qs = deployment.equity.all()
    if since is not None:
        qs = qs.filter(ts__gt=datetime.fromtimestamp(since, tz=UTC))
    rows = list(qs.order_by("-ts").values_list("ts", "equity")[:LIVE_POINTS])
    rows.reverse()
    return [[epoch(ts), float(eq)] for ts, eq in rows]


@login_required
@require_GET
def deployment_list(request: HttpRequest) -> HttpResponse:
    filters = DeploymentFilterForm(request.GET)
    queryset = filters.filter(
        selectors.deployments_for_user(user=request.user).order_by("-started_at", "-id")
    )
    page = paginate(request, queryset, PAGE_SIZE)
    for d in page:
        d.pnl = selectors.deployment_pnl(d)
        d.net_pnl = d.pnl["equity"] - d.capital
        d.instrument_label = "{exchange}:{symbol}".format(**d.config["instrument"])
    context = {"filters": filters, "page": page}
    if is_htmx(request) and request.headers.get("HX-Target") == "deployment-results":
        return render(request, "execution/partials/deployment_results.html", context)
    return render(request, "execution/deployment_list.html", context)


def _render_deployment_page(
    request: HttpRequest,
    deployment: Deployment,
    ticket: OrderTicketForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {**_live_context(deployment), **_controls_context(deployment, ticket)}
    # "push", "local" (this process's own events only) or "polling": execution/push/mode.py
    context["live_updates"] = live_updates(request)
    context["push_path"] = PUSH_PATH
    context["equity_data"] = {
        "points": _equity_points(deployment),
        "capital": float(deployment.capital),
        "currency": _currency(deployment),
        "url": reverse("deployment_equity", args=[deployment.pk]),
        "live": context["polling"],
    }
    context["chart_bars"] = CHART_BARS
    context["chart_data"] = {
        **deployment_chart(deployment=deployment),
        "url": reverse("deployment_chart", args=[deployment.pk]),
        "currency": _currency(deployment),
    }
    return render(request, "execution/deployment_detail.html", context, status=status)


@login_required
@require_GET
def deployment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = selectors.deployment_get_for_user(user=request.user, deployment_id=pk)
    return _render_deployment_page(request, deployment)


@login_required
@require_GET
def deployment_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The live region (tiles and tables); once the run ends, the controls out of band too."""
    deployment = selectors.deployment_get_for_user(user=request.user, deployment_id=pk)
    context = _live_context(deployment)
    context["oob"] = True
    if not context["polling"]:
        context.update(_controls_context(deployment))
    return render(request, "execution/partials/deployment_live.html", context)


@login_required
@require_GET
def deployment_equity(request: HttpRequest, pk: int) -> JsonResponse:
    """Equity points after ``?since=`` (epoch seconds) for the live chart, oldest first."""
    deployment = selectors.deployment_get_for_user(user=request.user, deployment_id=pk, pnl=False)
    try:
        since = int(request.GET["since"]) if request.GET.get("since") else None
    except ValueError:
        return JsonResponse({"error": {"since": ["Epoch seconds expected."]}}, status=400)
    return JsonResponse(
        {"points": _equity_points(deployment, since=since), "live": _polling(deployment)}
    )


def _controls_answer(
    request: HttpRequest,
    deployment: Deployment,
    *,
    level: str,
    text: str,
    status: int = 200,
    ticket: OrderTicketForm | None = None,
    refresh: bool = False,
) -> HttpResponse:
    """htmx: the order ticket or the whole control column, with a toast; else a redirect."""
    if not is_htmx(request):
        if ticket is not None and ticket.errors:
            messages.add_message(request, LEVELS[level], text)
            return _render_deployment_page(request, deployment, ticket, status=status)
        messages.add_message(request, LEVELS[level], text)
        return redirect("deployment_detail", pk=deployment.pk)
    deployment = selectors.deployment_get_for_user(user=request.user, deployment_id=deployment.pk)
    context = _controls_context(deployment, ticket)
    template = "execution/partials/" + (
        "order_ticket.html" if ticket is not None else "deployment_controls.html"
    )
    response = render(request, template, context, status=status)
    events = (REFRESH_EVENT,) if refresh else ()
    return answer_with(response, level, text, *events)


def _placed_text(order: Order) -> tuple[str, str]:
    what = f"{order.side} {lakh(order.quantity)} {order.instrument.symbol} {order.order_type}"
    if order.price is not None:
        what += f" @ {price(order.price)}"
    if order.status in ("REJECTED", "DENIED"):
        reason = order.status_message or order.denial_rule or "no reason given"
        return "error", f"Order #{order.pk} ({what}) was {order.status.lower()}: {reason}"
    state = "filled" if order.status == "COMPLETE" else f"{order.status.lower().replace('_', ' ')}"
    return "success", f"Order #{order.pk} placed: {what} — {state}."


@login_required
@require_POST
def deployment_order_place(request: HttpRequest, pk: int) -> HttpResponse:
    """The manual order ticket: ``order_place`` on this run, as the API's POST does."""
    deployment = selectors.deployment_get_for_user(user=request.user, deployment_id=pk, pnl=False)
    form = OrderTicketForm(
        request.POST,
        lot_size=_lot_size(deployment),
        currency=_currency(deployment),
        members=deployment.config.get("instruments"),
    )
    if not form.is_valid():
        return _controls_answer(
            request, deployment, level="warning", text=f"Not placed: {INLINE_ERRORS}", ticket=form
        )
    try:
        order = order_place(deployment=deployment, **form.service_kwargs)
    except DomainError as e:
        inline = form.add_domain_error(e) if e.fields else False
        return _controls_answer(
            request,
            deployment,
            level="error",
            text=f"Order refused: {INLINE_ERRORS if inline else e.message}",
            status=e.status_code,
            ticket=form,
        )
    level, text = _placed_text(order)
    fresh = _new_ticket(
        deployment,
        side=order.side,
        order_type=order.order_type,
        validity=order.validity,
        instrument=str(order.instrument_id),
    )
    return _controls_answer(request, deployment, level=level, text=text, ticket=fresh, refresh=True)


@login_required
@require_POST
def order_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel one open order through ``order_cancel``; the live region refreshes itself."""
    order = selectors.order_get_for_user(user=request.user, order_id=pk)
    try:
        order = order_cancel(order=order)
    except DomainError as e:
        level, text, status = "error", f"Not cancelled: {e.message}", e.status_code
    else:
        level, text, status = "success", f"Cancelled order #{order.pk}.", 200
    if not is_htmx(request):
        messages.add_message(request, LEVELS[level], text)
        return redirect("deployment_detail", pk=order.deployment_id)
    return answer_with(HttpResponse(status=status), level, text, REFRESH_EVENT)


@login_required
@require_POST
def deployment_stop(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop this run through ``strategy_stop`` (optionally squaring off its position)."""
    deployment = selectors.deployment_get_for_user(user=request.user, deployment_id=pk, pnl=False)
    form = StopForm(request.POST)
    square_off = form.is_valid() and form.cleaned_data["square_off"]
    name = deployment.strategy.name
    if deployment.status != DeploymentStatus.RUNNING:
        # The stop service acts on the strategy's *current* run; never let a stale page of
        # an old run stop a newer one.
        return _controls_answer(
            request,
            deployment,
            level="error",
            text=f"Run #{deployment.number} of “{name}” is already {deployment.status.lower()}.",
            status=409,
            refresh=True,
        )
    try:
        strategy_stop(strategy=deployment.strategy, actor=request.user, square_off=square_off)
    except DomainError as e:
        return _controls_answer(
            request,
            deployment,
            level="error",
            text=f"Not stopped: {e.message}",
            status=e.status_code,
            refresh=True,
        )
    text = f"Stopped run #{deployment.number} of “{name}”" + (
        "; squaring off its open position at the next bar." if square_off else "."
    )
    return _controls_answer(request, deployment, level="success", text=text, refresh=True)
