"""Manual orders on a running paper deployment: place, cancel and modify between steps.

Each runs in one transaction holding the deployment's live-state row lock, through the same
engine (risk gate, paper broker) the step runs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from algosaas.errors import Conflict, DomainError
from execution.brokers.base import InvalidOrderState, OrderNotFound, OrderRejected
from execution.engine.runner import RiskDenied
from execution.models import DeploymentState, LivePhase, Order, TradingMode
from execution.services import live_basket
from execution.services.live import (
    _advance,
    _engine,
    _fail_strategy,
    _lock_live,
    _save_manual,
    _write,
)
from execution.services.live_basket_orders import MemberBook, single_instrument_check
from execution.services.live_feed import _feed_now
from execution.services.live_route import relogin_after_rollback
from strategies.models import Deployment, DeploymentStatus


class DeploymentNotLive(Conflict):
    """Raised when a deployment no longer trades (stopped, failed or squaring off): HTTP 409."""

    code = "deployment_not_running"


class OrderNotOpen(Conflict):
    """Raised when cancelling or modifying an order that is already final: HTTP 409."""

    code = "order_not_open"


class OrderDenied(DomainError):
    """Raised when the risk gate refuses a modification (HTTP 422 with the rule)."""

    status_code = 422
    code = "risk_denied"


def _live_for_orders(deployment: Deployment) -> DeploymentState:
    live = _lock_live(deployment)
    if (
        live is None
        or live.phase != LivePhase.RUNNING
        or deployment.status != DeploymentStatus.RUNNING
    ):
        raise DeploymentNotLive(
            "This deployment is not running; orders can only be placed on a running one.",
            current_state=deployment.status,
        )
    return live


@relogin_after_rollback
@transaction.atomic
def order_place(
    *,
    deployment: Deployment,
    side: str,
    order_type: str,
    quantity: int,
    price: Decimal | None = None,
    trigger_price: Decimal | None = None,
    validity: str = "DAY",
    product: str | None = None,
    client_order_id: str | None = None,
    instrument: str | int | None = None,
) -> Order:
    """Place a manual order through the risk gate and the paper broker; it fills on later bars.

    "Later" means bars that open after the order is placed (``_feed_now``): a MARKET order
    fills at the next bar's open, never at the open of the bar in progress or of bars that
    closed since the last step.

    A refused order is still recorded (REJECTED by the broker or DENIED by the risk gate, with
    the reason), as a broker's order book would show it.

    On a basket ``instrument`` names the member (symbol or id) whose engine and paper book
    take the order; elsewhere it may be left out (400 naming it if it names another).
    """
    live = _live_for_orders(deployment)
    book = _member_book(live, instrument)
    engine = (
        book.engine if book else _engine(live, cids=[client_order_id] if client_order_id else [])
    )
    cid = client_order_id or f"m{deployment.pk}-{uuid.uuid4().hex[:20]}"
    now_ts = int(timezone.now().timestamp())
    feed_ts = book.feed_now(now_ts) if book else _feed_now(live, now_ts)
    res = engine.submit_order(
        client_order_id=cid,
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=None if price is None else float(price),
        trigger_price=None if trigger_price is None else float(trigger_price),
        product=product,
        validity=validity,
        now_ts=now_ts,
        feed_ts=feed_ts,
    )
    if book:
        rows = book.save([res.order], res.events, source="manual")
    else:
        rows = _save_manual(live, engine, [res.order], res.events, source="manual")
    order = rows[res.order.client_order_id]
    if live.mode == TradingMode.LIVE:  # the broker's answer moved it on (brokers.order_sync)
        order.refresh_from_db()
    return order


def _member_book(live: DeploymentState, instrument: str | int | None) -> MemberBook | None:
    """A basket's member named by ``instrument``; ``None`` (after checking it) elsewhere."""
    if live_basket.is_basket(live):
        return MemberBook.open(live, instrument)
    single_instrument_check(live.deployment.config, instrument)
    return None


def _order_engine(live: DeploymentState, order: Order) -> tuple[Any, MemberBook | None]:
    """The engine holding ``order`` (its member's on a basket) and the member's book."""
    if live_basket.is_basket(live):
        book = MemberBook.of_order(live, order)
        return book.engine, book
    return _engine(live, cids=[order.client_order_id]), None


def _save_change(live: DeploymentState, engine: Any, book: MemberBook | None, res: Any) -> None:
    if book:
        book.save([res.order], res.events, source="strategy")
    else:
        _save_manual(live, engine, [res.order], res.events)


def _catch_up(deployment: Deployment, now: datetime) -> None:
    """Process the bars that closed since the last step, as the step would, in their own commit.

    A cancel or a modification takes effect only on bars opening after it; the bars that had
    closed before it but that the (late) step had not processed yet belong to the order's old
    terms, so they are processed first: a fill the old terms made there is kept. The result is
    the step's own (the same engine over the same bars), so it commits even if the change is
    then refused (the order filled meanwhile: 409).
    """
    halted = None
    with transaction.atomic():
        live = _lock_live(deployment)
        if (
            live is None
            or live.phase != LivePhase.RUNNING
            or deployment.status != DeploymentStatus.RUNNING
        ):
            return  # the change itself is refused (``_live_for_orders``)
        adv = _advance(live, now)
        if adv.result is None:
            return  # the step is not behind: nothing to write
        _write([adv], now)
        halted = adv.halted
    if halted:  # as after a step: the lifecycle change follows the commit
        _fail_strategy(deployment.pk, halted)


@relogin_after_rollback
def order_cancel(*, order: Order) -> Order:
    """Cancel an open order (409 if it is already final).

    Bars the late step had not processed yet are processed first (``_catch_up``).
    """
    now = timezone.now()
    _catch_up(order.deployment, now)
    return _order_cancel(order=order, now=now)


@transaction.atomic
def _order_cancel(*, order: Order, now: datetime) -> Order:
    live = _live_for_orders(order.deployment)
    engine, book = _order_engine(live, order)
    try:
        res = engine.cancel_order(order.client_order_id, now_ts=int(now.timestamp()))
    except (InvalidOrderState, OrderNotFound) as e:
        order.refresh_from_db()
        raise OrderNotOpen(
            f"The order is {order.status} and can no longer be cancelled.",
            current_state=order.status,
        ) from e
    _save_change(live, engine, book, res)
    order.refresh_from_db()
    return order


@relogin_after_rollback
def order_modify(
    *,
    order: Order,
    quantity: int | None = None,
    price: Decimal | None = None,
    trigger_price: Decimal | None = None,
) -> Order:
    """Change an open order's quantity, price or trigger (409 if final, 422 if risk refuses).

    The new terms meet only bars that open after the change; the bars the late step had not
    processed yet are processed first, under the old terms (``_catch_up``).
    """
    now = timezone.now()
    _catch_up(order.deployment, now)
    return _order_modify(
        order=order, now=now, quantity=quantity, price=price, trigger_price=trigger_price
    )


@transaction.atomic
def _order_modify(
    *,
    order: Order,
    now: datetime,
    quantity: int | None,
    price: Decimal | None,
    trigger_price: Decimal | None,
) -> Order:
    live = _live_for_orders(order.deployment)
    engine, book = _order_engine(live, order)
    now_ts = int(now.timestamp())
    try:
        res = engine.modify_order(
            order.client_order_id,
            now_ts=now_ts,
            feed_ts=book.feed_now(now_ts) if book else _feed_now(live, now_ts),
            quantity=quantity,
            price=None if price is None else float(price),
            trigger_price=None if trigger_price is None else float(trigger_price),
        )
    except (InvalidOrderState, OrderNotFound) as e:
        order.refresh_from_db()
        raise OrderNotOpen(
            f"The order is {order.status} and can no longer be modified.",
            current_state=order.status,
        ) from e
    except RiskDenied as e:
        raise OrderDenied(e.denial.message, rule=e.denial.rule) from e
    except (OrderRejected, ValueError) as e:  # off tick, not above the filled part, funds
        sent = {"quantity": quantity, "price": price, "trigger_price": trigger_price}
        named = [f for f, v in sent.items() if v is not None] or ["quantity"]
        raise DomainError(str(e), fields={f: [str(e)] for f in named}) from e
    _save_change(live, engine, book, res)
    order.refresh_from_db()
    return order
