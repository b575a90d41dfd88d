"""Create (idempotently) the demo user and demo strategies, and print how to log in."""

from decimal import Decimal

from django.core.management.base import BaseCommand

from accounts.services import user_ensure_demo
from strategies.models import Strategy, StrategyStatus
from strategies.services import strategy_create, strategy_deploy

DEMO_EMAIL = "demo@algosaas.local"
DEMO_PASSWORD = "paper-trader-2026"  # noqa: S105  # nosec B105 # public demo login, printed by make run

# (name, type, params, (exchange, symbol), timeframe, sizing, product, capital, deploy)
DEMO_STRATEGIES = [
    (
        "RELIANCE fast crossover (live demo)",
        "sma_crossover",
        {"fast": 3, "slow": 8, "mode": "long_short"},
        ("NSE", "RELIANCE"),
        "5s",
        {"quantity": 10},
        "MIS",
        Decimal("500000.00"),
        True,
    ),
    (
        "GOOG SMA 10/20 (backtesting.py example)",
        "sma_crossover",
        {"fast": 10, "slow": 20, "mode": "long_short"},
        ("NASDAQ", "GOOG"),
        "1d",
        {"allocation_pct": Decimal("100")},
        "CNC",
        Decimal("10000.00"),
        False,
    ),
    (
        "TCS RSI reversion",
        "rsi_reversion",
        {"period": 14, "oversold": 30, "overbought": 70, "mode": "long_only"},
        ("NSE", "TCS"),
        "1m",
        {"allocation_pct": Decimal("50")},
        "CNC",
        Decimal("1000000.00"),
        False,
    ),
]


class Command(BaseCommand):
    help = "Create the demo user and demo strategies (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--email", default=DEMO_EMAIL)
        parser.add_argument("--password", default=DEMO_PASSWORD)
        parser.add_argument(
            "--no-deploy", action="store_true", help="Do not start the live demo strategy."
        )

    def handle(self, *args, email: str, password: str, no_deploy: bool, **options):
        user, created = user_ensure_demo(email=email, password=password)
        instrument_model = Strategy._meta.get_field("instrument").related_model
        for name, key, params, (
            exchange,
            symbol,
        ), tf, sizing, product, capital, deploy in DEMO_STRATEGIES:
            strategy = Strategy.objects.filter(owner=user, name=name).first()
            if strategy is None:
                strategy = strategy_create(
                    owner=user,
                    name=name,
                    strategy_type=key,
                    params=params,
                    instrument=instrument_model.objects.get(exchange=exchange, symbol=symbol),
                    timeframe=tf,
                    product=product,
                    capital=capital,
                    quantity=sizing.get("quantity"),
                    allocation_pct=sizing.get("allocation_pct"),
                )
            if deploy and not no_deploy and strategy.status != StrategyStatus.RUNNING:
                strategy_deploy(strategy=strategy, actor=user)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login {'created' if created else 'ready'}: {email} / {password}"
            )
        )
