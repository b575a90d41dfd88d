"""Creating, editing, deleting and archiving strategies through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from algosaas.errors import LimitExceeded
from execution.models import Instrument
from strategies import services
from strategies.exceptions import StrategyHasHistory, StrategyInvalid, StrategyRunning
from strategies.models import Strategy, StrategyEvent, StrategyStatus
from strategies.tests.factories import StrategyFactory, put_in_status, seeded_instrument
from tests.factories import UserFactory

S = StrategyStatus
pytestmark = pytest.mark.django_db


def _create(owner, **overrides):
    config = {
        "name": "Golden cross",
        "strategy_type": "sma_crossover",
        "params": {},
        "instrument": seeded_instrument(),
        "timeframe": "1d",
        "quantity": None,
        "allocation_pct": Decimal("50"),
        "product": "CNC",
    }
    config.update(overrides)
    return services.strategy_create(owner=owner, **config)


def test_create_fills_defaults_and_takes_the_users_capital(user):
    user.paper_capital = Decimal("250000.00")
    user.save()
    strategy = _create(user, params={"fast": 5})
    strategy.refresh_from_db()
    assert strategy.params == {"fast": 5, "slow": 20, "mode": "long_only"}
    assert strategy.capital == Decimal("250000.00")
    assert strategy.status == S.INACTIVE and strategy.owner == user
    assert strategy.risk_limits == {}
    assert not StrategyEvent.objects.filter(strategy=strategy).exists()


def test_create_with_explicit_capital(user):
    assert _create(user, capital=Decimal("5000")).capital == Decimal("5000")


def test_create_refuses_an_unknown_type_by_field(user):
    with pytest.raises(StrategyInvalid) as info:
        _create(user, strategy_type="martingale")
    assert set(info.value.fields) == {"strategy_type"}
    assert "sma_crossover" in info.value.fields["strategy_type"][0]
    assert not Strategy.objects.exists()


def test_create_refuses_a_quantity_off_the_lot_size(user):
    future = Instrument.objects.create(exchange="NSE", symbol="NIFTYFUT", lot_size=50)
    with pytest.raises(StrategyInvalid) as info:
        _create(user, instrument=future, quantity=75, allocation_pct=None)
    assert "lot size (50)" in info.value.fields["quantity"][0]
    assert _create(user, instrument=future, quantity=100, allocation_pct=None).quantity == 100


def test_names_are_unique_per_owner_among_live_strategies(user):
    first = _create(user)
    with pytest.raises(StrategyInvalid) as info:
        _create(user)
    assert set(info.value.fields) == {"name"}
    assert _create(UserFactory()).name == first.name  # another user's namespace
    services.strategy_archive(strategy=first)
    assert _create(user).pk != first.pk  # an archived name is free again
    assert Strategy.objects.filter(owner=user, name="Golden cross").count() == 2


def test_strategy_cap_counts_live_strategies(user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_STRATEGIES_PER_USER": 2}
    first = _create(user, name="a")
    _create(user, name="b")
    with pytest.raises(LimitExceeded):
        _create(user, name="c")
    assert Strategy.objects.filter(owner=user).count() == 2
    services.strategy_archive(strategy=first)
    assert _create(user, name="c").name == "c"


def test_trading_fields_are_frozen_while_running(user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    before = Strategy.objects.values().get(pk=strategy.pk)
    with pytest.raises(StrategyRunning) as info:
        services.strategy_update(
            strategy=strategy, params={"fast": 3, "slow": 9}, timeframe="5m", name="renamed"
        )
    assert info.value.status_code == 409
    assert info.value.extra["current_state"] == S.RUNNING
    assert set(info.value.fields) == {"params", "timeframe"}
    assert Strategy.objects.values().get(pk=strategy.pk) == before


def test_renaming_a_running_strategy_is_allowed(user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    # Re-sending unchanged trading values is not a change.
    services.strategy_update(strategy=strategy, name="Renamed", timeframe=strategy.timeframe)
    strategy.refresh_from_db()
    assert strategy.name == "Renamed" and strategy.status == S.RUNNING


@pytest.mark.parametrize("status", [S.INACTIVE, S.STOPPED, S.ERROR])
def test_trading_fields_are_editable_when_not_running(status, user):
    strategy = put_in_status(StrategyFactory(owner=user), status, actor=user)
    services.strategy_update(strategy=strategy, params={"fast": 3, "slow": 9}, timeframe="5m")
    strategy.refresh_from_db()
    assert strategy.params == {"fast": 3, "slow": 9, "mode": "long_only"}
    assert strategy.timeframe == "5m" and strategy.status == status


def test_changing_type_does_not_carry_old_params_over(user):
    strategy = StrategyFactory(owner=user, params={"fast": 3, "slow": 9, "mode": "long_short"})
    services.strategy_update(strategy=strategy, strategy_type="donchian_breakout")
    strategy.refresh_from_db()
    assert strategy.strategy_type == "donchian_breakout"
    assert strategy.params == {"entry": 20, "exit": 10, "mode": "long_only"}


def test_switching_sizing_clears_the_other_one(user):
    strategy = StrategyFactory(owner=user)
    services.strategy_update(strategy=strategy, quantity=10)
    strategy.refresh_from_db()
    assert (strategy.quantity, strategy.allocation_pct) == (10, None)
    services.strategy_update(strategy=strategy, allocation_pct=Decimal("25"))
    strategy.refresh_from_db()
    assert (strategy.quantity, strategy.allocation_pct) == (None, Decimal("25"))


def test_invalid_update_changes_nothing(user):
    strategy = StrategyFactory(owner=user)
    before = Strategy.objects.values().get(pk=strategy.pk)
    with pytest.raises(StrategyInvalid) as info:
        services.strategy_update(strategy=strategy, params={"fast": 30}, timeframe="1h")
    assert "fast" in info.value.fields["params"]
    assert Strategy.objects.values().get(pk=strategy.pk) == before


def test_update_name_clash(user):
    StrategyFactory(owner=user, name="Taken")
    strategy = StrategyFactory(owner=user, name="Mine")
    with pytest.raises(StrategyInvalid) as info:
        services.strategy_update(strategy=strategy, name="Taken")
    assert set(info.value.fields) == {"name"}
    services.strategy_update(strategy=strategy, name="Mine")  # its own name is fine


def test_delete_a_strategy_that_never_ran(user):
    strategy = StrategyFactory(owner=user)
    services.strategy_delete(strategy=strategy)
    assert not Strategy.objects.filter(pk=strategy.pk).exists()


@pytest.mark.parametrize("status", [S.RUNNING, S.STOPPED, S.ERROR])
def test_a_strategy_with_history_cannot_be_deleted(status, user):
    strategy = put_in_status(StrategyFactory(owner=user), status, actor=user)
    with pytest.raises(StrategyHasHistory) as info:
        services.strategy_delete(strategy=strategy)
    assert info.value.extra["current_state"] == status
    assert Strategy.objects.filter(pk=strategy.pk).exists()
    assert strategy.deployments.count() == 1 and strategy.events.exists()


def test_archive_a_running_strategy_is_refused(user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    with pytest.raises(StrategyRunning):
        services.strategy_archive(strategy=strategy)
    strategy.refresh_from_db()
    assert strategy.archived_at is None


@pytest.mark.parametrize("status", [S.INACTIVE, S.STOPPED, S.ERROR])
def test_archive_keeps_history_and_is_idempotent(status, user):
    strategy = put_in_status(StrategyFactory(owner=user), status, actor=user)
    archived = services.strategy_archive(strategy=strategy)
    first_time = archived.archived_at
    assert first_time is not None
    assert services.strategy_archive(strategy=strategy).archived_at == first_time
    strategy.refresh_from_db()
    assert strategy.status == status
    assert strategy.deployments.count() == (0 if status == S.INACTIVE else 1)
