"""factory_boy factories and lifecycle helpers for the strategies tests.

A factory only ever builds an INACTIVE strategy: every other status is reached by driving the
real services (``put_in_status``), so the tests exercise the same path users do.
"""

from __future__ import annotations

from decimal import Decimal
from importlib import import_module

import factory

from execution.models import Instrument
from strategies import services
from strategies.models import Strategy, StrategyStatus
from tests.factories import UserFactory

SMA_DEFAULTS = {"fast": 10, "slow": 20, "mode": "long_only"}


def ensure_seeded_instruments() -> None:
    """Put back the 13 instruments the 0002 migration seeds if a flush removed them.

    A ``transaction=True`` test elsewhere in the suite ends with a flush that empties every
    table, migration data included; re-seeding (idempotently) keeps these tests order-proof.
    """
    if not Instrument.objects.filter(exchange="NSE", symbol="RELIANCE").exists():
        seed = import_module("execution.migrations.0002_seed_instruments").seed
        seed(_RealModels, None)


class _RealModels:
    """The ``apps`` a data migration expects, resolving to the real model classes.

    Not ``django.apps.apps``: a test with ``available_apps`` hides the execution app from it.
    """

    @staticmethod
    def get_model(app_label: str, model_name: str):
        assert (app_label, model_name) == ("execution", "Instrument")
        return Instrument


def seeded_instrument(symbol: str = "RELIANCE") -> Instrument:
    """Return one of the instruments the 0002 migration seeds."""
    ensure_seeded_instruments()
    return Instrument.objects.get(symbol=symbol)


class StrategyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Strategy

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Strategy {n}")
    strategy_type = "sma_crossover"
    params = factory.LazyFunction(lambda: dict(SMA_DEFAULTS))
    instrument = factory.LazyFunction(seeded_instrument)
    timeframe = "1d"
    quantity = None
    allocation_pct = Decimal("100")
    product = "CNC"
    capital = Decimal("100000.00")
    risk_limits = factory.LazyFunction(dict)


def put_in_status(strategy: Strategy, status: str, *, actor=None) -> Strategy:
    """Drive ``strategy`` (INACTIVE) to ``status`` through the real lifecycle services."""
    if status == StrategyStatus.INACTIVE:
        pass
    elif status == StrategyStatus.RUNNING:
        services.strategy_deploy(strategy=strategy, actor=actor)
    elif status == StrategyStatus.STOPPED:
        services.strategy_deploy(strategy=strategy, actor=actor)
        services.strategy_stop(strategy=strategy, actor=actor)
    elif status == StrategyStatus.ERROR:
        services.strategy_deploy(strategy=strategy, actor=actor)
        services.strategy_fail(strategy_id=strategy.pk, reason="broker went away")
    else:  # pragma: no cover - a new status needs a route here
        raise AssertionError(f"No route to {status}")
    strategy.refresh_from_db()
    assert strategy.status == status
    return strategy
