"""Hot reads served from Redis (``REDIS_URL``): hits skip the database, writes invalidate.

Against the real Redis server, db 9, emptied around each test (``redis_cache``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from execution.marketdata.csvbars import ParsedBar
from execution.models import Instrument
from execution.selectors import latest_close
from execution.services.marketdata import bars_import, instrument_get_or_create
from strategies.tests.factories import ensure_seeded_instruments

pytestmark = pytest.mark.django_db


def _queries_on(table: str, queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if f'"{table}"' in q["sql"]]


def _get(client, path: str) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return response.json(), _queries_on("execution_instrument", queries)


def test_the_instrument_list_is_served_from_redis_on_the_second_read(api_client, redis_cache):
    ensure_seeded_instruments()
    first, first_sql = _get(api_client, "/api/instruments/?exchange=NSE")
    second, second_sql = _get(api_client, "/api/instruments/?exchange=NSE")

    assert first_sql, "the first read must query the instruments"
    assert second_sql == []
    assert second == first
    assert first["count"] == Instrument.objects.filter(exchange="NSE").count()
    assert any(k.startswith(b":1:algosaas:hot:instruments:") for k in redis_cache.scan_iter())


def test_each_query_string_is_its_own_entry(api_client, redis_cache):
    ensure_seeded_instruments()
    nse, _ = _get(api_client, "/api/instruments/?exchange=NSE")
    tcs, sql = _get(api_client, "/api/instruments/?search=TCS")

    assert sql, "a different query must not be answered with another query's rows"
    assert {r["symbol"] for r in tcs["results"]} == {"TCS"}
    assert nse["count"] > 1


def test_a_new_instrument_invalidates_every_cached_list(api_client, redis_cache):
    ensure_seeded_instruments()
    before, _ = _get(api_client, "/api/instruments/?exchange=NSE")

    instrument_get_or_create(exchange="NSE", symbol="ZZCACHE")
    after, sql = _get(api_client, "/api/instruments/?exchange=NSE")

    assert sql, "the write must have dropped the cached list"
    assert after["count"] == before["count"] + 1
    assert "ZZCACHE" in {r["symbol"] for r in after["results"]} | {
        r["symbol"] for r in _get(api_client, "/api/instruments/?search=ZZCACHE")[0]["results"]
    }


def test_an_edited_instrument_shows_at_once(api_client, redis_cache):
    ensure_seeded_instruments()
    _get(api_client, "/api/instruments/?search=TCS")
    tcs = Instrument.objects.get(exchange="NSE", symbol="TCS")
    tcs.name = "Tata Consultancy (renamed)"
    tcs.save(update_fields=["name"])

    after, _ = _get(api_client, "/api/instruments/?search=TCS")

    assert after["results"][0]["name"] == "Tata Consultancy (renamed)"


def _bar(ts: datetime, close: str) -> ParsedBar:
    c = Decimal(close)
    return ParsedBar(ts, c, c, c, c, 100)


def test_the_latest_close_is_cached_until_bars_are_imported(redis_cache):
    instrument, _ = instrument_get_or_create(exchange="NSE", symbol="ZZBARS")
    day = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)
    bars_import(instrument=instrument, timeframe="1d", bars=[_bar(day, "100.00")])

    assert latest_close(instrument_id=instrument.pk, timeframe="1d") == Decimal("100.00")
    with CaptureQueriesContext(connection) as queries:
        again = latest_close(instrument_id=instrument.pk, timeframe="1d")
    assert again == Decimal("100.00")
    assert _queries_on("execution_bar", queries) == []

    bars_import(instrument=instrument, timeframe="1d", bars=[_bar(day + timedelta(1), "105.50")])

    assert latest_close(instrument_id=instrument.pk, timeframe="1d") == Decimal("105.50")
    assert latest_close(instrument_id=instrument.pk) == Decimal("105.50")


def test_throttle_counters_live_in_redis(anon_client, redis_cache):
    """Shared by every web process: a client cannot multiply its budget by their number."""
    anon_client.post("/api/auth/token/", {"email": "nobody@example.com", "password": "x"})

    assert any(b"throttle_login" in k for k in redis_cache.scan_iter())


def _settings_in_a_subprocess(env: dict[str, str]) -> str:
    code = (
        "from django.conf import settings as s; "
        "print(s.CACHES['default']['BACKEND']); "
        "print('redis' if 'redis' in s.Q_CLUSTER else 'orm')"
    )
    base = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "Q_USE_REDIS"}}
    base.update(
        DJANGO_SETTINGS_MODULE="algosaas.settings.base",
        SECRET_KEY="x" * 50,
        JWT_SIGNING_KEY="y" * 50,
        **env,
    )
    cmd = [sys.executable, "-c", f"import django; django.setup(); {code}"]
    return subprocess.run(
        cmd, env=base, cwd=django_settings.BASE_DIR, capture_output=True, text=True, check=True
    ).stdout


def test_without_redis_url_make_run_needs_no_redis():
    out = _settings_in_a_subprocess({})

    assert out.split() == ["django.core.cache.backends.locmem.LocMemCache", "orm"]


def test_with_redis_url_the_cache_and_the_queue_use_redis():
    out = _settings_in_a_subprocess({"REDIS_URL": "redis://127.0.0.1:6379/9"})

    assert out.split() == ["django.core.cache.backends.redis.RedisCache", "redis"]
