"""The scaffolding every optimisation page shares, so the sweep and robustness views hold only
what differs between them.

- ``sweep_view`` / ``robustness_view``: log in, allow only the named HTTP methods (405 before
  any lookup), then fetch the user's own sweep or run (404 for "missing" and "not yours" alike)
  and hand the view the object instead of its id.
- ``refusal_status``: a form refused (by its own validation or by a service's ``DomainError``)
  shows its errors next to their fields and one message, with the status the page answers.
- ``cancel_and_redirect``: ask a cancel service, say what happened, go back to the page.
- ``progress_context``: what a body that polls itself while its job runs needs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from algosaas.errors import DomainError
from execution.views.common import INLINE_ERRORS
from optimisation import selectors
from optimisation.models import RobustnessRun, Sweep

POLL = "every 1s"

ObjectView = Callable[..., HttpResponse]


def _owned_view(
    fetch: Callable[[Any, int], Any], methods: tuple[str, ...]
) -> Callable[[ObjectView], Callable[[HttpRequest, int], HttpResponse]]:
    def decorator(view: ObjectView) -> Callable[[HttpRequest, int], HttpResponse]:
        @login_required
        @require_http_methods(list(methods))
        @wraps(view)
        def wrapper(request: HttpRequest, pk: int) -> HttpResponse:
            return view(request, fetch(request.user, pk))

        return wrapper

    return decorator


def sweep_view(*methods: str) -> Callable[[ObjectView], Callable[[HttpRequest, int], HttpResponse]]:
    """Serve ``view(request, sweep)`` at a URL naming the sweep's ``pk``, for its owner only."""
    return _owned_view(
        lambda user, pk: selectors.sweep_get_for_user(user=user, sweep_id=pk), methods
    )


def robustness_view(
    *methods: str,
) -> Callable[[ObjectView], Callable[[HttpRequest, int], HttpResponse]]:
    """Serve ``view(request, run)`` at a URL naming the robustness run's ``pk``, for its owner
    only."""
    return _owned_view(
        lambda user, pk: selectors.robustness_run_get_for_user(user=user, run_id=pk), methods
    )


def refusal_status(request: HttpRequest, form: Form, error: DomainError | None = None) -> int:
    """Record why ``form`` was refused and return the status its page answers with.

    Without ``error`` the form's own validation refused it (400). With one, the service refused
    it: the error goes next to its field when the form has that field, else into the message,
    and the page answers with the error's status.
    """
    if error is None:
        messages.error(request, f"Not started: {INLINE_ERRORS}")
        return 400
    inline = form.add_domain_error(error)  # type: ignore[attr-defined]
    messages.error(request, f"Not started: {INLINE_ERRORS if inline else error.message}")
    return error.status_code


def cancel_and_redirect(
    request: HttpRequest, cancel: Callable[[], object], *, done: str, to: str, pk: int
) -> HttpResponse:
    """Call ``cancel`` (a cancel service), show ``done`` or its refusal, go to ``to``'s page."""
    try:
        cancel()
    except DomainError as e:
        messages.error(request, e.message)
    else:
        messages.success(request, done)
    return redirect(to, pk=pk)


def progress_context(job: Sweep | RobustnessRun, *, active: bool) -> dict[str, Any]:
    """A job's page body: the job's strategy, whether it still polls, and the money's currency."""
    strategy = job.strategy
    return {
        "strategy": strategy,
        "active": active,
        "poll": POLL,
        "currency": strategy.instrument.currency,
    }
