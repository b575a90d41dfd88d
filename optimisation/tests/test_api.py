"""The sweep API: requests, bad spaces and limits as 400s naming the field, results, cancel."""

from __future__ import annotations

import pytest

from optimisation.exceptions import SweepInvalid
from optimisation.models import Sweep, SweepStatus
from optimisation.services import sweep_request

pytestmark = pytest.mark.django_db

GOOD = {
    "space": {"fast": {"start": 5, "stop": 15, "step": 5}, "slow": [20, 40]},
    "start": "2006-01-01",
    "end": "2007-12-31",
}


def _post(client, strategy, body):
    return client.post(f"/api/strategies/{strategy.pk}/optimisations/", body, format="json")


def test_a_grid_sweep_through_the_api(
    api_client, goog_strategy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(api_client, goog_strategy, GOOD)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == SweepStatus.QUEUED
    assert body["progress"]["done"] == 0 and body["progress"]["total"] == 6

    # the chunks ran on commit (the test cluster is synchronous)
    detail = api_client.get(f"/api/optimisations/{body['id']}/").json()
    assert detail["status"] == SweepStatus.COMPLETE
    assert detail["progress"]["done"] == detail["progress"]["total"] == 6
    assert detail["progress"]["percent"] == 100.0
    assert detail["progress"]["best_params"]["fast"] in (5, 10, 15)
    results = api_client.get(f"/api/optimisations/{body['id']}/results/?page_size=4").json()
    assert results["count"] == 6 and len(results["results"]) == 4
    values = [r["value"] for r in results["results"]]
    assert values == sorted(values, reverse=True)
    assert values[0] == detail["progress"]["best_value"]
    listed = api_client.get("/api/optimisations/").json()
    assert [s["id"] for s in listed["results"]] == [body["id"]]
    per_strategy = api_client.get(f"/api/strategies/{goog_strategy.pk}/optimisations/").json()
    assert per_strategy["count"] == 1


@pytest.mark.parametrize(
    ("space", "field", "words"),
    [
        ({"fast": [5], "lookback": [3]}, "lookback", "Unknown parameter"),
        ({"fast": []}, "fast", "empty"),
        ({"fast": {"start": 30, "stop": 5, "step": 5}}, "fast", "empty"),
        ({"fast": {"start": 5, "stop": 30, "step": 0}}, "fast", "greater than 0"),
        ({"fast": {"start": 5, "stop": 30, "step": -1}}, "fast", "greater than 0"),
        ({"fast": {"start": 5, "stop": 30}}, "fast", "missing: step"),
        ({"fast": [5.5]}, "fast", "integer"),
        ({"fast": {"start": 5, "stop": 30, "step": 1.5}}, "fast", "integer"),
        ({"fast": [0]}, "fast", "at least 1"),
        ({"mode": {"start": 1, "stop": 2, "step": 1}}, "mode", "list of values"),
        ({"fast": "5..30"}, "fast", "list of values or a range"),
    ],
)
def test_bad_spaces_are_a_400_naming_the_field(api_client, goog_strategy, space, field, words):
    response = _post(api_client, goog_strategy, {**GOOD, "space": space})
    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["fields"]
    assert field in fields["space"], fields
    assert words in " ".join(fields["space"][field]), fields
    assert not Sweep.objects.exists()


def test_nan_in_a_space_is_a_400_never_a_500(api_client, goog_strategy, user):
    """A NaN literal is refused by the JSON parser (it names the parse error); a "NaN" string,
    and a float NaN from any Python caller (admin, shell, tasks), name the parameter."""
    goog_strategy.strategy_type = "bollinger_reversion"
    goog_strategy.params = {}
    goog_strategy.save()
    url = f"/api/strategies/{goog_strategy.pk}/optimisations/"
    for raw in ("[1.5, NaN]", '{"start": NaN, "stop": 3, "step": 1}'):
        body = f'{{"space": {{"width": {raw}}}}}'
        response = api_client.post(url, body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert "NaN" in response.json()["error"]["message"]
    for raw in ([1.5, "NaN"], {"start": "NaN", "stop": 3, "step": 1}):
        response = api_client.post(url, {"space": {"width": raw}}, format="json")
        assert response.status_code == 400, response.content
        assert "width" in response.json()["error"]["fields"]["space"]
    for raw in ([1.5, float("nan")], {"start": float("nan"), "stop": 3, "step": 1}):
        with pytest.raises(SweepInvalid) as info:
            sweep_request(strategy=goog_strategy, user=user, space={"width": raw})
        assert "finite" in " ".join(info.value.fields["space"]["width"])
    with pytest.raises(SweepInvalid) as info:
        sweep_request(strategy=goog_strategy, user=user, space={"period": [float("nan")]})
    assert "period" in info.value.fields["space"]
    assert not Sweep.objects.exists()


def test_more_combinations_than_the_limit_is_a_400_naming_it(api_client, goog_strategy, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_SWEEP_COMBINATIONS": 10}
    space = {
        "fast": {"start": 1, "stop": 4, "step": 1},
        "slow": {"start": 10, "stop": 12, "step": 1},
    }
    response = _post(api_client, goog_strategy, {**GOOD, "space": space})
    assert response.status_code == 400
    assert "MAX_SWEEP_COMBINATIONS" in " ".join(response.json()["error"]["fields"]["space"])
    # and one range alone above the limit is refused before its values are ever listed
    huge = {"fast": {"start": 1, "stop": 500, "step": 1}}
    response = _post(api_client, goog_strategy, {**GOOD, "space": huge})
    assert response.status_code == 400
    assert "fast" in response.json()["error"]["fields"]["space"]
    response = _post(api_client, goog_strategy, {**GOOD, "method": "optuna", "trials": 11})
    assert response.status_code == 400
    assert "MAX_SWEEP_COMBINATIONS" in " ".join(response.json()["error"]["fields"]["trials"])


def test_running_sweeps_limit_is_a_400_naming_it(api_client, goog_strategy, settings, user):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_RUNNING_SWEEPS_PER_USER": 1}
    Sweep.objects.create(
        owner=user,
        strategy=goog_strategy,
        config={},
        space={},
        method="grid",
        objective="return",
        capital=1,
        status=SweepStatus.RUNNING,
    )
    response = _post(api_client, goog_strategy, GOOD)
    assert response.status_code == 400
    assert "MAX_RUNNING_SWEEPS_PER_USER" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"method": "annealing"}, "method"),
        ({"objective": "vibes"}, "objective"),
        ({"method": "random"}, "samples"),
        ({"method": "optuna"}, "trials"),
        ({"objective": "return_max_dd"}, "max_drawdown_pct"),
        ({"objective": "return_max_dd", "max_drawdown_pct": 101}, "max_drawdown_pct"),
        ({"samples": 3}, "samples"),
        ({"seed": -1}, "seed"),
        ({"start": "2008-01-01", "end": "2007-01-01"}, "end"),
    ],
)
def test_bad_requests_are_a_400_naming_the_field(api_client, goog_strategy, extra, field):
    response = _post(api_client, goog_strategy, {**GOOD, **extra})
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()


def test_every_combination_refused_is_a_400(api_client, goog_strategy):
    response = _post(api_client, goog_strategy, {**GOOD, "space": {"fast": [50], "slow": [20]}})
    assert response.status_code == 400
    assert "space" in response.json()["error"]["fields"]


def test_cancel_through_the_api(api_client, goog_strategy, user):
    sweep = sweep_request(strategy=goog_strategy, user=user, space=GOOD["space"])  # not run yet
    response = api_client.post(f"/api/optimisations/{sweep.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == SweepStatus.CANCELLED
    again = api_client.post(f"/api/optimisations/{sweep.pk}/cancel/")
    assert again.status_code == 409


def test_another_users_sweep_is_a_404(
    api_client, other_client, goog_strategy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sweep_id = _post(api_client, goog_strategy, GOOD).json()["id"]
    for method, url in (
        ("get", f"/api/optimisations/{sweep_id}/"),
        ("get", f"/api/optimisations/{sweep_id}/results/"),
        ("post", f"/api/optimisations/{sweep_id}/cancel/"),
        ("get", f"/api/strategies/{goog_strategy.pk}/optimisations/"),
        ("post", f"/api/strategies/{goog_strategy.pk}/optimisations/"),
    ):
        response = getattr(other_client, method)(
            url, GOOD if method == "post" else None, format="json"
        )
        assert response.status_code == 404, (method, url)
    assert other_client.get("/api/optimisations/").json()["count"] == 0
    # filtering by the owner's strategy looks like filtering by a missing one
    foreign = other_client.get(f"/api/optimisations/?strategy={goog_strategy.pk}")
    missing = other_client.get("/api/optimisations/?strategy=999999")
    assert foreign.status_code == missing.status_code == 200
    assert foreign.json()["count"] == missing.json()["count"] == 0
    assert Sweep.objects.get(pk=sweep_id).status == SweepStatus.COMPLETE
