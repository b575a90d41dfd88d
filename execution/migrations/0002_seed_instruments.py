"""Seed a dozen NSE large caps and GOOG (for the reference data in data/GOOG.csv)."""

from decimal import Decimal

from django.db import migrations

NSE_LARGE_CAPS = [
    ("RELIANCE", "Reliance Industries"),
    ("TCS", "Tata Consultancy Services"),
    ("HDFCBANK", "HDFC Bank"),
    ("INFY", "Infosys"),
    ("ICICIBANK", "ICICI Bank"),
    ("SBIN", "State Bank of India"),
    ("ITC", "ITC"),
    ("LT", "Larsen & Toubro"),
    ("BHARTIARTL", "Bharti Airtel"),
    ("HINDUNILVR", "Hindustan Unilever"),
    ("KOTAKBANK", "Kotak Mahindra Bank"),
    ("AXISBANK", "Axis Bank"),
]


def seed(apps, schema_editor):
    Instrument = apps.get_model("execution", "Instrument")
    for symbol, name in NSE_LARGE_CAPS:
        Instrument.objects.update_or_create(
            exchange="NSE",
            symbol=symbol,
            defaults={"name": name, "tick_size": Decimal("0.05"), "lot_size": 1, "currency": "INR"},
        )
    Instrument.objects.update_or_create(
        exchange="NASDAQ",
        symbol="GOOG",
        defaults={"name": "Alphabet (Google)", "tick_size": Decimal("0.01"), "lot_size": 1,
                  "currency": "USD"},
    )


def unseed(apps, schema_editor):
    Instrument = apps.get_model("execution", "Instrument")
    Instrument.objects.filter(exchange="NSE", symbol__in=[s for s, _ in NSE_LARGE_CAPS]).delete()
    Instrument.objects.filter(exchange="NASDAQ", symbol="GOOG").delete()


class Migration(migrations.Migration):
    dependencies = [("execution", "0001_instruments")]
    operations = [migrations.RunPython(seed, unseed)]
