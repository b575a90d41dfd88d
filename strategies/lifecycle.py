"""The strategy lifecycle as a transition table: ``(status, trigger) -> next status``.

``strategies.services.strategy_transition`` is the only code that applies it.
"""

from __future__ import annotations

from enum import StrEnum

from strategies.exceptions import InvalidTransition
from strategies.models import StrategyStatus as S


class Trigger(StrEnum):
    DEPLOY = "deploy"
    STOP = "stop"
    FAIL = "fail"


STRATEGY_TRANSITIONS: dict[tuple[str, Trigger], str] = {
    (S.INACTIVE, Trigger.DEPLOY): S.RUNNING,
    (S.STOPPED, Trigger.DEPLOY): S.RUNNING,
    (S.ERROR, Trigger.DEPLOY): S.RUNNING,
    (S.RUNNING, Trigger.STOP): S.STOPPED,
    (S.RUNNING, Trigger.FAIL): S.ERROR,
}


def strategy_next_status(current: str, trigger: Trigger) -> str:
    """Return the status ``trigger`` leads to from ``current``, or raise ``InvalidTransition``."""
    try:
        return STRATEGY_TRANSITIONS[(current, trigger)]
    except KeyError:
        raise InvalidTransition(current=current, trigger=trigger.value) from None
