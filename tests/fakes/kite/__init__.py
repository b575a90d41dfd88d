"""A fake Kite Connect server for tests (see ``server.py``)."""

from tests.fakes.kite.server import FakeKite, FakeKiteServer, shared_server

__all__ = ["FakeKite", "FakeKiteServer", "shared_server"]
