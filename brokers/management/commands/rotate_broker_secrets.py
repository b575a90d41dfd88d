"""Re-encrypt every stored broker secret under the newest key of ``BROKER_SECRET_KEYS``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from brokers import crypto
from brokers.models import BrokerAccount


class Command(BaseCommand):
    help = "Re-encrypt broker secrets under the first key of BROKER_SECRET_KEYS (key rotation)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for account in BrokerAccount.objects.select_for_update().order_by("pk"):
                account.api_secret_encrypted = crypto.rotate(account.api_secret_encrypted)
                account.access_token_encrypted = crypto.rotate(account.access_token_encrypted)
                account.save(update_fields=["api_secret_encrypted", "access_token_encrypted"])
                count += 1
        self.stdout.write(f"Re-encrypted the secrets of {count} broker accounts.")
