"""Backtest pages: the request form, the list, and the result page with its progress poll.

The result page polls a small partial every second while the run is queued or running; the
partial drops its ``hx-trigger`` once the run ends, so polling stops after one final refresh.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from algosaas.csv_export import csv_download
from algosaas.errors import DomainError
from algosaas.templatetags.money import format_money, lakh, pnl_class
from algosaas.templatetags.percent import pct, pct_signed
from execution import selectors
from execution.forms import IST, BacktestFilterForm, BacktestForm, ChargesEstimateForm
from execution.marketdata.ticks import PRICE_PLACES
from execution.models import Backtest, BacktestStatus, Instrument
from execution.services.backtests import backtest_bars, backtest_request
from execution.services.estimates import round_trip_estimate
from execution.views.common import (
    INLINE_ERRORS,
    PAGE_SIZE,
    basket_label,
    epoch,
    paginate,
    type_names,
)
from strategies import selectors as strategy_selectors
from strategies.models import TIMEFRAME_SECONDS, StrategyStatus
from strategies.rules import text as rule_text
from strategies.rules.schema import RuleInvalid
from strategies.services import strategy_config_snapshot
from strategies.views import is_htmx

# Chart sizes: a browser draws a few thousand points comfortably, not millions.
MAX_CANDLES = 1500
MARKER_TEXT_TRADES = 40
TRADES_PAGE_SIZE = 50

BACKTEST_POLL = "every 1s"

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


def format_stat(value: Any, kind: str, currency: str = "INR") -> str:
    """One statistic for people: ``—`` when undefined, money (in ``currency``), percentages,
    ratios, days."""
    if value is None:
        return "—"
    if kind == "inr":
        return format_money(value, currency)
    if kind == "inr_signed":
        return format_money(value, currency, signed=True)
    if kind == "pct":
        return pct(value)
    if kind == "pct_signed":
        return pct_signed(value)
    if kind == "ratio":
        return lakh(value, 2)
    if kind == "days":
        days = lakh(value, 0)
        return f"{days} day{'' if days == '1' else 's'}"
    if kind == "int":
        return lakh(int(value), 0)
    return str(value)


def stats_rows(stats: dict[str, Any] | None, currency: str = "INR") -> list[dict[str, Any]]:
    """Every key of ``stats``, known ones labelled and formatted, any new one shown as is.

    A figure the engine left undefined carries its reason (``stats["notes"]``) as ``note``.
    """
    stats = stats or {}
    notes = stats.get("notes") or {}
    rows = []
    for key, label, kind in STAT_ROWS:
        value = stats.get(key)
        rows.append(
            {
                "key": key,
                "label": label,
                "value": format_stat(value, kind, currency),
                "class": pnl_class(value) if kind in COLOURED else "",
                "note": notes.get(key, ""),
            }
        )
    known = {key for key, _, _ in STAT_ROWS} | {"notes"}
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
    lo = int(np.searchsorted(bars.ts, epoch(first), side="left"))
    hi = int(np.searchsorted(bars.ts, epoch(last), side="right"))
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
            i = max(0, int(np.searchsorted(ts, epoch(moment), side="right")) - 1)
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
    trades = list(bt.trades.select_related("instrument").order_by("seq"))
    data: dict[str, Any] = {
        "equity": [[epoch(ts), float(eq), float(dd)] for ts, eq, dd in points],
        "capital": float(bt.capital),
        "currency": backtest_currency(bt),
        "candles": [],
        "markers": [],
        "step": 1,
    }
    if points:
        primary = bt.config["instrument"]["id"]
        # a basket's price chart is its primary member's: its candles, its trades
        mine = [t for t in trades if t.instrument_id in (None, primary)]
        data.update(_price_chart(bt, points[0][0], points[-1][0], mine))
    return data, trades


def backtest_currency(bt: Backtest) -> str:
    """The currency of a backtest's instrument, from its configuration snapshot."""
    return bt.config.get("instrument", {}).get("currency") or "INR"


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


def _backtest_context(bt: Backtest, *, trades_page: str | None = None) -> dict[str, Any]:
    strategy = bt.strategy
    context: dict[str, Any] = {
        "bt": bt,
        "strategy": strategy,
        "type_name": type_names().get(bt.config.get("strategy_type"), strategy.strategy_type),
        "instrument": "{exchange}:{symbol}".format(**bt.config["instrument"]),
        "basket_label": basket_label(bt.config),
        "currency": backtest_currency(bt),
        "done": bt.status in (BacktestStatus.COMPLETE, BacktestStatus.FAILED),
        "poll": BACKTEST_POLL,
        # Which button to offer; the deploy service decides, and a stale page gets its refusal.
        "can_deploy": strategy.status != StrategyStatus.RUNNING and not strategy.archived_at,
        "config_changed": not same_config(strategy_config_snapshot(strategy), bt.config),
    }
    context["time_fmt"] = _time_fmt(bt)
    context["params"] = params_rows(bt.config.get("strategy_type"), bt.config.get("params") or {})
    if bt.started_at and bt.finished_at:
        took = (bt.finished_at - bt.started_at).total_seconds()
        context["took"] = f"{took:.1f} s" if took < 120 else f"{took / 60:.1f} min"
    if bt.status == BacktestStatus.COMPLETE:
        chart, trades = _backtest_chart_data(bt)
        stats = stats_rows(bt.stats, backtest_currency(bt))
        context.update(
            chart=chart,
            stats=stats,
            headline=[r for r in stats if r["key"] in HEADLINE_STATS],
            basket=basket_rows(bt, backtest_currency(bt)),
            basket_chart=basket_chart(bt, backtest_currency(bt)),
            **_trades_context(trades, trades_page),
        )
    return context


def params_rows(strategy_type: str | None, params: dict[str, Any]) -> list[tuple[str, Any]]:
    """The run's parameters as shown: a rule document in its text form (the JSON would be
    unreadable to a trader), any other type's parameters as they are."""
    if strategy_type == "rules":
        try:
            return rule_text.summary_rows(params)
        except RuleInvalid:
            pass
    return list(params.items())


def _cap_text(pct: Any) -> str:
    """A member's cap as typed (``20``, ``12.5``), not as stored (``20.0000``)."""
    if pct is None:
        return ""
    try:
        return format(Decimal(str(pct)).normalize(), "f")
    except ArithmeticError:
        return str(pct)


BASKET_COLUMNS = ("trades", "final_equity", "total_return_pct", "max_drawdown_pct", "win_rate_pct")


def basket_rows(bt: Backtest, currency: str) -> list[dict[str, Any]]:
    """A basket backtest's members, then its total, each with its headline figures (empty for
    a single instrument)."""
    if not bt.member_stats:
        return []
    rows = []
    for m in bt.member_stats:
        rows.append(_basket_row(f"{m['exchange']}:{m['symbol']}", m["stats"], currency, m))
    rows.append(_basket_row("Total", bt.stats or {}, currency, None))
    return rows


def basket_chart(bt: Backtest, currency: str) -> dict[str, Any] | None:
    """Each member's equity curve (downsampled in ``member_stats``) for the members' chart,
    drawn as return on its cap so members of different caps compare; ``None`` if no basket."""
    if not bt.member_stats:
        return None
    return {
        "currency": currency,
        "members": [
            {
                "label": f"{m['exchange']}:{m['symbol']}",
                "cap": m["cap"],
                "points": m.get("equity") or [],
            }
            for m in bt.member_stats
        ],
    }


def _basket_row(label: str, stats: dict[str, Any], currency: str, member: dict | None):
    kinds = {key: kind for key, _label, kind in STAT_ROWS}
    return {
        "label": label,
        "total": member is None,
        "cap": _cap_text(member["allocation_pct"]) if member else "",
        "position": member["position"] if member else "",
        "cells": [
            {
                "key": key,
                "value": format_stat(stats.get(key), kinds.get(key, ""), currency),
                "class": pnl_class(stats.get(key)) if kinds.get(key) in COLOURED else "",
            }
            for key in BASKET_COLUMNS
        ],
    }


def _time_fmt(bt: Backtest) -> str:
    """How precisely the run's times are shown: to the day, the minute or the second."""
    interval = TIMEFRAME_SECONDS.get(bt.config.get("timeframe"), 60)
    return "d M Y" if interval >= 86400 else ("d M Y, H:i" if interval >= 60 else "d M Y, H:i:s")


def _trades_context(trades: Any, page_number: str | None) -> dict[str, Any]:
    """One page of round trips (a list or a queryset) and the count of all of them."""
    page = Paginator(trades, TRADES_PAGE_SIZE).get_page(page_number)
    return {"trades": page.object_list, "trades_page": page, "trade_count": page.paginator.count}


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
    defaults = {name: form[name].value() for name in ("capital", "apply_charges", "commission_pct")}
    estimate_form = ChargesEstimateForm(
        {k: v for k, v in defaults.items() if v not in (None, False, "")}, strategy=strategy
    )
    return render(
        request,
        "execution/backtest_form.html",
        {
            "strategy": strategy,
            "form": form,
            "recent": recent,
            "type_name": type_names().get(strategy.strategy_type, strategy.strategy_type),
            "params": params_rows(strategy.strategy_type, strategy.params),
            "basket_label": basket_label(strategy_config_snapshot(strategy)),
            "stored_bars": selectors.bars_available(
                instrument=instrument, timeframe=strategy.timeframe
            ),
            "currency": instrument.currency,
            **_estimate_context(strategy, estimate_form),
        },
    )


def _estimate_context(strategy, form: ChargesEstimateForm) -> dict[str, Any]:
    if not form.is_valid():
        return {"estimate": None, "estimate_errors": form.errors, "currency": form.currency}
    estimate = round_trip_estimate(strategy=strategy, **form.estimate_kwargs())
    return {"estimate": estimate, "currency": estimate.currency}


@login_required
@require_GET
def backtest_estimate(request: HttpRequest, pk: int) -> HttpResponse:
    """The estimated charges of one round trip for the backtest form's costs (an htmx partial)."""
    strategy = strategy_selectors.strategy_get_for_user(user=request.user, strategy_id=pk)
    form = ChargesEstimateForm(request.GET, strategy=strategy)
    context = {"strategy": strategy, **_estimate_context(strategy, form)}
    return render(request, "execution/partials/charges_estimate.html", context)


@login_required
@require_GET
def backtest_list(request: HttpRequest) -> HttpResponse:
    filters = BacktestFilterForm(request.GET, user=request.user)
    queryset = filters.filter(selectors.backtests_for_user(user=request.user))
    page = paginate(request, queryset, PAGE_SIZE)
    for bt in page:
        bt.instrument_label = "{exchange}:{symbol}".format(**bt.config["instrument"])
        if len(bt.config.get("instruments") or ()) > 1:  # a basket: its primary and the others
            bt.instrument_label += f" +{len(bt.config['instruments']) - 1}"
        bt.total_return = (bt.stats or {}).get("total_return_pct")
    context = {"filters": filters, "page": page}
    if is_htmx(request) and request.headers.get("HX-Target") == "backtest-results":
        return render(request, "execution/partials/backtest_results.html", context)
    return render(request, "execution/backtest_list.html", context)


@login_required
@require_GET
def backtest_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The result page; the trades table's pager asks for its own section only (htmx)."""
    bt = selectors.backtest_get_for_user(user=request.user, backtest_id=pk)
    page = request.GET.get("page")
    if is_htmx(request) and request.headers.get("HX-Target") == "bt-trades":
        # Only the table: one page of trades, without the charts' equity and bars.
        context = {"bt": bt, "time_fmt": _time_fmt(bt), "currency": backtest_currency(bt)}
        context.update(_trades_context(bt.trades.order_by("seq"), page))
        return render(request, "execution/partials/backtest_trades.html", context)
    return render(
        request, "execution/backtest_detail.html", _backtest_context(bt, trades_page=page)
    )


TRADE_CSV_COLUMNS = (
    "seq",
    "side",
    "quantity",
    "entry_time_ist",
    "entry_price",
    "exit_time_ist",
    "exit_price",
    "charges",
    "pnl",
)


@login_required
@require_GET
def backtest_trades_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Every round trip of one backtest as CSV, streamed (times in IST, money as numbers)."""
    bt = selectors.backtest_get_for_user(user=request.user, backtest_id=pk)
    rows = (
        (
            t.seq,
            t.side,
            t.quantity,
            timezone.localtime(t.entry_ts, IST),
            t.entry_price,
            timezone.localtime(t.exit_ts, IST),
            t.exit_price,
            t.charges,
            t.pnl,
        )
        for t in bt.trades.order_by("seq").iterator(chunk_size=2000)
    )
    return csv_download(f"backtest-{bt.pk}-trades.csv", TRADE_CSV_COLUMNS, rows)


@login_required
@require_GET
def backtest_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The result body: a progress bar that polls itself until the run ends, then the results."""
    bt = selectors.backtest_get_for_user(user=request.user, backtest_id=pk)
    context = _backtest_context(bt)
    context["oob"] = True
    return render(request, "execution/partials/backtest_body.html", context)
