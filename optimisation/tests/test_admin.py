"""The operators' admin: sweeps with their progress, and the cancel action (the same service)."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from optimisation.models import ChunkStatus, RobustnessRun, RobustnessStatus, SweepStatus
from optimisation.robustness import walk_forward_request
from optimisation.services import sweep_chunk_run, sweep_request
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/optimisation/sweep/"


@pytest.fixture
def admin_browser(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True, email="ops@example.com"))
    return client


def test_changelist_shows_progress_and_cancel_cancels(admin_browser, goog_strategy, user):
    window = {"start": date(2007, 1, 1), "end": date(2007, 12, 31)}
    space = {"fast": [5, 10], "slow": [20, 40]}
    finished = sweep_request(strategy=goog_strategy, user=user, space=space, **window)
    for chunk in finished.chunks.all():
        sweep_chunk_run(chunk_id=chunk.pk)
    queued = sweep_request(strategy=goog_strategy, user=user, space=space, **window)

    page = admin_browser.get(CHANGELIST)
    assert page.status_code == 200
    assert "4/4 (100%), chunks 1/1" in page.content.decode()
    assert "0/4 (0%), chunks 0/1" in page.content.decode()
    assert admin_browser.get(f"{CHANGELIST}{queued.pk}/change/").status_code == 200

    response = admin_browser.post(
        CHANGELIST,
        {"action": "cancel_sweeps", "_selected_action": [finished.pk, queued.pk]},
        follow=True,
    )
    assert response.status_code == 200
    queued.refresh_from_db()
    finished.refresh_from_db()
    assert queued.status == SweepStatus.CANCELLED
    assert set(queued.chunks.values_list("status", flat=True)) == {ChunkStatus.CANCELLED}
    assert finished.status == SweepStatus.COMPLETE
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert "Cancelled 1 sweep(s)." in messages
    assert any(m.startswith(f"Sweep {finished.pk}:") for m in messages)


def test_robustness_reports_are_listed_and_shown_read_only(admin_browser, goog_strategy, user):
    run = walk_forward_request(strategy=goog_strategy, user=user, space={"fast": [5]}, windows=2)
    listing = admin_browser.get("/admin/optimisation/robustnessrun/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "Walk-forward" in page and "SMA cross GOOG" in page and "Queued" in page
    detail = admin_browser.get(f"/admin/optimisation/robustnessrun/{run.pk}/change/")
    assert detail.status_code == 200
    assert admin_browser.get("/admin/optimisation/robustnessrun/add/").status_code == 403


def test_the_cancel_action_cancels_a_queued_walk_forward_only(admin_browser, goog_strategy, user):
    queued = walk_forward_request(strategy=goog_strategy, user=user, space={"fast": [5]}, windows=2)
    done = walk_forward_request(strategy=goog_strategy, user=user, space={"fast": [6]}, windows=2)
    RobustnessRun.objects.filter(pk=done.pk).update(status=RobustnessStatus.COMPLETE)
    response = admin_browser.post(
        "/admin/optimisation/robustnessrun/",
        {"action": "cancel_walk_forwards", "_selected_action": [queued.pk, done.pk]},
        follow=True,
    )
    assert response.status_code == 200
    queued.refresh_from_db()
    done.refresh_from_db()
    assert queued.status == RobustnessStatus.CANCELLED and queued.finished_at is not None
    assert done.status == RobustnessStatus.COMPLETE
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert "Cancelled 1 walk-forward(s)." in messages
    assert any(m.startswith(f"Run {done.pk}:") for m in messages)


def test_walk_forward_progress_and_resuming_its_lost_steps(
    admin_browser, goog_strategy, user, settings, monkeypatch
):
    """The listing shows windows and chunks done; the resume action queues what is pending."""
    from optimisation import walkforward_steps

    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 1}
    run = walk_forward_request(strategy=goog_strategy, user=user, space={"fast": [5, 6]}, windows=2)
    first = run.wf_chunks.order_by("window", "seq").first()
    walkforward_steps.walk_forward_chunk_run(chunk_id=first.pk, enqueue=False)
    page = admin_browser.get("/admin/optimisation/robustnessrun/").content.decode()
    assert "windows 0/2, chunks 1/4 (17%)" in page

    sent = []
    monkeypatch.setattr(walkforward_steps, "async_task", lambda *args, **kw: sent.append(args))
    response = admin_browser.post(
        "/admin/optimisation/robustnessrun/",
        {"action": "resume_walk_forwards", "_selected_action": [run.pk]},
        follow=True,
    )
    assert "Queued 3 step(s)." in [str(m) for m in get_messages(response.wsgi_request)]
    assert sorted(args[1] for args in sent) == sorted(
        run.wf_chunks.exclude(pk=first.pk).values_list("pk", flat=True)
    )
