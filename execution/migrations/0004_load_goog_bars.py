"""Load GOOG's daily bars (data/GOOG.csv, 2004-08-19 to 2013-03-01) into every new database.

Self-contained on purpose: a migration must not depend on app code that may change later.
"""

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from django.db import migrations

CSV_PATH = Path(__file__).resolve().parents[2] / "data" / "GOOG.csv"


def load(apps, schema_editor):
    Instrument = apps.get_model("execution", "Instrument")
    Bar = apps.get_model("execution", "Bar")
    goog = Instrument.objects.get(exchange="NASDAQ", symbol="GOOG")
    with CSV_PATH.open(newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader)]
        col = {name: header.index(name) for name in ("open", "high", "low", "close", "volume")}
        rows = [
            Bar(
                instrument=goog,
                timeframe="1d",
                ts=datetime.strptime(r[0], "%Y-%m-%d").replace(tzinfo=UTC),
                open=Decimal(r[col["open"]]),
                high=Decimal(r[col["high"]]),
                low=Decimal(r[col["low"]]),
                close=Decimal(r[col["close"]]),
                volume=int(float(r[col["volume"]])),
            )
            for r in reader
            if r
        ]
    Bar.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)


def unload(apps, schema_editor):
    Bar = apps.get_model("execution", "Bar")
    Bar.objects.filter(instrument__symbol="GOOG", timeframe="1d").delete()


class Migration(migrations.Migration):
    dependencies = [("execution", "0003_bars")]
    operations = [migrations.RunPython(load, unload)]
