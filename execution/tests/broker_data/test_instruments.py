"""Instruments from Kite's dump: real tick and lot sizes, Kite's token, idempotent re-runs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from execution.models import Instrument
from tests.fakes.kite.market import dump_rows

pytestmark = pytest.mark.django_db


def _run(account, *extra) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_instruments", "--from", "kite", "--account", str(account.pk), *extra,
                 stdout=out)  # fmt: skip
    return out.getvalue()


def test_import_stores_real_ticks_lots_and_tokens(kite_account, fake_kite):
    seeded = set(Instrument.objects.values_list("exchange", "symbol"))
    out = _run(kite_account)
    ours = {(r.exchange, r.tradingsymbol) for r in dump_rows() if r.exchange != "BCD"}
    assert set(Instrument.objects.values_list("exchange", "symbol")) == ours | seeded
    assert f"{len(ours - seeded)} created" in out and "1 rows skipped" in out
    assert Instrument.objects.filter(kite_token__isnull=False).count() == len(ours)
    assert ("GET", "/instruments") in fake_kite.requests

    infy = Instrument.objects.get(exchange="NSE", symbol="INFY")
    assert infy.kite_token == 408065  # Kite's real token for NSE:INFY (1594 << 8 | 1)
    assert infy.tick_size == Decimal("0.05") and infy.lot_size == 1 and infy.name == "INFOSYS"
    yes = Instrument.objects.get(exchange="NSE", symbol="YESBANK")
    assert yes.tick_size == Decimal("0.01")
    fut = Instrument.objects.get(exchange="NFO", symbol="NIFTY26DECFUT")
    assert (fut.lot_size, fut.tick_size, fut.currency) == (75, Decimal("0.05"), "INR")
    opt = Instrument.objects.get(exchange="NFO", symbol="NIFTY26DEC24000CE")
    assert opt.lot_size == 75
    assert Instrument.objects.get(exchange="CDS", symbol="USDINR26DECFUT").tick_size == Decimal(
        "0.0025"
    )
    crude = Instrument.objects.get(exchange="MCX", symbol="CRUDEOIL26DECFUT")
    assert (crude.tick_size, crude.lot_size) == (Decimal("1"), 100)
    # an index: tick and lot 0 in the dump, stored tradable-shaped so its bars can be kept
    nifty = Instrument.objects.get(exchange="NSE", symbol="NIFTY 50")
    assert (nifty.kite_token, nifty.tick_size, nifty.lot_size) == (256265, Decimal("0.01"), 1)


def test_second_run_changes_nothing_and_updates_what_the_dump_changed(kite_account, fake_kite):
    _run(kite_account)
    before = {i.pk: (i.tick_size, i.lot_size, i.kite_token) for i in Instrument.objects.all()}
    out = _run(kite_account)
    assert "0 created, 0 updated" in out
    after = {i.pk: (i.tick_size, i.lot_size, i.kite_token) for i in Instrument.objects.all()}
    assert after == before

    # the exchange revises NIFTY's lot (75 -> 65): the next import follows it
    fake_kite.dump = [
        r.__class__(**{**r.__dict__, "lot_size": 65}) if r.name == "NIFTY" else r
        for r in fake_kite.dump
    ]
    out = _run(kite_account)
    assert "0 created" in out
    assert Instrument.objects.get(exchange="NFO", symbol="NIFTY26DECFUT").lot_size == 65
    assert Instrument.objects.get(exchange="NSE", symbol="INFY").lot_size == 1


def test_existing_instrument_gets_the_brokers_tick_and_token(kite_account):
    mine = Instrument.objects.get(exchange="NSE", symbol="INFY")  # seeded, no token
    Instrument.objects.filter(pk=mine.pk).update(tick_size=Decimal("0.1"), kite_token=None)
    _run(kite_account, "--exchange", "nse")
    mine.refresh_from_db()
    assert (mine.tick_size, mine.kite_token) == (Decimal("0.05"), 408065)
    assert not Instrument.objects.filter(exchange="NFO").exists()  # only the exchange asked


def test_account_that_is_not_logged_in_is_refused(user, fake_kite, kite_account):
    from brokers.services import broker_account_create

    account = broker_account_create(user=user, vendor="kite", api_key="k", api_secret="s")
    with pytest.raises(CommandError, match="not logged in"):
        _run(account)
    kite_account.token_expires_at = timezone.now() - timedelta(minutes=1)  # Kite's 06:00 logout
    kite_account.save(update_fields=["token_expires_at"])
    for args in (["import_instruments", "--from", "kite"], ["run_ticker"]):
        with pytest.raises(CommandError, match="session has expired"):
            call_command(*args, "--account", str(kite_account.pk))
    with pytest.raises(CommandError, match="no broker account"):
        call_command("import_instruments", "--from", "kite", "--account", "999999")
