"""The one instrument upsert both brokers' imports use: what it creates, overwrites, fills and
reports, and that the Kite then Dhan imports of one instrument keep each other's ids."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from execution.models import Instrument
from execution.services.instruments import InstrumentRow, instruments_upsert

pytestmark = pytest.mark.django_db
FIELDS = ("tick_size", "lot_size", "kite_token")


def _row(symbol="ZINFY", tick="0.05", lot=1, token=408065, name="Infosys"):
    values = {"tick_size": Decimal(tick), "lot_size": lot, "kite_token": token, "name": name}
    return InstrumentRow("NSE", symbol, values)


def test_creates_then_changes_nothing_then_updates_only_what_moved():
    first = instruments_upsert(rows=[_row(), _row("ZTCS", token=2953217)], fields=FIELDS,
                               fill_blank=("name",))  # fmt: skip
    assert (first.created, first.updated, first.unchanged, first.corrected) == (2, 0, 0, [])
    infy = Instrument.objects.get(exchange="NSE", symbol="ZINFY")
    assert (infy.kite_token, infy.name, infy.currency) == (408065, "Infosys", "INR")

    again = instruments_upsert(rows=[_row(), _row("ZTCS", token=2953217)], fields=FIELDS)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)

    moved = instruments_upsert(rows=[_row(tick="0.01", lot=5), _row("ZTCS", token=2953217)],
                               fields=FIELDS)  # fmt: skip
    assert (moved.created, moved.updated, moved.unchanged) == (0, 1, 1)
    assert moved.corrected == ["NSE:ZINFY tick 0.05->0.01", "NSE:ZINFY lot 1->5"]
    infy.refresh_from_db()
    assert (infy.tick_size, infy.lot_size) == (Decimal("0.01"), 5)


def test_fill_blank_writes_a_name_only_where_none_is_held():
    Instrument.objects.create(exchange="NSE", symbol="ZINFY", tick_size=Decimal("0.05"),
                              lot_size=1, name="Infosys Ltd (mine)")  # fmt: skip
    Instrument.objects.create(exchange="NSE", symbol="ZTCS", tick_size=Decimal("0.05"), lot_size=1)
    done = instruments_upsert(
        rows=[_row(name="INFOSYS LIMITED"), _row("ZTCS", token=2953217, name="TATA CONSULTANCY")],
        fields=FIELDS,
        fill_blank=("name",),
    )
    assert done.updated == 2 and done.corrected == []
    names = dict(Instrument.objects.filter(symbol__startswith="Z").values_list("symbol", "name"))
    assert names == {"ZINFY": "Infosys Ltd (mine)", "ZTCS": "TATA CONSULTANCY"}


def test_kite_then_dhan_imports_keep_both_brokers_ids(kite_account, dhan_account, fake_dhan):
    call_command("import_instruments", "--from", "kite", "--account", str(kite_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    kite_name = Instrument.objects.get(exchange="NSE", symbol="INFY").name
    call_command("import_instruments", "--from", "dhan", "--account", str(dhan_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    infy = Instrument.objects.get(exchange="NSE", symbol="INFY")
    assert (infy.kite_token, infy.dhan_security_id, infy.dhan_segment) == (408065, 1594, "NSE_EQ")
    assert infy.name == kite_name  # Dhan fills a blank name only
