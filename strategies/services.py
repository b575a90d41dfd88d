"""Writes for strategies: create, update, archive, delete and the lifecycle transitions.

Every status change goes through ``strategy_transition``: it locks the row, looks the edge up
in ``STRATEGY_TRANSITIONS``, saves, writes a ``StrategyEvent`` and calls the deployment runner,
all in one transaction.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from algosaas.errors import LimitExceeded
from strategies import catalog
from strategies.baskets import (
    basket_errors,
    basket_members,
    basket_replace,
    basket_snapshot,
    members_changed,
)
from strategies.exceptions import (
    StrategyArchived,
    StrategyHasHistory,
    StrategyInvalid,
    StrategyRunning,
)
from strategies.lifecycle import Trigger, strategy_next_status
from strategies.models import Deployment, DeploymentStatus, Strategy, StrategyEvent, StrategyStatus
from strategies.runners import get_runner

# Fields whose change would alter how a running strategy trades.
TRADING_FIELDS = (
    "strategy_type",
    "params",
    "instrument",
    "timeframe",
    "quantity",
    "allocation_pct",
    "product",
    "capital",
    "risk_limits",
)
NAME_TAKEN = "You already have a strategy with this name."
MIS_ON_DAILY = (
    "MIS (intraday) needs an intraday timeframe: MIS positions are squared off before every"
    " session closes. Choose a timeframe under 1 day, or CNC (delivery)."
)


def _validate(
    config: dict[str, Any], members: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Return ``config`` with typed, complete params, or raise ``StrategyInvalid`` by field.

    ``members``: the basket the strategy will trade (``strategies.baskets``), if any.
    """
    errors: dict[str, Any] = {}
    try:
        stype = catalog.get(config["strategy_type"])
    except catalog.UnknownStrategyType:
        errors["strategy_type"] = [
            f"Unknown strategy type {config['strategy_type']!r}; "
            f"choose one of: {', '.join(catalog.keys())}."
        ]
    else:
        try:
            config["params"] = stype.validate_params(config.get("params"))
        except catalog.ParamsInvalid as e:
            errors["params"] = e.errors
    has_qty = config.get("quantity") is not None
    has_pct = config.get("allocation_pct") is not None
    if has_qty == has_pct:
        msg = "Set exactly one of quantity (fixed units) and allocation_pct (percent of equity)."
        errors["quantity"] = [msg]
        errors["allocation_pct"] = [msg]
    errors.update(
        lot_size_errors(quantity=config.get("quantity"), instrument=config.get("instrument"))
    )
    errors.update(
        basket_errors(
            members=members, quantity=config.get("quantity"), instrument=config.get("instrument")
        )
    )
    if config.get("product") == "MIS" and config.get("timeframe", "1d") == "1d":
        # an intraday position is squared off before each close (15:20 IST): daily bars
        # have no time of day to do it at
        errors["product"] = [MIS_ON_DAILY]
    if errors:
        raise StrategyInvalid(_first_error(errors), fields=errors)
    return config


def lot_size_errors(*, quantity: int | None, instrument: Any) -> dict[str, list[str]]:
    """A fixed quantity must be whole lots of the instrument (either may be absent: no rule)."""
    if quantity is None or instrument is None or quantity % instrument.lot_size == 0:
        return {}
    return {"quantity": [f"Must be a multiple of the lot size ({instrument.lot_size})."]}


def _first_error(errors: dict[str, Any], prefix: str = "") -> str:
    field, value = next(iter(errors.items()))
    if isinstance(value, dict):
        return _first_error(value, f"{prefix}{field}.")
    return f"{prefix}{field}: {value[0]}"


def _lock_owner(owner_id: int) -> None:
    """Serialise per-user cap checks (strategy count, running deployments) on the user row."""
    get_user_model().objects.select_for_update().filter(pk=owner_id).first()


def _save_checking_name(strategy: Strategy, **save_kwargs: Any) -> None:
    try:
        with transaction.atomic():
            strategy.save(**save_kwargs)
    except IntegrityError as e:
        if "strategy_name_unique_per_owner" in str(e) or "UNIQUE" in str(e).upper():
            raise StrategyInvalid(NAME_TAKEN, fields={"name": [NAME_TAKEN]}) from e
        raise


@transaction.atomic
def strategy_create(*, owner, **config: Any) -> Strategy:
    """Create an INACTIVE strategy for ``owner`` from a validated configuration."""
    _lock_owner(owner.pk)
    cap = settings.ALGOSAAS["MAX_STRATEGIES_PER_USER"]
    if Strategy.objects.filter(owner=owner, archived_at__isnull=True).count() >= cap:
        raise LimitExceeded(f"You can have at most {cap} strategies; archive one first.")
    config.setdefault("capital", None)
    if config["capital"] is None:
        config["capital"] = owner.paper_capital
    config.setdefault("risk_limits", {})
    members = config.pop("instruments", None) or []
    if members and config.get("instrument") is None:
        config["instrument"] = members[0]["instrument"]  # the primary member
    config = _validate(config, members)
    if Strategy.objects.filter(owner=owner, name=config["name"], archived_at__isnull=True).exists():
        raise StrategyInvalid(NAME_TAKEN, fields={"name": [NAME_TAKEN]})
    strategy = Strategy(owner=owner, **config)
    _save_checking_name(strategy)
    if members:
        basket_replace(strategy=strategy, members=members)
    return strategy


@transaction.atomic
def strategy_update(*, strategy: Strategy, **changes: Any) -> Strategy:
    """Change a strategy's configuration; trading fields are frozen while it runs (409)."""
    locked = (
        Strategy.objects.select_for_update(of=("self",))
        .select_related("instrument")
        .get(pk=strategy.pk)
    )
    if "capital" in changes and changes["capital"] is None:  # as on create: the user's default
        changes["capital"] = locked.owner.paper_capital
    members = changes.pop("instruments", None)
    if members is not None and members and "instrument" not in changes:
        changes["instrument"] = members[0]["instrument"]  # the primary member
    changed_trading = [
        f for f in TRADING_FIELDS if f in changes and changes[f] != getattr(locked, f)
    ]
    if members is not None and members_changed(locked, members):
        changed_trading.append("instruments")
    if locked.status == StrategyStatus.RUNNING and changed_trading:
        raise StrategyRunning(
            "Stop the strategy before changing how it trades.",
            current_state=locked.status,
            fields={f: ["Cannot change while the strategy is running."] for f in changed_trading},
        )
    if (
        "quantity" in changes
        and changes["quantity"] is not None
        and "allocation_pct" not in changes
    ):
        changes["allocation_pct"] = None
    if (
        "allocation_pct" in changes
        and changes["allocation_pct"] is not None
        and ("quantity" not in changes)
    ):
        changes["quantity"] = None
    if (
        "strategy_type" in changes
        and changes["strategy_type"] != locked.strategy_type
        and "params" not in changes
    ):
        changes["params"] = {}  # another type's parameters never carry over
    config = {f: getattr(locked, f) for f in ("name", *TRADING_FIELDS)}
    config.update(changes)
    config = _validate(config, basket_members(locked) if members is None else members)
    if (
        config["name"] != locked.name
        and Strategy.objects.filter(
            owner_id=locked.owner_id, name=config["name"], archived_at__isnull=True
        )
        .exclude(pk=locked.pk)
        .exists()
    ):
        raise StrategyInvalid(NAME_TAKEN, fields={"name": [NAME_TAKEN]})
    for field, value in config.items():
        setattr(locked, field, value)
    _save_checking_name(locked)
    if members is not None and "instruments" in changed_trading:
        basket_replace(strategy=locked, members=members)
    return locked


PARAMS_TRIGGER = "params"


@transaction.atomic
def strategy_params_set(
    *, strategy: Strategy, params: dict[str, Any], actor, reason: str
) -> Strategy:
    """Replace a stopped strategy's parameters (checked as any edit) and write an audit row.

    Raises ``StrategyRunning`` (409) while it runs, ``StrategyInvalid`` (400) for parameters
    its type refuses. The audit row keeps the status (a change of configuration, not of state)
    and says where the parameters came from (``reason``).
    """
    locked = Strategy.objects.select_for_update().get(pk=strategy.pk)
    if locked.status == StrategyStatus.RUNNING:
        raise StrategyRunning(
            "Stop the strategy before changing its parameters.",
            current_state=locked.status,
            fields={"params": ["Cannot change while the strategy is running."]},
        )
    updated = strategy_update(strategy=locked, params=params)
    StrategyEvent.objects.create(
        strategy=updated,
        from_status=updated.status,
        to_status=updated.status,
        trigger=PARAMS_TRIGGER,
        actor=actor,
        reason=reason[:500],
    )
    return updated


@transaction.atomic
def strategy_delete(*, strategy: Strategy) -> None:
    """Delete a strategy that never ran; one with history must be archived instead (409)."""
    locked = Strategy.objects.select_for_update().get(pk=strategy.pk)
    if locked.deployments.exists() or locked.status != StrategyStatus.INACTIVE:
        raise StrategyHasHistory(
            "This strategy has run before; archive it to hide it and keep its history.",
            current_state=locked.status,
        )
    locked.delete()


@transaction.atomic
def strategy_archive(*, strategy: Strategy) -> Strategy:
    """Hide a strategy from lists, keeping its history; a running one must be stopped first."""
    locked = Strategy.objects.select_for_update().get(pk=strategy.pk)
    if locked.status == StrategyStatus.RUNNING:
        raise StrategyRunning("Stop the strategy before archiving it.", current_state=locked.status)
    if locked.archived_at is None:
        locked.archived_at = timezone.now()
        locked.save(update_fields=["archived_at", "updated_at"])
    return locked


def strategy_config_snapshot(strategy: Strategy) -> dict[str, Any]:
    """Freeze what a deployment trades with, so later edits never rewrite a past run."""
    inst = strategy.instrument
    snapshot = {
        "strategy_type": strategy.strategy_type,
        "params": strategy.params,
        "instrument": {
            "id": inst.pk,
            "exchange": inst.exchange,
            "symbol": inst.symbol,
            "tick_size": str(inst.tick_size),
            "lot_size": inst.lot_size,
            "currency": inst.currency,
        },
        "timeframe": strategy.timeframe,
        "quantity": strategy.quantity,
        "allocation_pct": None if strategy.allocation_pct is None else str(strategy.allocation_pct),
        "product": strategy.product,
        "risk_limits": strategy.risk_limits,
    }
    members = basket_snapshot(strategy)
    if members:  # a basket; without members the snapshot is the single instrument's, as before
        snapshot["instruments"] = members
    return snapshot


def strategy_transition(
    *, strategy_id: int, trigger: Trigger, actor=None, reason: str = ""
) -> tuple[Strategy, StrategyEvent]:
    """Apply ``trigger`` to the strategy under a row lock and write its audit row.

    Must run inside a transaction (the callers below open it); raises ``InvalidTransition``
    (HTTP 409 with the current state) when the table has no such edge.
    """
    strategy = Strategy.objects.select_for_update().get(pk=strategy_id)
    new_status = strategy_next_status(strategy.status, trigger)
    event = StrategyEvent(
        strategy=strategy,
        from_status=strategy.status,
        to_status=new_status,
        trigger=trigger.value,
        actor=actor,
        reason=reason[:500],
    )
    strategy.status = new_status
    strategy.status_reason = reason[:500] if new_status == StrategyStatus.ERROR else ""
    strategy.save(update_fields=["status", "status_reason", "updated_at"])
    return strategy, event


FEEDS = ("synthetic", "nse_hours", "replay", "broker")
MODES = ("paper", "live")


@transaction.atomic
def strategy_deploy(
    *,
    strategy: Strategy,
    actor=None,
    feed: str = "synthetic",
    seconds_per_bar: float | None = None,
    mode: str = "paper",
    broker_account: int | None = None,
    confirm: str | None = None,
    algo_id: str = "",
) -> Deployment:
    """Start a new deployment (fresh books) of a strategy that is not running.

    ``feed`` picks the market it trades: the synthetic live feed, or a replay of the
    instrument's stored bars at ``seconds_per_bar``. ``mode="live"`` also sends its orders to
    the linked ``broker_account`` (the runner checks it is the owner's and logged in), only
    with ``confirm`` equal to the strategy's name: real money needs a deliberate act.
    ``algo_id`` is the identifier its orders' tags carry (SEBI; docs/compliance.md).
    """
    if feed not in FEEDS:
        raise StrategyInvalid(f"Unknown feed {feed!r}.", fields={"feed": ["Unknown feed."]})
    if mode not in MODES:
        raise StrategyInvalid(f"Unknown mode {mode!r}.", fields={"mode": ["Unknown mode."]})
    _lock_owner(strategy.owner_id)
    cap = settings.ALGOSAAS["MAX_RUNNING_DEPLOYMENTS_PER_USER"]
    locked, event = strategy_transition(
        strategy_id=strategy.pk, trigger=Trigger.DEPLOY, actor=actor, reason="deployed"
    )
    if locked.archived_at is not None:
        raise StrategyArchived("Archived strategies cannot be deployed.", current_state="ARCHIVED")
    running = Strategy.objects.filter(owner_id=locked.owner_id, status=StrategyStatus.RUNNING)
    if running.exclude(pk=locked.pk).count() >= cap:
        raise LimitExceeded(f"You can run at most {cap} strategies at once; stop one first.")
    locked = Strategy.objects.select_related("instrument").get(pk=locked.pk)
    if mode == "live":
        _check_live_confirmation(locked, broker_account=broker_account, confirm=confirm)
    number = (locked.deployments.aggregate(n=Max("number"))["n"] or 0) + 1
    config = strategy_config_snapshot(locked)
    config["feed"] = {"kind": feed, "seconds_per_bar": seconds_per_bar}
    if mode == "live":
        config["live"] = {"mode": mode, "broker_account": broker_account, "algo_id": algo_id}
    deployment = Deployment.objects.create(
        strategy=locked, number=number, config=config, capital=locked.capital
    )
    event.deployment = deployment
    event.save()
    get_runner().on_deploy(deployment)
    return deployment


def _check_live_confirmation(
    strategy: Strategy, *, broker_account: int | None, confirm: str | None
) -> None:
    """A live deploy names its broker account and types the strategy's name to confirm."""
    errors: dict[str, list[str]] = {}
    if broker_account is None:
        errors["broker_account"] = ["Choose the linked broker account to trade live on."]
    if (confirm or "").strip() != strategy.name:
        errors["confirm"] = [
            f"Type the strategy's name, “{strategy.name}”, to confirm trading it live."
        ]
    if errors:
        raise StrategyInvalid("A live deployment needs its confirmation.", fields=errors)


def _current_deployment(strategy: Strategy) -> Deployment | None:
    return (
        strategy.deployments.select_for_update()
        .filter(status=DeploymentStatus.RUNNING)
        .order_by("-number")
        .first()
    )


@transaction.atomic
def strategy_stop(
    *, strategy: Strategy, actor=None, square_off: bool = False, reason: str = ""
) -> Strategy:
    """Stop a running strategy: its deployment ends, open orders are cancelled (runner)."""
    locked, event = strategy_transition(
        strategy_id=strategy.pk,
        trigger=Trigger.STOP,
        actor=actor,
        reason=reason or ("stopped with square-off" if square_off else "stopped"),
    )
    deployment = _current_deployment(locked)
    if deployment is not None:
        deployment.status = DeploymentStatus.STOPPED
        deployment.stopped_at = timezone.now()
        deployment.stop_reason = event.reason
        deployment.square_off = square_off
        deployment.save(update_fields=["status", "stopped_at", "stop_reason", "square_off"])
        get_runner().on_stop(deployment, square_off=square_off)
    event.deployment = deployment
    event.save()
    return locked


@transaction.atomic
def strategy_fail(*, strategy_id: int, reason: str) -> Strategy:
    """Move a running strategy to ERROR with the reason (the system is the actor)."""
    locked, event = strategy_transition(
        strategy_id=strategy_id, trigger=Trigger.FAIL, actor=None, reason=reason
    )
    deployment = _current_deployment(locked)
    if deployment is not None:
        deployment.status = DeploymentStatus.ERROR
        deployment.stopped_at = timezone.now()
        deployment.stop_reason = reason[:500]
        deployment.save(update_fields=["status", "stopped_at", "stop_reason"])
        get_runner().on_fail(deployment, reason=reason)
    event.deployment = deployment
    event.save()
    return locked
