"""Reads of broker accounts, always scoped to their owner."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from brokers.models import BrokerAccount, BrokerAlert


def broker_accounts_for_user(*, user: Any) -> QuerySet[BrokerAccount]:
    """Return ``user``'s broker accounts, oldest first, with their open alerts."""
    open_alerts = BrokerAlert.objects.filter(resolved_at__isnull=True).order_by("created_at")
    return BrokerAccount.objects.filter(user=user).prefetch_related(
        Prefetch("alerts", queryset=open_alerts, to_attr="open_alerts")
    )


def broker_account_get_for_user(*, user: Any, account_id: Any) -> BrokerAccount:
    """Return ``user``'s account ``account_id``; 404 alike for missing and someone else's."""
    try:
        return broker_accounts_for_user(user=user).get(pk=int(account_id))
    except (BrokerAccount.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("No such broker account.") from exc
