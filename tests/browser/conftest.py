"""Fixtures of the browser tests: headless Chromium, screenshots, and a real job cluster.

The web app runs in ``app_server`` (pytest-django's ``LiveServer``: a thread of this process,
serving the test database, started and stopped with each test). The tests are transactional
(``transaction=True``), so the server thread, the cluster and the test see each other's commits.
A transactional test ends with a flush that empties every table, migration data included, so
``_seeded`` puts back what these tests need of it: the instruments and the dispatch schedule.
(Not ``serialized_rollback=True``: once an earlier transactional test's flush has re-created the
content types, restoring the serialized rows collides with them on their unique key, so it only
works for a test that happens to run first.)

Jobs. The test settings run tasks inline (``Q_CLUSTER["sync"]`` is True unless ``Q_SYNC=false``)
and the server thread shares them. A test that asks for ``cluster`` gets production's path
instead: django-q's ``Conf.SYNC`` is False for that test, so a backtest request goes onto the ORM
broker, and ``cluster.start()`` runs a real ``manage.py qcluster`` (``Q_SYNC=false``) on the test
database. Deployments then move by themselves: a ticker thread enqueues the real dispatcher task
(``execution.tasks.dispatch_steps``) through the broker every ``DISPATCH_SECONDS``. The
``dispatch-deployment-steps`` schedule does that in production, but django-q2's scheduler looks
only every 30 s and the schedule fires once a minute; with 5 s bars that would leave the first
step up to a minute away. Enqueueing (rather than calling the dispatcher in a thread here) keeps
every claim, step and fill inside the cluster's worker processes, as in production; the
schedule still exists and may fire too, which is harmless (claims skip locked rows).

Browser. Playwright's Python driver (its wheel carries a Node driver, no browser) launches the
system ``chromium``; nothing is ever downloaded. Without Playwright, Chromium or (for the cluster)
PostgreSQL the tests skip locally; with ``CI`` set they fail instead, so CI cannot pass without
running them.

Artifacts. ``$ARTIFACTS_DIR`` (default ``artifacts/browser``, git-ignored) / <test> / holds a
full-page screenshot per step (``NN-step.png``), the qcluster log, each page's console, and
``failure-*.png``/``.html`` when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

import pytest
from django.conf import settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page
    from pytest_django.live_server_helper import LiveServer

BASE_DIR = Path(settings.BASE_DIR)
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT = {"width": 1440, "height": 960}
ACTION_TIMEOUT_MS = 15_000  # clicks, fills and expect(): every wait is on a condition
DISPATCH_SECONDS = 5  # each dispatcher task loops this long; the ticker enqueues one as often
DISPATCH_SCHEDULE = "dispatch-deployment-steps"

T = TypeVar("T")
_reports = pytest.StashKey[dict[str, pytest.TestReport]]()


def unavailable(reason: str) -> None:
    """Skip a browser test locally; fail it under CI, where the browser tests must run."""
    if os.environ.get("CI"):
        pytest.fail(
            f"{reason}. CI must run the browser tests: .ci/run installs chromium and "
            "requirements-dev.txt pins playwright.",
            pytrace=False,
        )
    pytest.skip(reason)


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{diagnostics()}" if diagnostics else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report on the item, so fixtures know at teardown whether it failed."""
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_reports, {})
    return any(r.failed for r in reports.values())


# --- artifacts ------------------------------------------------------------------------------


def artifacts_root() -> Path:
    """``$ARTIFACTS_DIR`` (relative to the repository) or ``artifacts/browser``."""
    root = Path(os.environ.get("ARTIFACTS_DIR") or "artifacts/browser")
    return root if root.is_absolute() else BASE_DIR / root


@dataclass
class Artifacts:
    """One test's artifact directory; ``shot`` saves numbered full-page screenshots."""

    directory: Path
    count: int = 0
    shots: list[Path] = field(default_factory=list)

    def path(self, name: str) -> Path:
        return self.directory / name

    def shot(self, page: Page, step: str) -> Path:
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        path = self.directory / f"{self.count:02d}-{slug}.png"
        page.evaluate("() => window.scrollTo(0, 0)")  # else the sticky top bar lands mid-page
        page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Artifacts:
    """A fresh directory for this test's screenshots and logs (the last run's are replaced)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    directory = artifacts_root() / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    return Artifacts(directory)


# --- database -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _seeded(transactional_db) -> None:
    """The instruments and the dispatch schedule the migrations create, whatever ran before."""
    from django_q.models import Schedule

    from strategies.tests.factories import ensure_seeded_instruments

    ensure_seeded_instruments()
    Schedule.objects.get_or_create(
        name=DISPATCH_SCHEDULE,
        defaults={
            "func": "execution.tasks.dispatch_steps",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )


@pytest.fixture
def app_server(transactional_db, settings) -> Iterator[LiveServer]:
    """The web app on a free port, in a thread of this process, for this test only.

    pytest-django's ``LiveServer`` (static files served, SQLite connections shared), not its
    session-wide ``live_server`` fixture, so no server thread outlives these tests and runs on
    beside the rest of the suite.
    """
    from pytest_django.live_server_helper import LiveServer

    if "localhost" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    server = LiveServer("localhost")
    try:
        yield server
    finally:
        server.stop()


def database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database)."""
    from django.db import connection

    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{quote(s['NAME'], safe='')}"


# --- the job cluster ------------------------------------------------------------------------


class DispatchTicker(threading.Thread):
    """Enqueue the dispatcher task through the broker every ``every`` seconds until stopped."""

    def __init__(self, every: float = DISPATCH_SECONDS):
        super().__init__(name="browser-dispatch-ticker", daemon=True)
        self.every = every
        self.sent = 0
        self.errors: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        from django.db import connections
        from django_q.tasks import async_task

        try:
            while not self._stop_event.is_set():
                try:
                    async_task("execution.tasks.dispatch_steps", sync=False, task_name="tick")
                    self.sent += 1
                except Exception as e:  # a dropped connection: reconnect on the next tick
                    self.errors.append(repr(e))
                    connections.close_all()
                self._stop_event.wait(self.every)
        finally:
            connections.close_all()  # this thread's connections, so the test DB can be dropped

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)


class Cluster:
    """A real ``manage.py qcluster`` on the test database, started on demand, always stopped."""

    def __init__(self, workdir: Path, *, workers: int = 4):
        self.workers = workers
        self.log_path = workdir / "qcluster.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ticker: DispatchTicker | None = None
        self.started_in: float | None = None

    def start(self) -> None:
        """Start the cluster (own process group) and the ticker; return once it runs."""
        if self.proc is not None:
            return
        began = time.monotonic()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"REDIS_URL", "PYTEST_CURRENT_TEST", "DJANGO_ALLOW_ASYNC_UNSAFE"}
        }
        env.update(
            DJANGO_SETTINGS_MODULE="algosaas.settings.test",
            DATABASE_URL=database_url(),
            Q_SYNC="false",
            Q_WORKERS=str(self.workers),
            DISPATCH_SECONDS=str(DISPATCH_SECONDS),
            LOG_FORMAT="console",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"],
                cwd=BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stop() ends the whole group: sentinel and workers
            )
        wait_until(
            lambda: self._check_alive() and "running." in self.log(),
            timeout=60,
            what="the qcluster to start",
            diagnostics=self.log_tail,
        )
        self.ticker = DispatchTicker()
        self.ticker.start()
        self.started_in = time.monotonic() - began

    def _check_alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            pytest.fail(f"qcluster exited ({self.proc.returncode})\n{self.log_tail()}")
        return True

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "--- qcluster log (tail) ---\n" + "\n".join(self.log().splitlines()[-lines:])

    def stop(self, timeout: float = 20) -> None:
        """Stop the ticker, SIGTERM the cluster, then SIGKILL whatever is left of its group."""
        if self.ticker is not None:
            self.ticker.stop()
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session: only its processes
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)


@pytest.fixture
def cluster(
    transactional_db, artifacts: Artifacts, monkeypatch, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    """Queue jobs on the ORM broker for this test, and a qcluster to start when the test wants.

    Needs PostgreSQL: the cluster is another process, and pytest-django's SQLite test database
    lives in this process's memory.
    """
    from django_q.conf import Conf
    from django_q.models import OrmQ

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        unavailable(
            "the qcluster needs PostgreSQL (set DATABASE_URL=postgres://...): "
            "the SQLite test database lives in this process's memory"
        )
    OrmQ.objects.all().delete()
    # The live server thread enqueues, never runs inline: the backtest goes to the cluster.
    monkeypatch.setattr(Conf, "SYNC", False)
    c = Cluster(artifacts.directory)
    try:
        yield c
    finally:
        c.stop()
        if _failed(request):
            print(c.log_tail(80))  # shown with the failure; the whole log is an artifact


# --- the browser ----------------------------------------------------------------------------


@pytest.fixture
def browser(monkeypatch) -> Iterator[Browser]:
    """Headless Debian Chromium through Playwright, one per test."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -r requirements-dev.txt)")
    executable = shutil.which("chromium")
    if not executable:
        unavailable("no chromium on PATH (apt-get install chromium; never a browser download)")
    from django.db import connections

    # The sync API keeps an asyncio loop running on this thread (in another greenlet). Django
    # then (1) refuses the test's own ORM calls, which are plain synchronous code here: allowed
    # for this test only (monkeypatch undoes it); and (2) keeps this thread's connections in
    # per-context storage, so the ORM opens a second connection while the browser runs. That
    # one is closed here, while the loop still runs; left open, it would keep pytest-django
    # from dropping the test database.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS)
        )
        try:
            yield chromium
        finally:
            chromium.close()
            connections.close_all()


# Every Content-Security-Policy violation in a page is reported to the test (``Tab.csp``).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolation(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`
    + (e.sample ? ` (${e.sample})` : "")
  );
}, true);
"""


@dataclass
class Tab:
    """One page with its own cookies, and what its console said."""

    page: Page
    label: str
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page
    csp: list[str] = field(default_factory=list)  # Content-Security-Policy violations
    user: object | None = None  # the user ``signed_in`` logged this tab in as

    def record(self, msg: ConsoleMessage) -> None:
        self.console.append(f"[{msg.type}] {msg.text}")


@pytest.fixture
def new_tab(
    browser: Browser, app_server: LiveServer, artifacts: Artifacts, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], Tab]]:
    """Open pages, each in a fresh context (a separate user); on failure save what they show."""
    from playwright.sync_api import expect

    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    tabs: list[Tab] = []

    def open_tab(label: str = "user") -> Tab:
        context = browser.new_context(
            base_url=app_server.url, viewport=VIEWPORT, locale="en-IN", timezone_id="Asia/Kolkata"
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        csp: list[str] = []
        context.expose_function("__cspViolation", lambda violation: csp.append(violation))
        context.add_init_script(CSP_LISTENER)
        tab = Tab(context.new_page(), label, csp=csp)
        tab.page.on("console", tab.record)
        tab.page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        tab.page.on(  # which resource a "Failed to load resource" console error was about
            "response",
            lambda r: r.status >= 400 and tab.console.append(f"[http {r.status}] {r.url}"),
        )
        tabs.append(tab)
        return tab

    yield open_tab
    failed = _failed(request)
    for tab in tabs:
        artifacts.path(f"console-{tab.label}.log").write_text(
            "\n".join(
                tab.console
                + [f"[pageerror] {e}" for e in tab.errors]
                + [f"[csp] {v}" for v in tab.csp]
            )
            + "\n"
        )
        if failed:
            with contextlib.suppress(Exception):
                tab.page.screenshot(
                    path=str(artifacts.path(f"failure-{tab.label}.png")), full_page=True
                )
                artifacts.path(f"failure-{tab.label}.html").write_text(
                    f"<!-- {tab.page.url} -->\n{tab.page.content()}"
                )
        with contextlib.suppress(Exception):
            tab.page.context.close()


def signed_up(page: Page, *, email: str, password: str, name: str = "") -> None:
    """Sign up through the form, follow the mailed link, confirm; land on the overview.

    The server thread shares this process's test outbox (pytest-django's locmem mail backend).
    """
    from playwright.sync_api import expect

    from accounts.tests.conftest import mailed_link

    page.goto("/signup/")
    if name:
        page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox", level=1)).to_be_visible()
    page.goto(mailed_link(email))
    page.get_by_role("button", name="Confirm and open my account").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


def logged_in(page: Page, *, email: str, password: str) -> None:
    """Log in through the form; land on the overview."""
    from playwright.sync_api import expect

    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


# --- shared set-up: a logged-in trader, a strategy, a pinned market clock ---------------------


@pytest.fixture
def signed_in(new_tab: Callable[[str], Tab]) -> Callable[..., Tab]:
    """Open a tab logged in (through the form) as the user with ``email``, created if new."""

    def open_as(email: str, label: str = "trader") -> Tab:
        from django.contrib.auth import get_user_model

        from tests.factories import TEST_PASSWORD, UserFactory

        user = get_user_model().objects.filter(email=email).first() or UserFactory(email=email)
        tab = new_tab(label)
        logged_in(tab.page, email=email, password=TEST_PASSWORD)
        tab.user = user
        return tab

    return open_as


@pytest.fixture
def make_strategy() -> Callable[..., object]:
    """Create a strategy for ``owner``: SMA 10 x 20 long-only on GOOG's daily bars, 10,000 of
    capital, unless ``overrides`` say otherwise (``StrategyFactory`` fields)."""

    def make(owner: object, **overrides: object) -> object:
        from decimal import Decimal

        from strategies.tests.factories import StrategyFactory, seeded_instrument

        fields: dict[str, object] = {
            "owner": owner,
            "instrument": seeded_instrument("GOOG"),
            "params": {"fast": 10, "slow": 20, "mode": "long_only"},
            "capital": Decimal("10000"),
        }
        fields.update(overrides)
        return StrategyFactory(**fields)

    return make


@pytest.fixture
def market_clock(monkeypatch) -> Callable[[datetime], None]:
    """Start the app's clock (``timezone.now``, the server thread's too) at a chosen moment.

    It then runs on with the real one. The synthetic feed is a pure function of time, so a run
    deployed at a chosen moment meets the same bars on every run of the test.
    """

    def start_at(moment: datetime) -> None:
        from django.utils import timezone

        real = timezone.now
        offset = real() - moment
        monkeypatch.setattr(timezone, "now", lambda: real() - offset)

    return start_at
