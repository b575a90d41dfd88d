"""Structured logging: JSON lines in production, readable lines in development.

django-structlog's middleware binds ``request_id`` and ``user_id`` into context variables, so
every line logged during a request carries them, stdlib loggers included. A redaction step
masks anything that looks like a credential before it is rendered.
"""

from __future__ import annotations

import re
from typing import Any

import structlog

_SECRET_KEY_RE = re.compile(
    r"pass(word)?|token|secret|authorization|api[_-]?key|refresh|access|cookie|signature",
    re.IGNORECASE,
)
_BEARER_RE = re.compile(r"(Bearer\s+)[A-Za-z0-9\-_\.=]+")
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
REDACTED = "[redacted]"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _JWT_RE.sub(REDACTED, _BEARER_RE.sub(r"\1" + REDACTED, value))
    if isinstance(value, dict):
        return {
            k: (REDACTED if _SECRET_KEY_RE.search(str(k)) else _scrub(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Mask credential-looking keys and any bearer token or JWT inside values."""
    return _scrub(event_dict)


def configure_logging(*, log_format: str, level: str) -> dict[str, Any]:
    """Configure structlog and return the ``LOGGING`` dict for Django."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    renderer,
                ],
                "foreign_pre_chain": shared,
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Django logs each 4xx ("Unauthorized: /path") after the middleware has unbound the
            # request_id; django-structlog's ``request_finished`` already records it with the id.
            "django.request": {"level": "ERROR"},
            "django_structlog": {"level": level},
            "axes": {"level": "INFO"},
        },
    }
