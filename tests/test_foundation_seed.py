"""``manage.py seed_demo``: safe to run again, and the login it prints works."""

import io
import re

import pytest
from django.core.management import call_command

from accounts.models import User

pytestmark = pytest.mark.django_db

PRINTED_LOGIN = re.compile(r"Demo login (created|ready): (\S+) / (\S+)")


def seed_demo() -> tuple[str, str, str]:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    match = PRINTED_LOGIN.search(out.getvalue())
    assert match, out.getvalue()
    return match.group(1), match.group(2), match.group(3)


def test_seed_demo_twice_creates_one_user_whose_printed_login_works(anon_client):
    first = seed_demo()
    second = seed_demo()

    assert first[0] == "created"
    assert second[0] == "ready"
    assert first[1:] == second[1:]
    _, email, password = second
    assert User.objects.filter(email__iexact=email).count() == 1
    response = anon_client.post("/api/auth/token/", {"email": email, "password": password})
    assert response.status_code == 200


def test_seed_demo_restores_a_changed_demo_password(anon_client):
    _, email, password = seed_demo()
    demo = User.objects.get(email=email)
    demo.set_password("someone-changed-it-99")
    demo.save()

    seed_demo()

    response = anon_client.post("/api/auth/token/", {"email": email, "password": password})
    assert response.status_code == 200


def test_seed_demo_user_is_not_staff():
    _, email, _ = seed_demo()

    demo = User.objects.get(email=email)
    assert not demo.is_staff
    assert not demo.is_superuser
    assert demo.password.startswith("bcrypt_sha256$")


def test_seed_demo_runs_nse_intraday_on_nse_hours_and_the_live_demo_around_the_clock():
    from execution.models import DeploymentState, Feed

    seed_demo()

    feeds = {
        live.deployment.strategy.instrument.symbol: (live.feed, live.engine_config["calendar"])
        for live in DeploymentState.objects.select_related("deployment__strategy__instrument")
    }
    feed, calendar = feeds["INFY"]
    assert feed == Feed.NSE_HOURS
    assert calendar["tz"] == "Asia/Kolkata" and calendar["squareoff"] == "15:20"
    assert feeds["RELIANCE"] == (Feed.SYNTHETIC, None)  # the demo trades at any hour
