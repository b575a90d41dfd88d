from __future__ import annotations

from decimal import Decimal

import pytest

from execution.models import Instrument
from strategies.services import strategy_create


@pytest.fixture
def goog(db) -> Instrument:
    return Instrument.objects.get(exchange="NASDAQ", symbol="GOOG")


@pytest.fixture
def goog_strategy(user, goog):
    """SMA crossover on GOOG's daily bars, sized and charged as backtesting.py's reference run."""
    return strategy_create(
        owner=user,
        name="SMA cross GOOG",
        strategy_type="sma_crossover",
        params={"fast": 10, "slow": 20, "mode": "long_short"},
        instrument=goog,
        timeframe="1d",
        allocation_pct=Decimal("100"),
        capital=Decimal("10000"),
    )


# the costs of data/GOOG-reference.json's run: 0.2 % commission, no slippage, the open position
# closed at the last bar's open as backtesting.py 0.6 does
REFERENCE_COSTS = {
    "commission_pct": Decimal("0.2"),
    "slippage_bps": Decimal("0"),
    "close_at_end": "last_open",
}


@pytest.fixture
def sweep_run(user, django_capture_on_commit_callbacks):
    """Request a sweep and let its chunks run on commit (django-q2 sync mode); return it fresh."""
    from optimisation.services import sweep_request

    def _run(strategy, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            sweep = sweep_request(strategy=strategy, user=user, **kwargs)
        sweep.refresh_from_db()
        return sweep

    return _run
