"""Dhan's scrip master: instruments with Dhan's securityId and segment, real ticks and lots, and
orders of a Dhan account that carry the right id and segment (or are refused before sending)."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from brokers.services import broker_adapter_for
from execution.brokers.base import OrderRejected, OrderRequest
from execution.brokers.dhan_data import scrip_specs
from execution.engine.orders import OrderStatus, OrderType, Product, Side
from execution.models import Instrument
from tests.fakes.dhan.market import scrip_rows

pytestmark = pytest.mark.django_db


def _run(account, *extra) -> str:
    out = StringIO()
    call_command("import_instruments", "--from", "dhan", "--account", str(account.pk), *extra,
                 stdout=out)  # fmt: skip
    return out.getvalue()


def test_scrip_master_rows_become_specs_with_ticks_in_rupees():
    specs, skipped = scrip_specs(scrip_rows(), {"NSE", "BSE", "NFO", "MCX"})
    by = {(s.exchange, s.symbol): s for s in specs}
    infy = by["NSE", "INFY"]
    assert (infy.security_id, infy.segment, infy.tick_size, infy.lot_size) == (
        1594, "NSE_EQ", Decimal("0.05"), 1
    )  # fmt: skip
    assert by["NSE", "YESBANK"].security_id == 11915  # the EQ series, not BE's 21915
    assert by["NSE", "YESBANK"].tick_size == Decimal("0.01")
    assert (by["BSE", "INFY"].security_id, by["BSE", "INFY"].segment) == (500209, "BSE_EQ")
    assert (by["NSE", "NIFTY"].segment, by["NSE", "NIFTY"].tick_size) == ("IDX_I", Decimal("0.01"))
    fut = by["NFO", "NIFTY-DEC2026-FUT"]
    assert (fut.segment, fut.lot_size, fut.tick_size) == ("NSE_FNO", 75, Decimal("0.1"))
    assert (fut.instrument, infy.instrument) == ("FUTIDX", "EQUITY")
    crude = by["MCX", "CRUDEOIL-DEC2026-FUT"]
    assert (crude.segment, crude.tick_size, crude.lot_size) == ("MCX_COMM", Decimal("1"), 100)
    assert ("NSE", "BROKENTICK") not in by  # a tick of 0 is never stored
    assert skipped == 2  # the BE duplicate and the broken tick


def test_import_stores_ids_and_a_second_run_changes_nothing(dhan_account, fake_dhan):
    Instrument.objects.update_or_create(
        exchange="NSE", symbol="INFY", defaults={"tick_size": Decimal("0.1"), "lot_size": 1}
    )
    out = _run(dhan_account)
    assert ("GET", "/api-data/api-scrip-master.csv") in fake_dhan.requests
    infy = Instrument.objects.get(exchange="NSE", symbol="INFY")
    assert (infy.dhan_security_id, infy.dhan_segment, infy.tick_size) == (
        1594, "NSE_EQ", Decimal("0.05")
    )  # fmt: skip
    assert "Tick/lot corrected to Dhan's: NSE:INFY tick 0.1" in out
    assert Instrument.objects.get(exchange="NSE", symbol="NIFTY").dhan_segment == "IDX_I"
    assert Instrument.objects.get(exchange="NFO", symbol="NIFTY-DEC2026-FUT").lot_size == 75
    assert not Instrument.objects.filter(symbol="BROKENTICK").exists()
    before = {i.pk: (i.tick_size, i.lot_size, i.dhan_security_id) for i in Instrument.objects.all()}
    again = _run(dhan_account)
    assert "0 created, 0 updated" in again and "0 tick/lot corrected" in again
    after = {i.pk: (i.tick_size, i.lot_size, i.dhan_security_id) for i in Instrument.objects.all()}
    assert after == before


def test_import_only_the_exchanges_asked(dhan_account, fake_dhan):
    _run(dhan_account, "--exchange", "BSE")
    assert set(Instrument.objects.filter(dhan_security_id__isnull=False).values_list(
        "exchange", "symbol")) == {("BSE", "INFY")}  # fmt: skip


def test_an_unreachable_scrip_master_is_a_clear_error_and_changes_nothing(
    dhan_account, fake_dhan, settings
):
    settings.DHAN_SCRIP_MASTER_URL = "http://127.0.0.1:9/api-scrip-master.csv"  # nothing there
    with pytest.raises(CommandError, match="Dhan: Dhan's scrip master"):
        _run(dhan_account)
    assert not Instrument.objects.filter(dhan_security_id__isnull=False).exists()


def test_a_kite_account_cannot_import_from_dhan(kite_account):
    with pytest.raises(CommandError, match="not a Dhan account"):
        _run(kite_account)


def _order(cid: str, symbol: str, qty: int = 1) -> OrderRequest:
    return OrderRequest(cid, symbol, Side.BUY, OrderType.LIMIT, qty, Product.MIS, price=1400.0)


def test_an_nse_order_reaches_dhan_with_the_imported_security_id_and_segment(
    dhan_account, fake_dhan
):
    _run(dhan_account)
    broker = broker_adapter_for(account=dhan_account)  # no hand-written id map: the imported one
    order = broker.place_order(_order("live-1", "INFY"))
    (booked,) = fake_dhan.book.orders.values()
    assert (booked["securityId"], booked["exchangeSegment"]) == ("1594", "NSE_EQ")
    assert order.status is OrderStatus.OPEN and order.symbol == "INFY"
    bse = broker.place_order(_order("live-2", "BSE:INFY"))
    assert fake_dhan.book.orders[bse.broker_order_id]["securityId"] == "500209"
    assert fake_dhan.book.orders[bse.broker_order_id]["exchangeSegment"] == "BSE_EQ"
    fut = broker.place_order(_order("live-3", "NFO:NIFTY-DEC2026-FUT", qty=75))
    assert fake_dhan.book.orders[fut.broker_order_id]["exchangeSegment"] == "NSE_FNO"
    assert fut.status is OrderStatus.OPEN


def test_an_instrument_without_a_dhan_id_is_refused_before_anything_is_sent(
    dhan_account, fake_dhan
):
    Instrument.objects.update_or_create(exchange="NSE", symbol="ACME")
    broker = broker_adapter_for(account=dhan_account)
    sent = len(fake_dhan.requests)
    with pytest.raises(OrderRejected, match=r"no Dhan security id for ACME.*--from dhan"):
        broker.place_order(_order("live-9", "ACME"))
    assert not [r for r in fake_dhan.requests[sent:] if r[0] == "POST"]
    assert not fake_dhan.book.orders
