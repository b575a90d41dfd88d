"""The ASGI entry point: production settings, and no persistent database connections."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

PROBE = (
    "import algosaas.asgi as a; from django.conf import settings as s; "
    "print(s.SETTINGS_MODULE); print(s.DATABASES['default']['CONN_MAX_AGE']); "
    "print(type(a.application).__name__)"
)


def _run(code: str, **env: str) -> list[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "CONN_MAX_AGE", "PYTEST_CURRENT_TEST"}
    }
    base.update(SECRET_KEY="s" * 50, JWT_SIGNING_KEY="j" * 50, **env)
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=base,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_the_asgi_app_serves_production_settings_without_persistent_connections():
    """Under ASGI a kept connection belongs to a finished request's thread: it would leak."""
    lines = _run(PROBE, CONN_MAX_AGE="60")

    assert lines == ["algosaas.settings.production", "0", "ProtocolTypeRouter"]


def test_other_processes_keep_their_persistent_connections():
    """``manage.py qcluster`` and ``runserver`` never import the ASGI module."""
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['CONN_MAX_AGE'])"
    )
    lines = _run(code, DJANGO_SETTINGS_MODULE="algosaas.settings.production", CONN_MAX_AGE="45")

    assert lines == ["45"]
