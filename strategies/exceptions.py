"""Errors raised by the strategies services; the API renders each in the one error shape."""

from algosaas.errors import Conflict, DomainError


class StrategyInvalid(DomainError):
    """Raised when a strategy's configuration breaks a rule; ``fields`` names each field."""

    status_code = 400
    code = "invalid"


class InvalidTransition(Conflict):
    """Raised when the lifecycle table has no edge for (current status, trigger): HTTP 409."""

    code = "invalid_transition"

    def __init__(self, *, current: str, trigger: str):
        super().__init__(
            f"Cannot {trigger} a strategy that is {current}.",
            current_state=current,
            trigger=trigger,
        )
        self.current = current
        self.trigger = trigger


class StrategyRunning(Conflict):
    """Raised when a running strategy's configuration would change (HTTP 409)."""

    code = "strategy_running"


class StrategyHasHistory(Conflict):
    """Raised when deleting a strategy that has ever run; archive it instead (HTTP 409)."""

    code = "has_history"


class StrategyArchived(Conflict, StrategyInvalid):
    """Raised when deploying an archived strategy: a state conflict (HTTP 409, ``current_state``
    ARCHIVED), still a ``StrategyInvalid`` for callers that catch configuration refusals."""

    code = "strategy_archived"


class RuleTextInvalid(StrategyInvalid):
    """Raised when a rule's text does not parse; ``positions`` give each error's line/column."""
