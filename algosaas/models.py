"""Cross-cutting API infrastructure tables (no domain data)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


def idempotency_lease_end() -> datetime:
    """When an in-flight key is released if its request has not finished (the process died)."""
    return timezone.now() + timedelta(seconds=settings.ALGOSAAS["IDEMPOTENCY_LEASE_SECONDS"])


class IdempotencyKey(models.Model):
    """The first answer to a POST sent with an ``Idempotency-Key`` header, kept for replays."""

    class State(models.TextChoices):
        IN_FLIGHT = "IN_FLIGHT"
        DONE = "DONE"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=255, help_text="Method and path the key was used on.")
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(
        default=idempotency_lease_end,
        help_text="While in flight: past it the request is presumed dead and the key is taken "
        "over by the next request with it. Also the token its owner must still hold to finish.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} ({self.state})"
