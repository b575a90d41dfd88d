"""Create (idempotently) the demo user and demo strategies, and print how to log in."""

from django.core.management.base import BaseCommand

from accounts.services import user_ensure_demo

DEMO_EMAIL = "demo@algosaas.local"
DEMO_PASSWORD = "paper-trader-2026"  # noqa: S105 -- public demo login, printed by make run


class Command(BaseCommand):
    help = "Create the demo user and demo strategies (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--email", default=DEMO_EMAIL)
        parser.add_argument("--password", default=DEMO_PASSWORD)

    def handle(self, *args, email: str, password: str, **options):
        _user, created = user_ensure_demo(email=email, password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login {'created' if created else 'ready'}: {email} / {password}"
            )
        )
