"""The strategy lifecycle, exhaustively: every (status, trigger) pair through the services."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from strategies import runners, services
from strategies.exceptions import InvalidTransition
from strategies.lifecycle import STRATEGY_TRANSITIONS, Trigger, strategy_next_status
from strategies.models import (
    Deployment,
    DeploymentStatus,
    Strategy,
    StrategyEvent,
    StrategyStatus,
)
from strategies.tests.factories import StrategyFactory, put_in_status

S = StrategyStatus

# ARCHITECTURE §4, written out independently of the code under test.
EXPECTED_EDGES = {
    (S.INACTIVE, Trigger.DEPLOY): S.RUNNING,
    (S.STOPPED, Trigger.DEPLOY): S.RUNNING,
    (S.ERROR, Trigger.DEPLOY): S.RUNNING,
    (S.RUNNING, Trigger.STOP): S.STOPPED,
    (S.RUNNING, Trigger.FAIL): S.ERROR,
}
ALL_PAIRS = list(itertools.product(list(StrategyStatus), list(Trigger)))


def _apply(strategy: Strategy, trigger: Trigger, actor):
    if trigger == Trigger.DEPLOY:
        return services.strategy_deploy(strategy=strategy, actor=actor)
    if trigger == Trigger.STOP:
        return services.strategy_stop(strategy=strategy, actor=actor, reason="taking a break")
    return services.strategy_fail(strategy_id=strategy.pk, reason="broker rejected the session")


def _snapshot(strategy: Strategy) -> dict:
    strategy.refresh_from_db()
    return {
        "status": strategy.status,
        "status_reason": strategy.status_reason,
        "updated_at": strategy.updated_at,
        "events": list(strategy.events.values_list("id", flat=True)),
        "deployments": list(
            strategy.deployments.order_by("number").values_list(
                "id", "number", "status", "stopped_at", "stop_reason", "square_off"
            )
        ),
    }


def test_table_is_the_documented_lifecycle():
    assert STRATEGY_TRANSITIONS == EXPECTED_EDGES


@pytest.mark.parametrize(("status", "trigger"), ALL_PAIRS, ids=lambda v: str(v))
def test_next_status_function(status, trigger):
    if (status, trigger) in EXPECTED_EDGES:
        assert strategy_next_status(status, trigger) == EXPECTED_EDGES[(status, trigger)]
    else:
        with pytest.raises(InvalidTransition) as info:
            strategy_next_status(status, trigger)
        assert info.value.current == status
        assert info.value.extra["current_state"] == status


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "trigger"), ALL_PAIRS, ids=lambda v: str(v))
def test_every_pair_through_the_services(status, trigger, user):
    strategy = put_in_status(StrategyFactory(owner=user), status, actor=user)
    before = _snapshot(strategy)
    previous_running = strategy.deployments.filter(status=DeploymentStatus.RUNNING).first()
    started = timezone.now()

    if (status, trigger) not in EXPECTED_EDGES:
        with pytest.raises(InvalidTransition) as info:
            _apply(strategy, trigger, user)
        assert info.value.current == status
        assert info.value.extra["current_state"] == status
        assert info.value.status_code == 409
        assert _snapshot(strategy) == before
        return

    result = _apply(strategy, trigger, user)
    after = _snapshot(strategy)
    assert strategy.status == EXPECTED_EDGES[(status, trigger)]

    new_events = strategy.events.exclude(id__in=before["events"])
    assert new_events.count() == 1
    event = new_events.get()
    assert (event.from_status, event.to_status, event.trigger) == (
        status,
        strategy.status,
        trigger.value,
    )

    if trigger == Trigger.DEPLOY:
        assert isinstance(result, Deployment)
        assert len(after["deployments"]) == len(before["deployments"]) + 1
        assert result.number == len(before["deployments"]) + 1
        assert result.status == DeploymentStatus.RUNNING
        assert result.stopped_at is None
        assert result.capital == strategy.capital
        assert result.config["params"] == strategy.params
        assert result.config["instrument"]["symbol"] == "RELIANCE"
        assert event.actor == user and event.reason == "deployed"
        assert event.deployment == result
        assert strategy.status_reason == ""
        # The older runs are untouched.
        assert after["deployments"][:-1] == before["deployments"]
    elif trigger == Trigger.STOP:
        assert previous_running is not None
        previous_running.refresh_from_db()
        assert previous_running.status == DeploymentStatus.STOPPED
        assert previous_running.stopped_at >= started
        assert previous_running.stop_reason == "taking a break"
        assert previous_running.square_off is False
        assert event.actor == user and event.reason == "taking a break"
        assert event.deployment == previous_running
        assert strategy.status_reason == ""
        assert len(after["deployments"]) == len(before["deployments"])
    else:
        assert previous_running is not None
        previous_running.refresh_from_db()
        assert previous_running.status == DeploymentStatus.ERROR
        assert previous_running.stopped_at >= started
        assert previous_running.stop_reason == "broker rejected the session"
        assert event.actor is None and event.actor_label == "system"
        assert event.reason == "broker rejected the session"
        assert event.deployment == previous_running
        assert strategy.status_reason == "broker rejected the session"
        assert len(after["deployments"]) == len(before["deployments"])
    # Never two runs at once.
    assert strategy.deployments.filter(status=DeploymentStatus.RUNNING).count() == (
        1 if strategy.status == S.RUNNING else 0
    )


@pytest.mark.django_db
@pytest.mark.parametrize("end", [S.STOPPED, S.ERROR])
def test_redeploy_starts_a_new_deployment_and_keeps_the_old(end, user):
    strategy = put_in_status(StrategyFactory(owner=user), end, actor=user)
    first = strategy.deployments.get()
    first_status = first.status

    second = services.strategy_deploy(strategy=strategy, actor=user)

    assert second.pk != first.pk and second.number == 2
    assert second.status == DeploymentStatus.RUNNING
    first.refresh_from_db()
    assert first.number == 1 and first.status == first_status != DeploymentStatus.RUNNING
    assert first.stopped_at is not None
    assert list(strategy.deployments.order_by("number").values_list("number", flat=True)) == [1, 2]
    strategy.refresh_from_db()
    assert strategy.status == S.RUNNING and strategy.status_reason == ""


@pytest.mark.django_db
def test_deployment_config_is_a_snapshot(user):
    strategy = put_in_status(StrategyFactory(owner=user), S.STOPPED, actor=user)
    old = strategy.deployments.get()
    config_before = old.config

    services.strategy_update(
        strategy=strategy,
        strategy_type="ema_crossover",
        params={"fast": 5, "slow": 50},
        timeframe="1h",
        quantity=7,
        capital=strategy.capital * 2,
    )

    old.refresh_from_db()
    assert old.config == config_before
    assert old.config["strategy_type"] == "sma_crossover"
    assert old.config["params"] == {"fast": 10, "slow": 20, "mode": "long_only"}
    assert old.config["timeframe"] == "1d"
    assert old.config["quantity"] is None and Decimal(old.config["allocation_pct"]) == 100
    assert old.capital == strategy.capital
    new = services.strategy_deploy(strategy=strategy, actor=user)
    assert new.config["strategy_type"] == "ema_crossover"
    assert new.config["params"] == {"fast": 5, "slow": 50, "mode": "long_only"}
    assert new.config["quantity"] == 7 and new.capital == 2 * old.capital


@pytest.mark.django_db
def test_stop_with_square_off_is_recorded(user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    services.strategy_stop(strategy=strategy, actor=user, square_off=True)
    deployment = strategy.deployments.get()
    assert deployment.square_off is True
    assert deployment.stop_reason == "stopped with square-off"
    assert strategy.events.first().reason == "stopped with square-off"


@pytest.mark.django_db
def test_deploying_an_archived_strategy_is_refused_and_changes_nothing(user):
    strategy = put_in_status(StrategyFactory(owner=user), S.STOPPED, actor=user)
    services.strategy_archive(strategy=strategy)
    before = _snapshot(strategy)
    with pytest.raises(services.StrategyInvalid):
        services.strategy_deploy(strategy=strategy, actor=user)
    assert _snapshot(strategy) == before


class RecordingRunner:
    calls: list = []

    def on_deploy(self, deployment):
        self.calls.append(("deploy", deployment.pk))

    def on_stop(self, deployment, *, square_off):
        self.calls.append(("stop", deployment.pk, square_off))

    def on_fail(self, deployment, *, reason):
        self.calls.append(("fail", deployment.pk, reason))


class ExplodingRunner(RecordingRunner):
    def on_deploy(self, deployment):
        raise RuntimeError("engine could not start")


@pytest.fixture
def use_runner(settings):
    def _use(dotted):
        settings.ALGOSAAS = {**settings.ALGOSAAS, "DEPLOYMENT_RUNNER": dotted}
        runners.get_runner.cache_clear()

    yield _use
    runners.get_runner.cache_clear()


@pytest.mark.django_db
def test_the_runner_is_told_about_each_transition(use_runner, user):
    use_runner(f"{__name__}.RecordingRunner")
    RecordingRunner.calls = []
    strategy = StrategyFactory(owner=user)
    first = services.strategy_deploy(strategy=strategy, actor=user)
    services.strategy_stop(strategy=strategy, actor=user, square_off=True)
    second = services.strategy_deploy(strategy=strategy, actor=user)
    services.strategy_fail(strategy_id=strategy.pk, reason="feed died")
    assert RecordingRunner.calls == [
        ("deploy", first.pk),
        ("stop", first.pk, True),
        ("deploy", second.pk),
        ("fail", second.pk, "feed died"),
    ]


@pytest.mark.django_db
def test_a_runner_failure_rolls_the_deploy_back(use_runner, user):
    use_runner(f"{__name__}.ExplodingRunner")
    strategy = StrategyFactory(owner=user)
    with pytest.raises(RuntimeError):
        services.strategy_deploy(strategy=strategy, actor=user)
    strategy.refresh_from_db()
    assert strategy.status == S.INACTIVE
    assert not StrategyEvent.objects.filter(strategy=strategy).exists()
    assert not Deployment.objects.filter(strategy=strategy).exists()
