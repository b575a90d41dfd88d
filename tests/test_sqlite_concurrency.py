"""The embedded SQLite default shared by several processes, as `make run` shares it (web + cluster).

A read-then-write transaction is what every step and order does. On SQLite's default deferred
transactions concurrent writers fail at once with "database is locked" (the busy timeout cannot
help a lock upgrade); the settings must make them queue instead, and lose no update.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from django.conf import settings

WORKER = """
import django
django.setup()
from django.db import OperationalError, connection, transaction
failures = 0
for _ in range({rounds}):
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT n FROM counter WHERE id = 1")
                (n,) = cursor.fetchone()
                cursor.execute("UPDATE counter SET n = %s WHERE id = 1", [n + 1])
    except OperationalError:
        failures += 1
print(failures)
"""


def test_processes_writing_the_default_sqlite_file_queue_instead_of_failing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        conn.execute("INSERT INTO counter VALUES (1, 0)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "algosaas.settings.base",
        "DATABASE_URL": f"sqlite:///{db}",
        "DEBUG": "1",
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    rounds = 150
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER.format(rounds=rounds)],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    failures = [int(w.communicate(timeout=120)[0].strip().splitlines()[-1]) for w in workers]

    assert failures == [0, 0, 0]
    with sqlite3.connect(db) as conn:
        (total,) = conn.execute("SELECT n FROM counter").fetchone()
        (journal,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert total == 3 * rounds  # no lost update
    assert journal == "wal"  # readers never wait for the writer
