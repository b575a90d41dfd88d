"""The web server `make run` starts, for tests that start the very same command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def web_command(port: int, env: dict[str, str]) -> str:
    """The web server's command line exactly as `make run` would start it on ``port``."""
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "web-command", f"PORT={port}"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()
