"""The seam between the lifecycle and whatever runs a deployment.

Imports flow from ``execution`` to ``strategies``, never back, so the lifecycle service calls
the runner named in ``settings.ALGOSAAS["DEPLOYMENT_RUNNER"]`` (the paper-trading engine, once
installed) inside the transition's transaction. The runner cancels orders, squares off and
schedules steps; the lifecycle only decides whether the transition may happen.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from strategies.models import Deployment


class DeploymentRunner(Protocol):
    def on_deploy(self, deployment: Deployment) -> None:
        """Start moving ``deployment`` forward (called inside the deploy transaction)."""

    def on_stop(self, deployment: Deployment, *, square_off: bool) -> None:
        """Cancel open orders and, with ``square_off``, close positions (same transaction)."""

    def on_fail(self, deployment: Deployment, *, reason: str) -> None:
        """Cancel open orders of a deployment that went to ERROR (same transaction)."""


class NullRunner:
    """A runner that runs nothing: deployments are records only."""

    def on_deploy(self, deployment: Deployment) -> None:
        return None

    def on_stop(self, deployment: Deployment, *, square_off: bool) -> None:
        return None

    def on_fail(self, deployment: Deployment, *, reason: str) -> None:
        return None


@cache
def get_runner() -> DeploymentRunner:
    return import_string(settings.ALGOSAAS["DEPLOYMENT_RUNNER"])()
