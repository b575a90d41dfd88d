"""A fake Kite Connect server: a small WSGI app on loopback, for tests without the internet.

It serves exactly the paths ``kiteconnect.KiteConnect._routes`` names for what we use (checked
by a test), with Kite v3's envelopes (``{"status": "success", "data": ...}`` and
``{"status": "error", "error_type": ..., "message": ...}``), the login redirect
(``/connect/login?api_key=...&v=3`` → the app's redirect URL with ``request_token``), the token
exchange (``POST /session/token``, checksum = SHA-256(api_key + request_token + api_secret)),
``Authorization: token api_key:access_token`` on everything else, and three faults a test can
arm: ``rate_limited`` (the next N order requests answer 429), ``hang_after_accept`` (the next
placement is accepted and its answer delayed past the client's timeout) and ``expire_tokens()``
(Kite's daily ~06:00 IST logout). Order changes are posted back, signed, to
``postbacks.url`` (``postbacks.py``).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tests.fakes.common.loopback import LoopbackServer
from tests.fakes.kite import market
from tests.fakes.kite.book import Book, Instrument, KiteError
from tests.fakes.kite.postbacks import KitePostbacks


@dataclass
class FakeKite:
    api_key: str = "fakekey123"
    api_secret: str = "fakesecret456"
    redirect_url: str = "http://testserver/brokers/kite/callback/"
    book: Book = field(default_factory=Book)
    request_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    rate_limited: int = 0
    hang_after_accept: float = 0.0
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) served
    # market data (``market.py``): the instrument dump, and every historical request's params
    dump: list[market.DumpRow] = field(default_factory=market.dump_rows)
    history_requests: list[dict[str, str]] = field(default_factory=list)
    all_hours: bool = False  # candles around the clock, not only in NSE's session
    lock: threading.Lock = field(default_factory=threading.Lock)
    postbacks: KitePostbacks = field(init=False)

    def __post_init__(self) -> None:
        """Order changes become postbacks (sent once a test sets ``postbacks.url``)."""
        self.postbacks = KitePostbacks(api_secret=self.api_secret)
        self.book.on_change = self.postbacks.order_changed

    def add_instrument(self, symbol: str, exchange: str = "NSE", **kw: Any) -> None:
        self.book.instruments[f"{exchange}:{symbol}"] = Instrument(exchange, symbol, **kw)

    def issue_access_token(self) -> str:
        token = secrets.token_hex(16)
        self.access_tokens.add(token)
        return token

    def expire_tokens(self) -> None:
        """Kite logs every session out daily (about 06:00 IST)."""
        self.access_tokens.clear()

    def advance(self, o: float, h: float, lo: float, c: float) -> None:
        with self.lock:
            self.book.advance(o, h, lo, c)


# ---------------------------------------------------------------------- WSGI


def _json(start_response, status: int, body: dict[str, Any]):
    payload = json.dumps(body, default=str).encode()
    start_response(
        f"{status} X",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def _error(start_response, err: KiteError):
    body = {"status": "error", "error_type": err.error_type, "message": err.message, "data": None}
    return _json(start_response, err.status, body)


class App:
    """Routes one request; the state is ``self.kite`` (swap it to start a test afresh)."""

    def __init__(self, kite: FakeKite):
        self.kite = kite

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = dict(parse_qsl(environ["wsgi.input"].read(size).decode())) if size else {}
        kite = self.kite
        kite.requests.append((method, path))
        if path == "/connect/login":
            return self._login(kite, query, start_response)
        try:
            if path == "/session/token" and method == "POST":
                return _json(
                    start_response, 200, {"status": "success", "data": self._session(kite, form)}
                )
            self._authorise(kite, environ)
            if method == "GET" and path.startswith("/instruments"):
                return self._market(kite, path, query, start_response)
            if method == "DELETE" and path == "/session/token":
                kite.access_tokens.discard(environ["HTTP_AUTHORIZATION"].split(":")[-1])
                data: Any = True
            else:
                data = self._route(kite, method, path, {**query, **form})
        except KiteError as err:
            return _error(start_response, err)
        return _json(start_response, 200, {"status": "success", "data": data})

    @staticmethod
    def _market(kite: FakeKite, path: str, query: dict[str, str], start_response):
        """The instrument dump (CSV, whole or one exchange's) and historical candles."""
        if m := re.fullmatch(r"/instruments/historical/(\d+)/(\w+)", path):
            token, interval = int(m[1]), m[2]
            with kite.lock:
                kite.history_requests.append({"token": m[1], "interval": interval, **query})
            ticks = {r.instrument_token: r.tick_size for r in kite.dump}
            if token not in ticks:
                raise KiteError(400, "InputException", "invalid token")
            rows = market.candles(
                token, interval, query.get("from", ""), query.get("to", ""),
                tick=ticks[token] or 0.05, all_hours=kite.all_hours,
            )  # fmt: skip
            return _json(start_response, 200, {"status": "success", "data": {"candles": rows}})
        m = re.fullmatch(r"/instruments(?:/(\w+))?", path)
        if not m:
            raise KiteError(404, "GeneralException", "Route not found")
        rows = [r for r in kite.dump if m[1] is None or r.exchange == m[1]]
        payload = market.dump_csv(rows)
        headers = [("Content-Type", "text/csv"), ("Content-Length", str(len(payload)))]
        start_response("200 OK", headers)
        return [payload]

    @staticmethod
    def _login(kite: FakeKite, query: dict[str, str], start_response):
        if query.get("api_key") != kite.api_key or query.get("v") != "3":
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"Invalid api_key or version"]
        token = secrets.token_hex(16)
        kite.request_tokens.add(token)
        params = {"action": "login", "type": "login", "status": "success", "request_token": token}
        params.update(parse_qsl(query.get("redirect_params", "")))
        start_response("302 Found", [("Location", f"{kite.redirect_url}?{urlencode(params)}")])
        return [b""]

    @staticmethod
    def _session(kite: FakeKite, form: dict[str, str]) -> dict[str, Any]:
        token = form.get("request_token", "")
        expected = hashlib.sha256((kite.api_key + token + kite.api_secret).encode()).hexdigest()
        if form.get("api_key") != kite.api_key or token not in kite.request_tokens:
            raise KiteError(403, "TokenException", "Token is invalid or has expired.")
        if form.get("checksum") != expected:
            raise KiteError(403, "TokenException", "Invalid `checksum`.")
        kite.request_tokens.discard(token)  # a request token is good for one exchange
        return {
            "user_type": "individual/res_no_nn",
            "email": "trader@example.com",
            "user_name": "Fake Trader",
            "user_shortname": "Fake",
            "broker": "ZERODHA",
            "exchanges": ["NSE", "BSE"],
            "products": ["CNC", "NRML", "MIS"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "avatar_url": None,
            "user_id": "AB1234",
            "api_key": kite.api_key,
            "access_token": kite.issue_access_token(),
            "public_token": secrets.token_hex(8),
            "refresh_token": "",
            "enctoken": "",
            "login_time": time.strftime("%Y-%m-%d %H:%M:%S"),
            "meta": {"demat_consent": "consent"},
        }

    @staticmethod
    def _authorise(kite: FakeKite, environ: dict[str, Any]) -> None:
        if environ.get("HTTP_X_KITE_VERSION") != "3":
            raise KiteError(400, "InputException", "Missing X-Kite-Version header.")
        auth = environ.get("HTTP_AUTHORIZATION", "")
        match = re.fullmatch(r"token ([^:]+):(.+)", auth)
        if not match or match[1] != kite.api_key or match[2] not in kite.access_tokens:
            raise KiteError(403, "TokenException", "Incorrect `api_key` or `access_token`.")

    def _route(self, kite: FakeKite, method: str, path: str, p: dict[str, str]) -> Any:
        book = kite.book
        hang, result = 0.0, None
        with kite.lock:
            order_call = path.startswith("/orders/regular") and method != "GET"
            if order_call and kite.rate_limited > 0:
                kite.rate_limited -= 1
                raise KiteError(429, "NetworkException", "Too many requests")
            if method == "POST" and path == "/orders/regular":
                order_id = book.place(p)
                hang, kite.hang_after_accept = kite.hang_after_accept, 0.0
                result = {"order_id": order_id}
            elif (m := re.fullmatch(r"/orders/regular/(\w+)", path)) and method == "PUT":
                return {"order_id": book.modify(m[1], p)}
            elif m and method == "DELETE":
                return {"order_id": book.cancel(m[1])}
            elif method == "GET" and path == "/orders":
                return list(book.orders.values())
            elif method == "GET" and (m := re.fullmatch(r"/orders/(\w+)", path)):
                book.get(m[1])
                return book.history[m[1]]
            elif method == "GET" and (m := re.fullmatch(r"/orders/(\w+)/trades", path)):
                book.get(m[1])
                return [t for t in book.trades if t["order_id"] == m[1]]
            elif method == "GET" and path == "/trades":
                return book.trades
            elif method == "GET" and path == "/portfolio/positions":
                return book.positions()
            elif method == "GET" and path == "/portfolio/holdings":
                return book.holdings
            elif method == "GET" and path == "/user/margins":
                return {"equity": book.margins(), "commodity": {"enabled": False, "net": 0}}
            elif method == "GET" and path == "/user/margins/equity":
                return book.margins()
            elif method == "GET" and path == "/user/profile":
                return {"user_id": "AB1234", "user_name": "Fake Trader", "broker": "ZERODHA"}
            else:
                raise KiteError(404, "GeneralException", "Route not found")
        if hang:  # accepted and booked; the answer comes too late for the client
            time.sleep(hang)
        return result


# ---------------------------------------------------------------------- server


class FakeKiteServer(LoopbackServer):
    """The app on 127.0.0.1 (a free port) in a daemon thread; ``url`` is the SDK's ``root``."""

    def __init__(self) -> None:
        super().__init__(App(FakeKite()))
        self.login_url = f"{self.url}/connect/login"

    @property
    def kite(self) -> FakeKite:
        return self.app.kite

    def reset(self, **kw: Any) -> FakeKite:
        """Start afresh (new books, tokens and faults) and return the new state."""
        self.app.kite = FakeKite(**kw)
        return self.app.kite


_shared: FakeKiteServer | None = None


def shared_server() -> FakeKiteServer:
    """One server per test process (a socket and a thread), reset by each test that uses it."""
    global _shared
    if _shared is None:
        _shared = FakeKiteServer()
    return _shared
