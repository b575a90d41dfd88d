"""Structured logging: JSON lines in production, readable lines in development.

django-structlog's middleware binds ``request_id`` and ``user_id`` into context variables, so
every line logged during a request carries them, stdlib loggers included. A redaction step
masks anything that looks like a credential before it is rendered. Routine lines that libraries
log at INFO (a task picked up, a request started, a 200 from runserver) are DEBUG here, so an
idle process is quiet at the default level and ``LOG_LEVEL=DEBUG`` brings them back.
"""

from __future__ import annotations

import logging
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


# (logger name prefix, message pattern) of INFO lines that say nothing an operator acts on.
_ROUTINE = (
    (
        "django-q",
        re.compile(
            r"processing |^Processed |^Enqueued |created task |ready for work|monitoring at|"
            r"pushing tasks at|guarding cluster|stopped (doing work|pushing tasks|monitoring)|"
            r"stopping cluster processes|waiting for the monitor"
        ),
    ),
    ("axes.apps", re.compile(r"^AXES: BEGIN")),
)


class RoutineToDebug(logging.Filter):
    """Log routine library lines at DEBUG: drop them unless the configured level shows DEBUG.

    django-q logs every task it enqueues and runs at INFO (about 40 lines a minute for a few
    demo deployments), django-structlog logs ``request_started`` beside ``request_finished``,
    and runserver writes a line per request that ``request_finished`` already records.
    """

    def __init__(self, level: str = "INFO") -> None:
        super().__init__()
        self.shows_debug = logging.getLevelName(level.upper()) <= logging.DEBUG

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self._routine(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.shows_debug

    @staticmethod
    def _routine(record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):  # a structlog event
            return record.msg.get("event") == "request_started"
        if record.name == "django.server":
            return getattr(record, "status_code", 500) < 400
        message = record.getMessage()
        return any(
            record.name.startswith(name) and pattern.search(message) for name, pattern in _ROUTINE
        )


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
        "filters": {"routine_to_debug": {"()": RoutineToDebug, "level": level}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "filters": ["routine_to_debug"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Django logs each 4xx ("Unauthorized: /path") after the middleware has unbound the
            # request_id; django-structlog's ``request_finished`` already records it with the id.
            "django.request": {"level": "ERROR"},
            "django_structlog": {"level": level},
            "axes": {"level": "INFO"},
            # runserver's own line per request, through our handler (errors stay, 2xx/3xx DEBUG)
            "django.server": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }
