"""Costs that fit the instrument: the exchange's default charges (backtest form and live
deployments), MIS on intraday timeframes, and the round-trip charges estimate."""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution.engine.charges import FlatCommission, IndiaEquityCharges
from execution.marketdata.exchanges import charges_default
from execution.models import DeploymentState
from execution.services.engine_setup import default_charges_model
from execution.services.estimates import round_trip_estimate
from strategies import services
from strategies.forms import default_product
from strategies.tests.factories import StrategyFactory, seeded_instrument


@pytest.mark.parametrize("exchange", ["NSE", "BSE", "nse"])
def test_indian_equity_defaults_to_the_indian_equity_schedule(exchange):
    default = charges_default(exchange)
    assert (default.charges, default.commission_pct, default.has_schedule) == (
        "india_equity",
        None,
        True,
    )
    assert isinstance(default_charges_model(exchange), IndiaEquityCharges)


@pytest.mark.parametrize("exchange", ["NASDAQ", "NYSE", "FX", "CRYPTO"])
def test_elsewhere_a_flat_commission_replaces_indian_charges(exchange):
    default = charges_default(exchange)
    assert (default.charges, default.commission_pct, default.has_schedule) == (
        "none",
        Decimal("0.01"),
        False,
    )
    model = default_charges_model(exchange)
    assert isinstance(model, FlatCommission) and model.pct == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("timeframe", "product"),
    [("5s", "MIS"), ("15s", "MIS"), ("1m", "MIS"), ("5m", "MIS"), ("1h", "MIS"), ("1d", "CNC")],
)
def test_intraday_timeframes_default_to_mis(timeframe, product):
    assert default_product(timeframe) == product


def _live_charges(strategy, user) -> dict:
    deployment = services.strategy_deploy(strategy=strategy, actor=user)
    return DeploymentState.objects.get(deployment=deployment).engine_config["charges"]


@pytest.mark.django_db
def test_a_live_deployment_on_nasdaq_pays_the_flat_commission_not_indian_charges(user):
    goog = StrategyFactory(owner=user, instrument=seeded_instrument("GOOG"))
    charges = _live_charges(goog, user)
    assert charges["kind"] == "flat" and charges["pct"] == pytest.approx(0.01)


@pytest.mark.django_db
def test_a_live_deployment_on_nse_pays_indian_equity_charges(user):
    reliance = StrategyFactory(owner=user, instrument=seeded_instrument("RELIANCE"))
    assert _live_charges(reliance, user)["kind"] == "india_equity"


# --- the round-trip estimate ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_flat_commission_estimate_is_the_rate_on_both_legs(user):
    goog = StrategyFactory(
        owner=user, instrument=seeded_instrument("GOOG"), capital=Decimal("10000.00")
    )  # 100 % allocation
    est = round_trip_estimate(strategy=goog, charges="none", commission_pct=Decimal("0.01"))
    # 0.01 % of $10,000 is $1 to enter and $1 to exit
    assert (est.currency, est.value, est.entry, est.exit, est.total) == (
        "USD",
        Decimal("10000.00"),
        Decimal("1.00"),
        Decimal("1.00"),
        Decimal("2.00"),
    )
    assert est.pct_of_capital == Decimal("0.020")


@pytest.mark.django_db
def test_the_estimate_uses_the_capital_given_and_the_allocation(user):
    goog = StrategyFactory(
        owner=user,
        instrument=seeded_instrument("GOOG"),
        capital=Decimal("10000.00"),
        allocation_pct=Decimal("50"),
    )
    est = round_trip_estimate(
        strategy=goog, capital=Decimal("40000"), charges="none", commission_pct=Decimal("0.1")
    )
    assert est.value == Decimal("20000.00")  # half of the capital asked for, not the strategy's
    assert est.total == Decimal("40.00")  # 0.1 % of $20,000, twice


@pytest.mark.django_db
def test_cnc_on_one_minute_bars_shows_what_mis_would_cost(user):
    """The issue's case: CNC on 1-minute bars with ₹10 lakh pays delivery STT on both legs."""
    strategy = StrategyFactory(
        owner=user, timeframe="1m", product="CNC", capital=Decimal("1000000.00")
    )
    est = round_trip_estimate(strategy=strategy, charges="india_equity")
    model = IndiaEquityCharges()
    expected = Decimal(str(model.total("BUY", "CNC", 1, 1_000_000.0))) + Decimal(
        str(model.total("SELL", "CNC", 1, 1_000_000.0))
    )
    assert est.currency == "INR" and est.total == expected
    assert est.total > Decimal("2000")  # STT alone is 0.1 % a side on delivery
    assert est.mis_total is not None and est.mis_total < est.total / 2


@pytest.mark.django_db
def test_no_charges_estimate_nothing_and_mis_has_no_comparison(user):
    strategy = StrategyFactory(owner=user, timeframe="1m", product="MIS")
    est = round_trip_estimate(strategy=strategy, charges="none")
    assert est.total == Decimal("0.00") and est.mis_total is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("symbol", "charges", "commission"),
    [("GOOG", "none", Decimal("0.0100")), ("RELIANCE", "india_equity", None)],
)
def test_a_backtest_without_costs_gets_its_exchanges(
    user, symbol, charges, commission, django_capture_on_commit_callbacks
):
    from execution.services.backtests import backtest_request

    strategy = StrategyFactory(owner=user, instrument=seeded_instrument(symbol))
    with django_capture_on_commit_callbacks(execute=False):
        bt = backtest_request(strategy=strategy, user=user)
    bt.refresh_from_db()
    assert (bt.charges, bt.commission_pct) == (charges, commission)


@pytest.mark.django_db
def test_a_commission_given_for_a_nasdaq_backtest_is_kept(user, django_capture_on_commit_callbacks):
    from execution.services.backtests import backtest_request

    strategy = StrategyFactory(owner=user, instrument=seeded_instrument("GOOG"))
    with django_capture_on_commit_callbacks(execute=False):
        bt = backtest_request(strategy=strategy, user=user, commission_pct=Decimal("0.2"))
    bt.refresh_from_db()
    assert (bt.charges, bt.commission_pct) == ("none", Decimal("0.2000"))
