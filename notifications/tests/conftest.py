"""A real HTTP receiver on loopback, and helpers that run what the cluster would run."""

from __future__ import annotations

import ast
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from execution.services.live import deployment_step
from strategies import services as strategy_services
from tests.security.conftest import STEP_AHEAD, make_strategy


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next code of ``codes`` (then 200) and keeps what it got."""

    url: str
    codes: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(Received(dict(self.headers.items()), body))
            self.send_response(state.codes.pop(0) if state.codes else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def run_retry_schedules() -> list[Schedule]:
    """Run the one-off retry schedules as the cluster's scheduler would; return them, in order."""
    ran = []
    while True:
        due = Schedule.objects.filter(name__startswith="webhook-retry-").order_by("pk")
        pending = [s for s in due if s.pk not in {r.pk for r in ran}]
        if not pending:
            return ran
        for s in pending:
            ran.append(s)
            import_string(s.func)(*ast.literal_eval(s.args or "()"))


def traded_deployment(user):
    """A running deployment that has filled orders (its fills emitted after commit)."""
    strategy = make_strategy(user, name="Notified runner")
    deployment = strategy_services.strategy_deploy(strategy=strategy, actor=user)
    outcome = deployment_step(deployment_id=deployment.pk, now=timezone.now() + STEP_AHEAD)
    assert outcome.status == "stepped", outcome
    deployment.refresh_from_db()
    return deployment
