"""Create (idempotently) the demo user and demo strategies, and print how to log in."""

from decimal import Decimal

from django.core.management.base import BaseCommand

from accounts.services import user_ensure_demo
from strategies.models import Strategy, StrategyStatus
from strategies.services import strategy_create, strategy_deploy

DEMO_EMAIL = "demo@algosaas.local"
DEMO_PASSWORD = "paper-trader-2026"  # noqa: S105  # nosec B105 # public demo login, printed by make run

# How a deployed demo trades: the synthetic market around the clock (the live demo, so trades
# show at any hour) or in NSE sessions only (09:15-15:30 IST, holidays off, MIS squared off at
# 15:20) for the NSE intraday strategy; ``None``: not deployed.
AROUND_THE_CLOCK = "synthetic"
NSE_HOURS = "nse_hours"

# (name, type, params, (exchange, symbol), timeframe, sizing, product, capital, deploy feed)
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
        AROUND_THE_CLOCK,
    ),
    (
        "INFY intraday crossover (NSE hours)",
        "sma_crossover",
        {"fast": 5, "slow": 20, "mode": "long_short"},
        ("NSE", "INFY"),
        "1m",
        {"quantity": 10},
        "MIS",
        Decimal("500000.00"),
        NSE_HOURS,
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
        None,
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
        None,
    ),
]


class Command(BaseCommand):
    help = "Create the demo user and demo strategies (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--email", default=DEMO_EMAIL)
        parser.add_argument("--password", default=DEMO_PASSWORD)
        parser.add_argument(
            "--no-deploy", action="store_true", help="Do not start the demo deployments."
        )

    def handle(self, *args, email: str, password: str, no_deploy: bool, **options):
        user, created = user_ensure_demo(email=email, password=password)
        instrument_model = Strategy._meta.get_field("instrument").related_model
        for name, key, params, (
            exchange,
            symbol,
        ), tf, sizing, product, capital, feed in DEMO_STRATEGIES:
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
            if feed and not no_deploy and strategy.status != StrategyStatus.RUNNING:
                strategy_deploy(strategy=strategy, actor=user, feed=feed)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login {'created' if created else 'ready'}: {email} / {password}"
            )
        )
