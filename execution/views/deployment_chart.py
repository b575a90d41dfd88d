"""The live page's price chart: its data as JSON, whole or only what is new since a time.

``live-chart.js`` asks for ``?since=<epoch s of its newest candle>`` on every refresh (the htmx
poll's and every pushed ``algosaas:live-event``), so a refresh sends a bar or two, not 500.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from algosaas.errors import DomainError
from execution import selectors
from execution.services.live_chart import deployment_chart

MAX_EPOCH = 2**53  # beyond any bar's time; keeps a huge number from overflowing a datetime


@login_required
@require_GET
def deployment_chart_data(request: HttpRequest, pk: int) -> JsonResponse:
    """Candles, indicator lines and fill markers of one run (``?since=`` for the new ones;
    ``?instrument=`` a basket's member, by id or symbol)."""
    deployment = selectors.deployment_get_for_user(user=request.user, deployment_id=pk, pnl=False)
    raw = request.GET.get("since")
    since = None
    if raw:
        try:
            since = int(raw)
        except ValueError:
            since = None
        if since is None or not 0 <= since < MAX_EPOCH:
            return JsonResponse(
                {"error": {"since": ["Epoch seconds (a whole number) expected."]}}, status=400
            )
    try:
        data = deployment_chart(
            deployment=deployment, since=since, instrument=request.GET.get("instrument")
        )
    except DomainError as e:  # an instrument that is not one of the run's
        return JsonResponse({"error": e.fields or {"instrument": [e.message]}}, status=400)
    return JsonResponse(data)
