"""Live mode: what a deployment's engine decided leaves for its linked broker account.

A live deployment runs the same engine as a paper one: the risk gate, the paper book (the
deployment's model of its orders, filled on the deployment's feed) and the ledger. After each
step, manual call or stop has written its orders (``live_persist._persist``), ``route_orders``
sends the account's adapter what changed, in the same transaction:

- an order the engine created and our gate let through is *placed*, with our client order id
  as its tag (Kite) or correlationId (Dhan) behind the strategy's algo id. An order our risk
  gate DENIED, or the paper model REJECTED (lot, tick, funds of the deployment), never leaves:
  the daily-loss kill switch and the per-order notional cap act before any HTTP call;
- an order the engine cancelled (a stop, a halt, a superseded leg, the other leg of a filled
  bracket: one-cancels-other) is *cancelled* at the broker, and a modified one (a trailing
  stop) *modified*.

Each placement is a ``BrokerOrderLink`` row written in the step's transaction. If the
transaction rolls back after the broker accepted an order, the retried step sends the same
tag again and the adapter finds the order instead of placing it twice; a broker that does not
answer fails the step, which is retried, so no order is lost either. A broker refusal fails
the step too (``LiveOrderRefused``): after ``MAX_STEP_FAILURES`` the strategy goes to ERROR
with the broker's reason, its working orders cancelled. The engine still decides on its
paper model's fills, but a live deployment's Order rows, their fills (``Trade``) and its
position are the broker's: every answer here, each postback and the reconciliation job apply
its reports (``brokers.order_sync``); ``live_persist`` writes only an order's creation.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import structlog
from django.utils import timezone

from algosaas.errors import DomainError
from execution.brokers.base import (
    BrokerAdapter,
    BrokerError,
    BrokerOrder,
    InvalidOrderState,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    SessionExpired,
)
from execution.engine.orders import (
    TERMINAL_STATUSES,
    OrderStatus,
    OrderTrigger,
    OrderType,
    Product,
    Side,
    Validity,
)
from execution.engine.state import OrderRecord
from execution.models import BrokerOrderLink, DeploymentState, TradingMode

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

_CANCEL = str(OrderTrigger.CANCEL)
_MODIFY = str(OrderTrigger.MODIFY)
_FINAL = frozenset(str(s) for s in TERMINAL_STATUSES)
_NOT_SENT = frozenset({str(OrderStatus.DENIED), str(OrderStatus.REJECTED)})


class LiveOrderRefused(BrokerError):
    """Raised when the broker refuses an order the engine placed: the step fails visibly."""


class BrokerUnavailable(DomainError):
    """Raised to a person (a manual order, a stop) when the broker refused or did not answer."""

    status_code = 502
    code = "broker_unavailable"
    live: DeploymentState | None = None  # whose broker it was (``relogin_after_rollback``)


# ----------------------------------------------------------------------------- deploy


def live_account_check(*, owner_id: int, account_id: Any, now: datetime | None = None) -> Any:
    """Return the broker account ``account_id`` of user ``owner_id`` if it can trade now.

    A missing account and someone else's answer alike (no existence leak); an account whose
    session has expired says it needs a re-login. Both are 400s naming ``broker_account``.
    """
    from brokers.models import BrokerAccount

    account = None
    if isinstance(account_id, int) and not isinstance(account_id, bool):
        account = BrokerAccount.objects.filter(pk=account_id, user_id=owner_id).first()
    if account is None:
        raise DomainError(
            "No such broker account.", fields={"broker_account": ["No such broker account."]}
        )
    if account.current_status(now or timezone.now()) != BrokerAccount.Status.LINKED:
        message = "This broker account needs a re-login before it can trade live."
        raise DomainError(message, fields={"broker_account": [message]})
    return account


def live_routing(
    deployment: Any, live: dict[str, Any] | None, *, members: list[Any] | None = None
) -> dict[str, Any]:
    """The ``DeploymentState`` fields of a deploy's ``live`` options (``{}`` for paper).

    ``members``: a basket's instruments, each of which must carry the account's vendor ids
    (``vendor_ids_check``); a single deployment's Dhan instrument needs its security id.
    """
    if not live or live.get("mode") != TradingMode.LIVE:
        return {}
    account = live_account_check(
        owner_id=deployment.strategy.owner_id, account_id=live.get("broker_account")
    )
    if members is not None:
        vendor_ids_check(account=account, instruments=members)
    else:
        instrument = getattr(deployment.strategy, "instrument", None)
        if account.vendor == "dhan" and instrument is not None and not instrument.dhan_security_id:
            message = (
                f"{instrument} has no Dhan security id: run import_instruments --from dhan first."
            )
            raise DomainError(message, fields={"broker_account": [message]})
    return {
        "mode": TradingMode.LIVE,
        "broker_account": account,
        "algo_id": live.get("algo_id") or default_algo_id(deployment.strategy_id),
    }


def vendor_ids_check(*, account: Any, instruments: list[Any]) -> None:
    """Refuse (a 400 naming each member and ``instruments``) instruments the account's broker
    cannot be sent: Kite needs the instrument from its dump (``kite_token``: Kite lists that
    tradingsymbol on that exchange), Dhan its ``securityId`` and ``exchangeSegment``."""
    if account.vendor == "dhan":
        missing = [i for i in instruments if not i.dhan_security_id or not i.dhan_segment]
        needs, command = "Dhan security id", "import_instruments --from dhan"
    else:
        missing = [i for i in instruments if i.kite_token is None]
        needs, command = "Kite instrument token", "import_instruments --from kite"
    if missing:
        names = ", ".join(str(i) for i in missing)
        message = f"{names}: no {needs}; run {command} first (or leave them out of the basket)."
        raise DomainError(message, fields={"instruments": [message]})


def default_algo_id(strategy_id: int) -> str:
    """The algo id a strategy's orders carry when the deploy names none: ``A`` + its id in
    base 36 (the exchange-assigned id, when the broker has registered one, replaces it)."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    n, out = int(strategy_id), ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return "A" + out


# ----------------------------------------------------------------------------- routing


def live_adapter(live: DeploymentState) -> BrokerAdapter:
    """The adapter of the account ``live`` trades on, its orders tagged with the algo id."""
    from brokers.services import broker_adapter_for

    account = live.broker_account
    if account is None:
        raise LiveOrderRefused(f"deployment {live.pk}: its broker account has been unlinked")
    return broker_adapter_for(account=account, algo_id=live.algo_id)


def route_orders(
    live: DeploymentState,
    orders: list[OrderRecord],
    events: list[Any],
    *,
    adapter: BrokerAdapter | None = None,
    best_effort: bool = False,
    exchange: str | None = None,
) -> None:
    """Send the account what this run changed (module docstring). Paper mode: nothing.

    ``best_effort`` (a halt, whose strategy is failing anyway): log what fails, raise nothing.
    ``exchange``: the orders' instrument's (a basket member's); the adapter is sent
    ``EX:SYMBOL`` off its default exchange, so a BSE or NFO member reaches the right one.
    """
    if live.mode != TradingMode.LIVE or not orders:
        return
    triggers: dict[str, set[str]] = defaultdict(set)
    for ev in events:
        triggers[ev.client_order_id].add(ev.trigger)
    links = {
        link.client_order_id: link
        for link in BrokerOrderLink.objects.filter(
            live=live, client_order_id__in=[r.client_order_id for r in orders]
        )
    }
    todo = [r for r in orders if r.client_order_id in links or leaves(r)]
    if not todo:
        return  # denied by our gate (or refused by the model): nothing leaves
    try:
        broker = adapter or live_adapter(live)
    except BrokerError as exc:  # no session (expired, unlinked): nothing can be sent
        if not best_effort:
            raise
        log.warning("live_route_failed", deployment_id=live.pk, error=str(exc))
        return
    for rec in todo:
        try:
            _route_one(live, broker, rec, links.get(rec.client_order_id), triggers, exchange)
        except BrokerError as exc:
            if not best_effort:
                raise
            log.warning("live_route_failed", deployment_id=live.pk, error=str(exc))


_LEG_SUFFIXES = ("-sl", "-tp")
_FILLING = frozenset({str(OrderStatus.COMPLETE), str(OrderStatus.PARTIALLY_FILLED)})


def sync_bracket_legs(live: DeploymentState, *, adapter: BrokerAdapter | None = None) -> None:
    """One-cancels-other at the broker, from the broker's own fills (Kite has no bracket order).

    The engine's legs ``-sl`` / ``-tp`` work at the broker as two plain orders; at each step
    their broker status is read, and once one of them has filled (even in part) there, the
    others are cancelled there, whatever the deployment's model saw. Best effort: a broker that
    does not answer now is asked again at the next step.
    """
    if live.mode != TradingMode.LIVE:
        return
    legs = [
        link
        for link in BrokerOrderLink.objects.filter(live=live).exclude(status__in=_FINAL)
        if link.client_order_id.endswith(_LEG_SUFFIXES)
    ]
    if not legs:
        return
    try:
        broker = adapter or live_adapter(live)
        for link in legs:
            answer = broker.order_status(link.broker_order_id)
            fields = _answer(answer, timezone.now())
            for k, v in fields.items():
                setattr(link, k, v)
            link.save(update_fields=list(fields))
            _record_answer(live, link, answer, broker)
        filled = [link for link in legs if link.status in _FILLING]
        if filled:
            for link in legs:
                if link not in filled and link.status not in _FINAL:
                    _change(link, lambda link=link: broker.cancel_order(link.broker_order_id))
                    log.info(
                        "live_oco_cancelled",
                        deployment_id=live.pk,
                        cancelled=link.client_order_id,
                        filled=filled[0].client_order_id,
                    )
    except BrokerError as exc:
        log.warning("live_oco_sync_failed", deployment_id=live.pk, error=str(exc))


def relogin_after_rollback(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Wrap a person's call (a manual order, cancel or modification) that runs in its own
    transaction: when the broker refused it for an expired session, the call is rolled back
    whole, the account's "re-login needed" mark with it; mark it again, after the rollback."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> _T:
        try:
            return fn(*args, **kwargs)
        except BrokerUnavailable as exc:
            if exc.live is not None and exc.__cause__ is not None:
                live_session_lost(exc.live, exc.__cause__)
            raise

    return call


def live_session_lost(live: DeploymentState, error: Exception) -> None:
    """After a step failed on an expired session: mark the account "re-login needed".

    The adapter marks it as it meets the expiry, but inside the step's transaction, which the
    failure rolled back; this runs after, in its own.
    """
    if not isinstance(error, SessionExpired) or live.broker_account_id is None:
        return
    from brokers.models import BrokerAccount
    from brokers.services import broker_account_mark_relogin

    account = BrokerAccount.objects.filter(pk=live.broker_account_id).first()
    if account is not None:
        broker_account_mark_relogin(account=account, error=str(error))


def leaves(rec: OrderRecord) -> bool:
    """Whether a new order goes to the broker: not refused by our gate or model, and not one
    the model created and cancelled unfilled in the same run (the broker need never see it)."""
    if rec.status in _NOT_SENT:
        return False
    return not (rec.status in _FINAL and rec.filled_quantity == 0)


def _route_one(
    live: DeploymentState,
    broker: BrokerAdapter,
    rec: OrderRecord,
    link: BrokerOrderLink | None,
    triggers: dict[str, set[str]],
    exchange: str | None = None,
) -> None:
    cid = rec.client_order_id
    now = timezone.now()
    if link is None:
        placed = broker.place_order(_request(rec, _broker_symbol(rec.symbol, exchange, broker)))
        link = BrokerOrderLink.objects.create(
            live=live,
            client_order_id=cid,
            broker_order_id=placed.broker_order_id,
            tag=_tag_of(broker, cid),
            sent_at=now,
            **_answer(placed, now),
        )
        log.info(
            "live_order_placed",
            deployment_id=live.pk,
            client_order_id=cid,
            broker_order_id=placed.broker_order_id,
            status=str(placed.status),
        )
        _record_answer(live, link, placed, broker)
        if placed.status == OrderStatus.REJECTED:
            raise LiveOrderRefused(f"{broker.name} rejected {cid}: {placed.status_message}")
    done = triggers.get(cid, set())
    if _CANCEL in done and link.status not in _FINAL:
        _change(link, lambda: broker.cancel_order(link.broker_order_id))
    elif _MODIFY in done and rec.status not in _FINAL and link.status not in _FINAL:
        otype = rec.order_type
        _change(
            link,
            lambda: broker.modify_order(
                link.broker_order_id,
                quantity=rec.quantity,
                price=rec.price if otype in ("LIMIT", "SL") else None,
                trigger_price=rec.trigger_price if otype in ("SL", "SL-M") else None,
            ),
        )


def _change(link: BrokerOrderLink, call: Any) -> None:
    """Cancel or modify at the broker; an order already final there is left as it is."""
    try:
        answer = call()
    except (InvalidOrderState, OrderNotFound) as exc:
        link.message = str(exc)[:500]
        link.updated_at = timezone.now()
        link.save(update_fields=["message", "updated_at"])
        return
    except OrderRejected as exc:
        raise LiveOrderRefused(f"{link.client_order_id}: {exc}") from exc
    fields = _answer(answer, timezone.now())
    for k, v in fields.items():
        setattr(link, k, v)
    link.save(update_fields=list(fields))
    _record_answer(link.live, link, answer, None)


def _record_answer(
    live: DeploymentState, link: BrokerOrderLink, answer: BrokerOrder, broker: Any
) -> None:
    """The broker's answer moves our order too (``brokers.order_sync``, as a postback would),
    then any postback that arrived before this answer is applied."""
    from brokers.order_sync import apply_report
    from brokers.postbacks import replay_pending
    from brokers.reports import report_from_order

    vendor = getattr(broker, "name", "") or (
        live.broker_account.vendor if live.broker_account_id else "broker"
    )
    report = report_from_order(answer, tag=link.tag)
    apply_report(link=link, report=report, vendor=vendor, source="answer")
    if live.broker_account_id:
        replay_pending(account=live.broker_account, broker_order_id=link.broker_order_id)


def _answer(o: BrokerOrder, now: datetime) -> dict[str, Any]:
    return {
        "status": str(o.status),
        "broker_status": o.raw_status[:64],
        "message": (o.status_message or "")[:500],
        "updated_at": now,
    }


def _tag_of(broker: BrokerAdapter, cid: str) -> str:
    """What the broker stores as the order's tag (Kite) or correlationId (Dhan)."""
    algo = getattr(broker, "algo_id", "")
    if broker.name == "kite":
        from execution.brokers.kite_mapping import kite_tag

        return kite_tag(cid, algo)
    if broker.name == "dhan":
        from execution.brokers.dhan_mapping import correlation_id

        return correlation_id(cid, algo)
    return cid


def _broker_symbol(symbol: str, exchange: str | None, broker: Any) -> str:
    """``symbol`` as the adapter reads it: bare on its default exchange, else ``EX:SYMBOL``."""
    if not exchange or ":" in symbol or exchange == getattr(broker, "exchange", "NSE"):
        return symbol
    return f"{exchange}:{symbol}"


def _request(rec: OrderRecord, symbol: str | None = None) -> OrderRequest:
    return OrderRequest(
        rec.client_order_id,
        symbol or rec.symbol,
        Side(rec.side),
        OrderType(rec.order_type),
        rec.quantity,
        Product(rec.product),
        Validity(rec.validity),
        price=rec.price,
        trigger_price=rec.trigger_price,
    )
