"""A fake DhanHQ v2 server for tests (see ``server.py``)."""

from tests.fakes.dhan.server import FakeDhan, FakeDhanServer, make_token, shared_server

__all__ = ["FakeDhan", "FakeDhanServer", "make_token", "shared_server"]
