"""Dashboard pages for trading: overview, backtests, deployments (live runs) and orders.

Views parse, call one service and render, as ``strategies.views`` does. Every object is fetched
through a user-scoped selector (a stranger's backtest, deployment or order is a 404), and every
state change goes through the service the API calls: ``backtest_request``, ``order_place``,
``order_cancel`` and ``strategy_stop``. A refusal is the service's own ``DomainError``, shown as
a toast (and inline on the form when it names fields).

Live updates are htmx polling: the backtest page polls a small partial every second while the
run is queued or running; the deployment page polls its live region every three seconds while
the run trades (or squares off) and fetches new equity points as JSON for its chart. Each
partial drops its ``hx-trigger`` once there is nothing left to wait for, so polling stops after
one final refresh.
"""

from __future__ import annotations

import copy
import csv
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from algosaas.errors import DomainError
from algosaas.templatetags.money import inr, inr_signed, lakh, pnl_class, price
from execution import selectors
from execution.engine.orders import WORKING_STATUSES
from execution.forms import (
    IST,
    BacktestFilterForm,
    BacktestForm,
    DeploymentFilterForm,
    OrderFilterForm,
    OrderTicketForm,
    ist_midnight,
)
from execution.marketdata.ticks import PRICE_PLACES, price_text
from execution.models import (
    Backtest,
    BacktestStatus,
    EquitySnapshot,
    Instrument,
    LivePhase,
    Order,
    OrderEvent,
)
from execution.services.backtests import backtest_bars, backtest_request
from execution.services.live import order_cancel, order_place
from strategies import catalog
from strategies import selectors as strategy_selectors
from strategies.forms import StopForm
from strategies.models import TIMEFRAME_SECONDS, Deployment, DeploymentStatus, StrategyStatus
from strategies.services import strategy_config_snapshot, strategy_stop
from strategies.views import is_htmx

PAGE_SIZE = 25
ORDERS_PAGE_SIZE = 50
RUNNING_SHOWN = 25
RECENT_ORDERS = 8
INLINE_ERRORS = "Check the highlighted fields."
LEVELS = {"success": messages.SUCCESS, "error": messages.ERROR, "warning": messages.WARNING}

# Chart sizes: a browser draws a few thousand points comfortably, not millions.
MAX_CANDLES = 1500
MARKER_TEXT_TRADES = 40
BACKTEST_TRADES_SHOWN = 500
LIVE_POINTS = 5000
LIVE_ROWS = 50

BACKTEST_POLL = "every 1s"
LIVE_POLL = "every 3s"
REFRESH_EVENT = "deployment-refresh"


# --- helpers --------------------------------------------------------------------------------


def answer_with(
    response: HttpResponse, level: str | None = None, message: str = "", *events: str
) -> HttpResponse:
    """Set ``HX-Trigger``: a toast (``app.js`` shows it) plus any page events to fire."""
    payload: dict[str, Any] = {name: True for name in events}
    if level:
        # json.dumps escapes non-ASCII (₹, quotes), so the header stays latin-1 safe.
        payload["toast"] = {"level": level, "message": message}
    if payload:
        response["HX-Trigger"] = json.dumps(payload)
    return response


def _type_names() -> dict[str, str]:
    return {t.key: t.name for t in catalog.all_types()}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _page(request: HttpRequest, queryset, size: int):
    return Paginator(queryset, size).get_page(request.GET.get("page"))


# --- overview -------------------------------------------------------------------------------


def _with_today(deployments, *, midnight: datetime):
    """Annotate each deployment with its equity at the last point before ``midnight``."""
    day_open = EquitySnapshot.objects.filter(deployment=OuterRef("pk"), ts__lt=midnight).order_by(
        "-ts"
    )
    return deployments.annotate(day_open_equity=Subquery(day_open.values("equity")[:1]))


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Equity and today's P&L of what runs, strategy counts, recent orders and any ERROR."""
    user = request.user
    strategies = strategy_selectors.strategies_for_user(user=user)
    rows = strategies.order_by().values("status").annotate(n=Count("id"))
    by_status = {row["status"]: row["n"] for row in rows}
    counts = [
        {"status": value, "label": label, "count": by_status.get(value, 0)}
        for value, label in StrategyStatus.choices
    ]
    midnight = ist_midnight(timezone.localtime(timezone.now(), IST).date())
    running = list(
        _with_today(
            selectors.deployments_for_user(user=user).filter(status=DeploymentStatus.RUNNING),
            midnight=midnight,
        ).order_by("-started_at", "-id")
    )
    names = _type_names()
    total_equity = today_pnl = total_pnl = Decimal("0")
    for d in running:
        d.pnl = selectors.deployment_pnl(d)
        base = d.day_open_equity if d.day_open_equity is not None else d.capital
        d.today_pnl = d.pnl["equity"] - base
        d.total_pnl = d.pnl["equity"] - d.capital
        d.type_name = names.get(d.strategy.strategy_type, d.strategy.strategy_type)
        total_equity += d.pnl["equity"]
        today_pnl += d.today_pnl
        total_pnl += d.total_pnl
    errored = list(strategies.filter(status=StrategyStatus.ERROR).order_by("-updated_at"))
    for strategy in errored:
        strategy.type_name = names.get(strategy.strategy_type, strategy.strategy_type)
    orders = selectors.orders_for_user(user=user).select_related("deployment__strategy")
    return render(
        request,
        "execution/overview.html",
        {
            "counts": counts,
            "total": sum(by_status.values()),
            "running": running[:RUNNING_SHOWN],
            "running_count": len(running),
            "total_equity": total_equity,
            "today_pnl": today_pnl,
            "total_pnl": total_pnl,
            "capital_running": sum((d.capital for d in running), Decimal("0")),
            "midnight": midnight,
            "open_orders": orders.filter(status__in=WORKING_STATUSES).count(),
            "recent_orders": list(orders[:RECENT_ORDERS]),
            "errored": errored,
        },
    )


# --- backtests ------------------------------------------------------------------------------

STAT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("total_return_pct", "Total return", "pct_signed"),
    ("final_equity", "Final equity", "inr"),
    ("cagr_pct", "CAGR", "pct_signed"),
    ("max_drawdown_pct", "Max drawdown", "pct_signed"),
    ("max_drawdown_days", "Longest drawdown", "days"),
    ("volatility_pct", "Volatility (annualised)", "pct"),
    ("sharpe", "Sharpe ratio", "ratio"),
    ("sortino", "Sortino ratio", "ratio"),
    ("trades", "Trades", "int"),
    ("win_rate_pct", "Win rate", "pct"),
    ("profit_factor", "Profit factor", "ratio"),
    ("avg_win", "Average win", "inr_signed"),
    ("avg_loss", "Average loss", "inr_signed"),
    ("exposure_pct", "Exposure", "pct"),
    ("total_charges", "Charges paid", "inr"),
)
HEADLINE_STATS = ("total_return_pct", "max_drawdown_pct", "sharpe", "win_rate_pct", "trades")
COLOURED = {"pct_signed", "inr_signed"}


def format_stat(value: Any, kind: str) -> str:
    """One statistic for people: ``—`` when undefined, rupees, percentages, ratios, days."""
    if value is None:
        return "—"
    if kind == "inr":
        return inr(value)
    if kind == "inr_signed":
        return inr_signed(value)
    if kind == "pct":
        return f"{lakh(value, 2)}%"
    if kind == "pct_signed":
        sign = "+" if pnl_class(value) == "up" else ""
        return f"{sign}{lakh(value, 2)}%"
    if kind == "ratio":
        return lakh(value, 2)
    if kind == "days":
        days = lakh(value, 0)
        return f"{days} day{'' if days == '1' else 's'}"
    if kind == "int":
        return lakh(int(value), 0)
    return str(value)


def stats_rows(stats: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every key of ``stats``, known ones labelled and formatted, any new one shown as is."""
    stats = stats or {}
    rows = []
    for key, label, kind in STAT_ROWS:
        value = stats.get(key)
        rows.append(
            {
                "key": key,
                "label": label,
                "value": format_stat(value, kind),
                "class": pnl_class(value) if kind in COLOURED else "",
            }
        )
    known = {key for key, _, _ in STAT_ROWS}
    for key in sorted(set(stats) - known):
        label = key.replace("_", " ").capitalize()
        rows.append({"key": key, "label": label, "value": format_stat(stats[key], ""), "class": ""})
    return rows


def _downsample(bars, limit: int) -> tuple[np.ndarray, ...]:
    """OHLC bars merged into at most ``limit`` candles of ``step`` consecutive bars each."""
    n = len(bars)
    step = max(1, math.ceil(n / limit))
    if step == 1:
        return bars.ts, bars.open, bars.high, bars.low, bars.close, step
    starts = np.arange(0, n, step)
    ends = np.minimum(starts + step - 1, n - 1)
    return (
        bars.ts[starts],
        bars.open[starts],
        np.maximum.reduceat(bars.high, starts),
        np.minimum.reduceat(bars.low, starts),
        bars.close[ends],
        step,
    )


def _price_chart(bt: Backtest, first: datetime, last: datetime, trades: list) -> dict[str, Any]:
    """Candles of the bars the backtest replayed (downsampled) and buy/sell trade markers."""
    pinned = copy.copy(bt)  # a run with an open range replays a window that moved since
    pinned.start = bt.start or first.astimezone(UTC).date()
    pinned.end = bt.end or last.astimezone(UTC).date()
    try:
        bars, _source = backtest_bars(pinned)
    except (DomainError, Instrument.DoesNotExist, ValueError, KeyError):
        return {"candles": [], "markers": [], "step": 1}
    lo = int(np.searchsorted(bars.ts, _epoch(first), side="left"))
    hi = int(np.searchsorted(bars.ts, _epoch(last), side="right"))
    bars = bars.slice(lo, hi)
    if len(bars) == 0:
        return {"candles": [], "markers": [], "step": 1}
    ts, o, h, low, c, step = _downsample(bars, MAX_CANDLES)
    candles = [
        [int(t), *(round(float(x), PRICE_PLACES) for x in (a, b, d, e))]
        for t, a, b, d, e in zip(ts, o, h, low, c, strict=True)
    ]
    # One marker per candle and side: a candle that merges many bars may hold many fills.
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for t in trades:
        long = t.quantity > 0
        for moment, buy in ((t.entry_ts, long), (t.exit_ts, not long)):
            i = max(0, int(np.searchsorted(ts, _epoch(moment), side="right")) - 1)
            group = groups.setdefault((int(ts[i]), buy), {"fills": 0, "quantity": 0, "at": set()})
            group["fills"] += 1
            group["quantity"] += abs(t.quantity)
            group["at"].add(moment)  # a reversal's exit and entry are one moment
    with_text = len(trades) <= MARKER_TEXT_TRADES
    markers = []
    for (time_, buy), group in groups.items():
        if with_text:
            text = f"{'Buy' if buy else 'Sell'} {group['quantity']}"
        else:
            text = str(len(group["at"])) if len(group["at"]) > 1 else ""
        markers.append(
            {
                "time": time_,
                "buy": buy,
                "fills": group["fills"],
                "text": text,
                "size": len(group["at"]),
            }
        )
    markers.sort(key=lambda m: m["time"])
    return {"candles": candles, "markers": markers, "step": step}


def _backtest_chart_data(bt: Backtest) -> tuple[dict[str, Any], list]:
    points = list(bt.equity.order_by("ts").values_list("ts", "equity", "drawdown_pct"))
    trades = list(bt.trades.order_by("seq"))
    data: dict[str, Any] = {
        "equity": [[_epoch(ts), float(eq), float(dd)] for ts, eq, dd in points],
        "capital": float(bt.capital),
        "candles": [],
        "markers": [],
        "step": 1,
    }
    if points:
        data.update(_price_chart(bt, points[0][0], points[-1][0], trades))
    return data, trades


def same_config(a: Any, b: Any) -> bool:
    """Compare two config snapshots; ``"100"`` and ``"100.00"`` are the same allocation."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_config(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_config(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        try:
            return Decimal(a) == Decimal(b)
        except ArithmeticError:
            return False
    return a == b


def _backtest_context(bt: Backtest) -> dict[str, Any]:
    strategy = bt.strategy
    context: dict[str, Any] = {
        "bt": bt,
        "strategy": strategy,
        "type_name": _type_names().get(bt.config.get("strategy_type"), strategy.strategy_type),
        "instrument": "{exchange}:{symbol}".format(**bt.config["instrument"]),
        "done": bt.status in (BacktestStatus.COMPLETE, BacktestStatus.FAILED),
        "poll": BACKTEST_POLL,
        # Which button to offer; the deploy service decides, and a stale page gets its refusal.
        "can_deploy": strategy.status != StrategyStatus.RUNNING and not strategy.archived_at,
        "config_changed": not same_config(strategy_config_snapshot(strategy), bt.config),
    }
    interval = TIMEFRAME_SECONDS.get(bt.config.get("timeframe"), 60)
    context["time_fmt"] = (
        "d M Y" if interval >= 86400 else ("d M Y, H:i" if interval >= 60 else "d M Y, H:i:s")
    )
    if bt.started_at and bt.finished_at:
        took = (bt.finished_at - bt.started_at).total_seconds()
        context["took"] = f"{took:.1f} s" if took < 120 else f"{took / 60:.1f} min"
    if bt.status == BacktestStatus.COMPLETE:
        chart, trades = _backtest_chart_data(bt)
        context.update(
            chart=chart,
            stats=stats_rows(bt.stats),
            headline=[r for r in stats_rows(bt.stats) if r["key"] in HEADLINE_STATS],
            trades=trades[:BACKTEST_TRADES_SHOWN],
            trade_count=len(trades),
        )
    return context


@login_required
@require_http_methods(["GET", "POST"])
def backtest_new(request: HttpRequest, pk: int) -> HttpResponse:
    """The backtest form of one strategy; a valid request goes to its result page."""
    strategy = strategy_selectors.strategy_get_for_user(user=request.user, strategy_id=pk)
    form = BacktestForm(request.POST if request.method == "POST" else None, strategy=strategy)
    if request.method == "POST" and form.is_valid():
        try:
            bt = backtest_request(strategy=strategy, user=request.user, **form.service_kwargs)
        except DomainError as e:
            inline = form.add_domain_error(e)
            messages.error(request, f"Not started: {INLINE_ERRORS if inline else e.message}")
        else:
            messages.success(request, f"Backtest #{bt.pk} of “{strategy.name}” started.")
            return redirect("backtest_detail", pk=bt.pk)
    elif request.method == "POST":
        messages.error(request, f"Not started: {INLINE_ERRORS}")
    recent = selectors.backtests_for_user(user=request.user).filter(strategy=strategy)[:6]
    instrument = strategy.instrument
    return render(
        request,
        "execution/backtest_form.html",
        {
            "strategy": strategy,
            "form": form,
            "recent": recent,
            "type_name": _type_names().get(strategy.strategy_type, strategy.strategy_type),
            "stored_bars": selectors.bars_available(
                instrument=instrument, timeframe=strategy.timeframe
            ),
        },
    )


@login_required
@require_GET
def backtest_list(request: HttpRequest) -> HttpResponse:
    filters = BacktestFilterForm(request.GET, user=request.user)
    queryset = filters.filter(selectors.backtests_for_user(user=request.user))
    page = _page(request, queryset, PAGE_SIZE)
    for bt in page:
        bt.instrument_label = "{exchange}:{symbol}".format(**bt.config["instrument"])
        bt.total_return = (bt.stats or {}).get("total_return_pct")
    context = {"filters": filters, "page": page}
    if is_htmx(request) and request.headers.get("HX-Target") == "backtest-results":
        return render(request, "execution/partials/backtest_results.html", context)
    return render(request, "execution/backtest_list.html", context)


@login_required
@require_GET
def backtest_detail(request: HttpRequest, pk: int) -> HttpResponse:
    bt = selectors.backtest_get_for_user(user=request.user, backtest_id=pk)
    return render(request, "execution/backtest_detail.html", _backtest_context(bt))


@login_required
@require_GET
def backtest_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The result body: a progress bar that polls itself until the run ends, then the results."""
    bt = selectors.backtest_get_for_user(user=request.user, backtest_id=pk)
    context = _backtest_context(bt)
    context["oob"] = True
    return render(request, "execution/partials/backtest_body.html", context)


# --- deployments ----------------------------------------------------------------------------


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
        "instrument": "{exchange}:{symbol}".format(**config["instrument"]),
        "timeframe": config.get("timeframe", ""),
        "type_name": _type_names().get(config.get("strategy_type"), config.get("strategy_type")),
        "is_running": deployment.status == DeploymentStatus.RUNNING,
        "polling": _polling(deployment),
        "poll": LIVE_POLL,
        "refresh_event": REFRESH_EVENT,
    }


def _live_context(deployment: Deployment) -> dict[str, Any]:
    pnl = selectors.deployment_pnl(deployment)
    positions = list(deployment.positions.all())
    orders = deployment.orders.select_related("instrument")
    return {
        **_deployment_head(deployment),
        "pnl": pnl,
        "net_pnl": pnl["equity"] - deployment.capital,
        "positions": positions,
        "open_orders": list(orders.filter(status__in=WORKING_STATUSES)),
        "orders": list(orders[:LIVE_ROWS]),
        "order_count": orders.count(),
        "trades": list(deployment.trades.all()[:LIVE_ROWS]),
        "events": list(
            OrderEvent.objects.filter(order__deployment=deployment)
            .select_related("order")
            .order_by("-ts", "-id")[:LIVE_ROWS]
        ),
        "live_rows": LIVE_ROWS,
        "updated_at": timezone.now(),
    }


def _lot_size(deployment: Deployment) -> int:
    return int(deployment.config["instrument"].get("lot_size") or 1)


def _new_ticket(deployment: Deployment, **initial: Any) -> OrderTicketForm:
    """A blank ticket; the quantity starts at the strategy's own size when it has one."""
    quantity = deployment.config.get("quantity") or _lot_size(deployment)
    return OrderTicketForm(
        lot_size=_lot_size(deployment), initial={"quantity": quantity, **initial}
    )


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
    return [[_epoch(ts), float(eq)] for ts, eq in rows]


@login_required
@require_GET
def deployment_list(request: HttpRequest) -> HttpResponse:
    filters = DeploymentFilterForm(request.GET)
    queryset = filters.filter(
        selectors.deployments_for_user(user=request.user).order_by("-started_at", "-id")
    )
    page = _page(request, queryset, PAGE_SIZE)
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
    context["equity_data"] = {
        "points": _equity_points(deployment),
        "capital": float(deployment.capital),
        "url": reverse("deployment_equity", args=[deployment.pk]),
        "live": context["polling"],
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
    form = OrderTicketForm(request.POST, lot_size=_lot_size(deployment))
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
        deployment, side=order.side, order_type=order.order_type, validity=order.validity
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


# --- orders ---------------------------------------------------------------------------------


def _filtered_orders(request: HttpRequest) -> tuple[OrderFilterForm, Any]:
    filters = OrderFilterForm(request.GET, user=request.user)
    queryset = filters.filter(
        selectors.orders_for_user(user=request.user).select_related("deployment__strategy")
    )
    return filters, queryset


@login_required
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    filters, queryset = _filtered_orders(request)
    page = _page(request, queryset, ORDERS_PAGE_SIZE)
    export_query = request.GET.copy()
    export_query.pop("page", None)
    context = {
        "filters": filters,
        "page": page,
        "export_url": reverse("order_export")
        + (f"?{export_query.urlencode()}" if export_query else ""),
        "has_any": bool(page.object_list) or selectors.orders_for_user(user=request.user).exists(),
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "order-results":
        context["oob"] = True
        return render(request, "execution/partials/order_results.html", context)
    return render(request, "execution/order_list.html", context)


CSV_COLUMNS = (
    "id",
    "created_at_ist",
    "updated_at_ist",
    "strategy",
    "run",
    "instrument",
    "side",
    "order_type",
    "product",
    "validity",
    "quantity",
    "filled_quantity",
    "pending_quantity",
    "price",
    "trigger_price",
    "average_price",
    "status",
    "status_message",
    "source",
    "client_order_id",
    "broker_order_id",
)


def _plain(value: Any) -> str:
    """Money and prices as plain decimals (no ₹, no grouping); blanks for nothing."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        places = -int(value.as_tuple().exponent)
        return price_text(value) if places == PRICE_PLACES else format(value, "f")
    if isinstance(value, datetime):
        return timezone.localtime(value, IST).isoformat(timespec="seconds")
    return str(value)


class _Echo:
    """A file-like object whose ``write`` hands the line back, for a streaming csv.writer."""

    def write(self, value: str) -> str:
        return value


def _csv_rows(queryset) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for o in queryset.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                _plain(v)
                for v in (
                    o.pk,
                    o.created_at,
                    o.updated_at,
                    o.deployment.strategy.name,
                    o.deployment.number,
                    o.instrument,
                    o.side,
                    o.order_type,
                    o.product,
                    o.validity,
                    o.quantity,
                    o.filled_quantity,
                    o.pending_quantity,
                    o.price,
                    o.trigger_price,
                    o.average_price,
                    o.status,
                    o.status_message,
                    o.source,
                    o.client_order_id,
                    o.broker_order_id,
                )
            ]
        )


@login_required
@require_GET
def order_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered orders as CSV, streamed (times in IST, money as plain decimals)."""
    _filters, queryset = _filtered_orders(request)
    stamp = timezone.localtime(timezone.now(), IST).strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(_csv_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="orders-{stamp}.csv"'
    return response
