"""Reconciliation: the broker's books compared with ours, per linked account.

Postbacks can be lost (our server down, a network drop), so a django-q2 schedule runs this
every minute for each linked account (``brokers.tasks``), and the Brokers page can force it.
It reads the broker's order book and positions once and:

- **fixes what it can**: each order of ours (a ``BrokerOrderLink``) is brought to the
  broker's status and filled quantity through the same path as a postback
  (``order_sync.apply_report``), so a missed fill becomes its ``Trade`` and position change;
  pending postbacks whose order is now known are applied first;
- **raises what it cannot** as a ``BrokerAlert`` (shown on the Brokers page, sent as a
  ``broker.alert`` notification once): a working or filled order that is not ours; an
  intraday (MIS/NRML) net position per symbol that differs from the sum of our MIS/NRML live
  deployments' positions; and a delivery (CNC) quantity per symbol that differs from what our
  CNC live deployments hold. An alert closes by itself when a later run no longer sees the
  difference.

Delivery is compared whole: the broker's holdings (settled plus T1, what earlier days
delivered) plus today's CNC net positions (bought or sold today, not delivered yet) against our
CNC deployments' positions, which carry across days. Comparing holdings alone would flag every
CNC buy of today; comparing positions alone would flag every CNC position held overnight (the
broker moves it from positions to holdings).

Running it twice changes nothing the first run did not (fills are keyed by cumulative
quantity, alerts by ``key``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from brokers.models import BrokerAccount, BrokerAlert
from brokers.order_sync import APPLIED, apply_report
from brokers.postbacks import replay_pending
from brokers.reports import report_from_order
from brokers.services import broker_adapter_for
from execution.brokers.base import BrokerError, SessionExpired
from execution.engine.orders import OrderStatus, Product
from execution.models import BrokerOrderLink, Position, TradingMode
from notifications.models import EventKind
from notifications.services import emit

log = structlog.get_logger(__name__)

_HARMLESS = frozenset({str(OrderStatus.CANCELLED), str(OrderStatus.REJECTED), "EXPIRED"})


@dataclass
class Reconciled:
    """What one run did: orders fixed, alerts open (new ones among them), or why it skipped."""

    fixed: int = 0
    replayed: int = 0
    new_alerts: list[str] = field(default_factory=list)
    open_alerts: list[str] = field(default_factory=list)
    resolved: int = 0
    skipped: str = ""


def _our_symbol(exchange: str, symbol: str, default_exchange: str = "NSE") -> str:
    return symbol if exchange == default_exchange else f"{exchange}:{symbol}"


def reconcile_account(*, account: BrokerAccount, adapter: Any = None) -> Reconciled:
    """Compare the account's books at the broker with ours; fix, or alert (module docstring)."""
    out = Reconciled()
    if account.current_status(timezone.now()) != BrokerAccount.Status.LINKED:
        out.skipped = "the account needs a login"
        return out
    try:
        broker = adapter or broker_adapter_for(account=account)
        orders = broker.orders()
        positions = broker.positions()
        holdings = _holdings(broker)
    except (BrokerError, ValueError) as exc:
        if isinstance(exc, SessionExpired):
            account.refresh_from_db()
        out.skipped = str(exc)[:500]
        _finish(account, error=out.skipped)
        return out
    out.replayed = replay_pending(account=account)
    links = {
        link.broker_order_id: link
        for link in BrokerOrderLink.objects.select_related("live").filter(
            live__broker_account=account
        )
    }
    problems: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for order in orders:
        link = links.get(order.broker_order_id)
        if link is None:
            if str(order.status) in _HARMLESS:
                continue
            problems[f"order:{order.broker_order_id}"] = (
                BrokerAlert.Kind.UNKNOWN_ORDER,
                f"{order.side} {order.quantity} {order.symbol}: order {order.broker_order_id} "
                f"({order.raw_status}) was not placed by this platform.",
                {"broker_order_id": order.broker_order_id, "symbol": order.symbol},
            )
            continue
        report = report_from_order(order, tag=link.tag)
        result = apply_report(
            link=link, report=report, vendor=account.vendor, source="reconciliation"
        )
        out.fixed += result.outcome == APPLIED
    problems.update(_book_problems(account, positions, holdings))
    _record_alerts(account, problems, out)
    _finish(account, error="")
    log.info(
        "broker_reconciled",
        account_id=account.pk,
        fixed=out.fixed,
        replayed=out.replayed,
        alerts=len(out.open_alerts),
        new_alerts=len(out.new_alerts),
    )
    return out


def _holdings(broker: Any) -> list[Any] | None:
    """The broker's holdings, or None for an adapter that has none (delivery not compared)."""
    try:
        return broker.holdings()
    except NotImplementedError:
        return None


def _book_problems(
    account: BrokerAccount, positions: list[Any], holdings: list[Any] | None
) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Alerts for intraday positions and delivery quantities that differ from ours."""
    cnc = str(Product.CNC)
    intraday: dict[str, int] = defaultdict(int)  # the broker's MIS/NRML net positions
    today_cnc: dict[str, int] = defaultdict(int)  # the broker's CNC positions of today
    for p in positions:
        (today_cnc if str(p.product) == cnc else intraday)[p.symbol] += p.quantity
    held: dict[str, int] = defaultdict(int)
    for h in holdings or []:
        held[h.symbol] += h.quantity
    ours_intraday: dict[str, int] = defaultdict(int)
    ours_cnc: dict[str, int] = defaultdict(int)
    rows = Position.objects.filter(
        deployment__live__broker_account=account, deployment__live__mode=TradingMode.LIVE
    ).values_list(
        "quantity", "instrument__exchange", "instrument__symbol", "deployment__config__product"
    )
    for quantity, exchange, symbol, product in rows:
        delivery = holdings is not None and product == cnc
        (ours_cnc if delivery else ours_intraday)[_our_symbol(exchange, symbol)] += quantity
    if holdings is None:  # no holdings to compare: CNC positions stay with the positions
        for symbol, qty in today_cnc.items():
            intraday[symbol] += qty
        today_cnc.clear()
    problems: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for symbol in sorted(set(intraday) | set(ours_intraday)):
        theirs, ours = intraday[symbol], ours_intraday[symbol]
        if theirs == ours:
            continue
        kind = BrokerAlert.Kind.POSITION_MISMATCH if ours else BrokerAlert.Kind.UNKNOWN_POSITION
        problems[f"position:{symbol}"] = (
            kind,
            f"{symbol}: the broker holds {theirs}, our live deployments {ours}.",
            {"symbol": symbol, "broker": theirs, "ours": ours},
        )
    for symbol in sorted(set(held) | set(today_cnc) | set(ours_cnc)):
        theirs, ours = held[symbol] + today_cnc[symbol], ours_cnc[symbol]
        if theirs == ours:
            continue
        kind = BrokerAlert.Kind.HOLDING_MISMATCH if ours else BrokerAlert.Kind.UNKNOWN_HOLDING
        problems[f"holding:{symbol}"] = (
            kind,
            f"{symbol}: the broker holds {theirs} for delivery (holdings {held[symbol]}, "
            f"today's CNC {today_cnc[symbol]}), our live CNC deployments {ours}.",
            {
                "symbol": symbol,
                "broker": theirs,
                "holdings": held[symbol],
                "today": today_cnc[symbol],
                "ours": ours,
            },
        )
    return problems


def _record_alerts(
    account: BrokerAccount, problems: dict[str, tuple[str, str, dict[str, Any]]], out: Reconciled
) -> None:
    now = timezone.now()
    with transaction.atomic():
        open_alerts = {
            a.key: a
            for a in BrokerAlert.objects.select_for_update().filter(
                account=account, resolved_at__isnull=True
            )
        }
        for key, alert in open_alerts.items():
            if key not in problems:
                alert.resolved_at = now
                alert.save(update_fields=["resolved_at"])
                out.resolved += 1
        for key, (kind, message, detail) in problems.items():
            out.open_alerts.append(key)
            alert = open_alerts.get(key)
            if alert is not None:
                if alert.detail != detail or alert.message != message:
                    alert.detail, alert.message = detail, message
                    alert.save(update_fields=["detail", "message"])
                continue
            BrokerAlert.objects.create(
                account=account, kind=kind, key=key, message=message, detail=detail, created_at=now
            )
            out.new_alerts.append(key)
            log.warning("broker_alert", account_id=account.pk, kind=kind, key=key)
            emit(
                account.user_id,
                EventKind.BROKER_ALERT,
                {"broker_account_id": account.pk, "kind": kind, "message": message, **detail},
            )


def _finish(account: BrokerAccount, *, error: str) -> None:
    account.reconciled_at = timezone.now()
    account.reconcile_error = error
    account.save(update_fields=["reconciled_at", "reconcile_error", "updated_at"])
