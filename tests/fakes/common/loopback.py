"""A WSGI app served on 127.0.0.1 (a free port) from a daemon thread, quiet in test output."""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass


class LoopbackServer:
    """Serves ``app`` until ``stop()``; ``url`` is its root (``http://127.0.0.1:<port>``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.httpd = make_server("127.0.0.1", 0, self.app, _Server, _QuietHandler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
