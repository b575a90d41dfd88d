"""A fake DhanHQ v2 server: a small WSGI app on loopback, for tests without the internet.

It serves under ``/v2`` the paths in ``ROUTES`` (the ones ``dhanhq``'s ``_order.py``,
``_portfolio.py`` and ``_funds.py`` build, which a test checks the adapter keeps to), with
Dhan's headers (``access-token``, ``client-id``), its JSON bodies and error shape
(``{"errorType", "errorCode": "DH-9xx", "errorMessage"}``), access tokens that are JWTs with an
``exp`` claim, and three faults a test can arm: ``rate_limited`` (the next N order requests
answer 429 / ``DH-904``), ``hang_after_accept`` (the next placement is booked and its answer
delayed past the client's timeout) and ``expire_tokens()`` (every token stops working).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.common.loopback import LoopbackServer
from tests.fakes.dhan.book import Book, DhanError, Instrument
from tests.fakes.dhan.market import historical, intraday, scrip_master_csv, scrip_rows

# (method, path pattern) the fake serves, below the ``/v2`` root.
ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", r"/orders"),
    ("GET", r"/orders"),
    ("GET", r"/orders/\d+"),
    ("PUT", r"/orders/\d+"),
    ("DELETE", r"/orders/\d+"),
    ("GET", r"/orders/external/[A-Za-z0-9 _-]+"),
    ("GET", r"/trades/?"),  # the SDK asks "/trades/", the docs "/trades"
    ("GET", r"/positions"),
    ("GET", r"/holdings"),
    ("GET", r"/fundlimit"),
    ("GET", r"/profile"),
    ("POST", r"/charts/intraday"),
    ("POST", r"/charts/historical"),
)
SCRIP_MASTER_PATH = "/api-data/api-scrip-master.csv"  # public, outside /v2 (no token)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def make_token(client_id: str, exp: float) -> str:
    """A token shaped like Dhan's: a JWT (HS512) naming the client and when it expires."""
    header = {"typ": "JWT", "alg": "HS512"}
    claims = {
        "iss": "dhan",
        "partnerId": "",
        "exp": int(exp),
        "tokenConsumerType": "SELF",
        "webhookUrl": "",
        "dhanClientId": client_id,
    }
    return f"{_b64(header)}.{_b64(claims)}.{secrets.token_urlsafe(32)}"


@dataclass
class FakeDhan:
    client_id: str = "1100223344"
    book: Book | None = None
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> exp (epoch)
    rate_limited: int = 0
    postbacks: Any = None  # ``DhanPostbacks``: order changes posted once a test sets its url
    hang_after_accept: float = 0.0
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) served
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (exchangeSegment, securityId) -> [(epoch, o, h, l, c, volume)] for /charts/intraday
    candles: dict[tuple[str, str], list[tuple]] = field(default_factory=dict)
    generated_history: bool = False  # every booked instrument has session candles (market.py)
    chart_requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def load_scrip_master(self) -> None:
        """Book every instrument of the scrip master (so orders for them are accepted)."""
        for row in scrip_rows():
            seg = {"E": "_EQ", "D": "_FNO", "I": "", "M": "_COMM"}[row["SEM_SEGMENT"]]
            segment = "IDX_I" if not seg else row["SEM_EXM_EXCH_ID"] + seg
            tick = float(row["SEM_TICK_SIZE"]) / 100 or 0.01
            self.add_instrument(row["SEM_TRADING_SYMBOL"], row["SEM_SMST_SECURITY_ID"], segment,
                                tick=tick, lot=int(float(row["SEM_LOT_UNITS"])))  # fmt: skip

    def __post_init__(self) -> None:
        if self.book is None:
            self.book = Book(client_id=self.client_id)
        from tests.fakes.dhan.postbacks import DhanPostbacks

        self.postbacks = DhanPostbacks()
        self.book.on_change = self.postbacks.order_changed

    def add_instrument(
        self, symbol: str, security_id: str, segment: str = "NSE_EQ", **kw: Any
    ) -> None:
        self.book.instruments[security_id] = Instrument(security_id, segment, symbol, **kw)

    def issue_access_token(self, valid_for: float = 24 * 3600) -> str:
        exp = time.time() + valid_for
        token = make_token(self.client_id, exp)
        self.access_tokens[token] = exp
        return token

    def expire_tokens(self) -> None:
        """Every token stops working (its ``exp`` passed, or the user revoked it)."""
        self.access_tokens.clear()

    def advance(self, o: float, h: float, lo: float, c: float) -> None:
        with self.lock:
            self.book.advance(o, h, lo, c)


def _json(start_response, status: int, body: Any):
    payload = json.dumps(body, default=str).encode()
    start_response(
        f"{status} X",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


class App:
    """Routes one request; the state is ``self.dhan`` (swap it to start a test afresh)."""

    def __init__(self, dhan: FakeDhan):
        self.dhan = dhan

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        dhan = self.dhan
        size = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(size) if size else b""
        dhan.requests.append((method, path))
        if path == SCRIP_MASTER_PATH:
            payload = scrip_master_csv().encode()
            start_response("200 OK", [("Content-Type", "text/csv")])
            return [payload]
        try:
            if not path.startswith("/v2/"):
                raise DhanError(404, "Invalid_Request", "DH-905", "Unknown API version")
            path = path[3:]
            if not any(m == method and re.fullmatch(p, path) for m, p in ROUTES):
                raise DhanError(404, "Invalid_Request", "DH-905", "Route not found")
            self._authorise(dhan, environ)
            body = json.loads(raw) if raw else {}
            status, data = self._route(dhan, method, path, body)
        except DhanError as err:
            error = {
                "errorType": err.error_type,
                "errorCode": err.code,
                "errorMessage": err.message,
            }
            return _json(start_response, err.status, error)
        except ValueError:
            return _json(
                start_response,
                400,
                {"errorType": "Input_Exception", "errorCode": "DH-905", "errorMessage": "Bad JSON"},
            )
        return _json(start_response, status, data)

    @staticmethod
    def _authorise(dhan: FakeDhan, environ: dict[str, Any]) -> None:
        token = environ.get("HTTP_ACCESS_TOKEN", "")
        exp = dhan.access_tokens.get(token)
        if environ.get("HTTP_CLIENT_ID") != dhan.client_id or exp is None or exp <= time.time():
            raise DhanError(
                401,
                "Invalid_Authentication",
                "DH-901",
                "Client ID or user generated access token is invalid or expired.",
            )

    def _route(self, dhan: FakeDhan, method: str, path: str, body: dict[str, Any]):
        book = dhan.book
        hang, result = 0.0, None
        with dhan.lock:
            if path.startswith("/charts/"):
                dhan.chart_requests.append((path, body))
                serve = intraday if path == "/charts/intraday" else historical
                known = set(book.instruments)
                return 200, serve(dhan.candles, body, generate=dhan.generated_history, known=known)
            if method in ("POST", "PUT", "DELETE") and dhan.rate_limited > 0:
                dhan.rate_limited -= 1
                raise DhanError(429, "Rate_Limit", "DH-904", "Too many requests on server.")
            order_id = path.rsplit("/", 1)[-1]
            if method == "POST":
                order = book.place(body)
                hang, dhan.hang_after_accept = dhan.hang_after_accept, 0.0
                result = {"orderId": order["orderId"], "orderStatus": order["orderStatus"]}
            elif method == "PUT":
                if str(body.get("orderId")) != order_id:
                    raise DhanError(400, "Input_Exception", "DH-905", "orderId mismatch")
                order = book.modify(order_id, body)
                return 200, {"orderId": order_id, "orderStatus": order["orderStatus"]}
            elif method == "DELETE":
                order = book.cancel(order_id)
                return 202, {"orderId": order_id, "orderStatus": order["orderStatus"]}
            elif path == "/orders":
                return 200, list(book.orders.values())
            elif path.startswith("/orders/external/"):
                return 200, book.by_correlation(order_id)
            elif path.startswith("/orders/"):
                return 200, book.get(order_id)
            elif path.rstrip("/") == "/trades":
                return 200, book.trades
            elif path == "/positions":
                return 200, book.positions()
            elif path == "/holdings":
                return 200, book.holdings
            elif path == "/fundlimit":
                return 200, book.funds()
            else:  # /profile
                exp = dhan.access_tokens[next(iter(dhan.access_tokens))]
                validity = time.strftime("%d/%m/%Y %H:%M", time.localtime(exp))
                return 200, {
                    "dhanClientId": dhan.client_id,
                    "tokenValidity": validity,
                    "activeSegment": "Equity, Derivative",
                    "ddpi": "Active",
                    "mtf": "Active",
                    "dataPlan": "Active",
                    "dataValidity": validity,
                }
        if hang:  # booked; the answer comes too late for the client
            time.sleep(hang)
        return 200, result


class FakeDhanServer(LoopbackServer):
    """The app on 127.0.0.1 (a free port) in a daemon thread; ``root`` is the adapter's root."""

    def __init__(self) -> None:
        super().__init__(App(FakeDhan()))
        self.root = f"{self.url}/v2"

    @property
    def dhan(self) -> FakeDhan:
        return self.app.dhan

    def reset(self, **kw: Any) -> FakeDhan:
        """Start afresh (new books, tokens and faults) and return the new state."""
        self.app.dhan = FakeDhan(**kw)
        return self.app.dhan


_shared: FakeDhanServer | None = None


def shared_server() -> FakeDhanServer:
    """One server per test process (a socket and a thread), reset by each test that uses it."""
    global _shared
    if _shared is None:
        _shared = FakeDhanServer()
    return _shared
