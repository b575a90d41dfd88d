"""Reads for strategies, always scoped to a user: another user's rows look like missing ones."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from strategies.models import Deployment, Strategy, StrategyEvent


def strategies_for_user(*, user, include_archived: bool = False) -> QuerySet[Strategy]:
    qs = (
        Strategy.objects.filter(owner=user).select_related("instrument").prefetch_related("members")
    )
    return qs if include_archived else qs.filter(archived_at__isnull=True)


def strategy_get_for_user(*, user, strategy_id: int | str, members: bool = True) -> Strategy:
    """Return the user's strategy or raise 404 — the same answer for missing and not yours.

    ``members=False`` leaves the basket unread, for a caller that hands the strategy to a
    service which re-reads the locked row (deploy, stop): reading it here too reads it twice.
    """
    qs = strategies_for_user(user=user, include_archived=True)
    if not members:
        qs = qs.prefetch_related(None)
    try:
        return qs.get(pk=int(strategy_id))
    except (Strategy.DoesNotExist, ValueError, TypeError):
        raise Http404("No such strategy.") from None


def strategy_events(*, strategy: Strategy) -> QuerySet[StrategyEvent]:
    return strategy.events.select_related("actor")


def deployments_for_strategy(*, strategy: Strategy) -> QuerySet[Deployment]:
    return strategy.deployments.all()
