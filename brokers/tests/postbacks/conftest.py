"""The fake Kite with RELIANCE and INFY and a linked account (the live deployments' fixtures)."""

from tests.fakes.kite.fixtures import fake_kite, linked_kite_account  # noqa: F401 (fixtures)
