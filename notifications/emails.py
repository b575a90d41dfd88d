"""Plain-text emails for events: a subject line and the event's fields, one per line."""

from __future__ import annotations

from typing import Any

from notifications.models import EventKind

SUBJECTS = {
    EventKind.FILL: "Fill: {side} {quantity} {symbol} at {price}",
    EventKind.ORDER_REJECTED: "Order rejected: {side} {quantity} {symbol}",
    EventKind.RISK_LIMIT: "Risk limit hit: {side} {quantity} {symbol} denied",
    EventKind.DEPLOYMENT_STOPPED: "Deployment stopped: {strategy}",
    EventKind.DEPLOYMENT_FAILED: "Deployment failed: {strategy}",
    EventKind.DAILY_SUMMARY: "Daily P&L summary for {date}",
    EventKind.BROKER_ALERT: "Broker alert: {message}",
    EventKind.TEST: "Test notification",
}


def render_email(payload: dict[str, Any]) -> tuple[str, str]:
    """Return (subject, body) for an event as stored in its delivery."""
    data = payload.get("data") or {}
    template = SUBJECTS.get(payload.get("type"), "{type}")
    try:
        subject = template.format(type=payload.get("type"), **data)
    except (KeyError, IndexError):
        subject = str(payload.get("type"))
    lines = [f"{key}: {value}" for key, value in data.items() if key != "deployments"]
    for d in data.get("deployments") or []:
        lines.append(
            f"- {d['strategy']} (deployment {d['deployment_id']}): equity {d['equity']} "
            f"{d['currency']}, today {d['today_pnl']}, total {d['total_pnl']}, "
            f"fills today {d['fills_today']}"
        )
    lines += ["", "Manage notifications: your algosaas Notifications page."]
    return f"[algosaas] {subject}", "\n".join(lines)
