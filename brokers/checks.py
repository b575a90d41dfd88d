"""``manage.py check --deploy``: warn when broker secrets are encrypted with a derived key."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def broker_secret_keys(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if settings.BROKER_SECRET_KEYS:
        return []
    return [
        Warning(
            "BROKER_SECRET_KEYS is not set: broker secrets are encrypted with a key derived "
            "from SECRET_KEY, so a leaked SECRET_KEY would also expose them.",
            hint="Set BROKER_SECRET_KEYS to a Fernet key (see docs/brokers.md).",
            id="brokers.W001",
        )
    ]
