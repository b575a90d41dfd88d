"""The fake Kite's books: orders with Kite's status sequences, trades, positions and margins.

Shapes follow Kite Connect v3's docs (``/orders``, ``/orders/{id}``, ``/trades``,
``/portfolio/positions``, ``/user/margins``): field names, IST wall-clock timestamps, the status
words (``PUT ORDER REQ RECEIVED`` → ``VALIDATION PENDING`` → ``OPEN PENDING`` → ``OPEN`` /
``TRIGGER PENDING`` → ``COMPLETE`` | ``CANCELLED`` | ``REJECTED``), and a partial fill as ``OPEN``
with ``filled_quantity > 0``. Prices move only when a test calls ``advance`` with a bar.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.fakes.common.book import (
    BarBook,
    averaged,
    bar_price,
    bar_quantity,
    off_tick,
    triggered_open,
)

START = datetime(2026, 12, 7, 9, 15, 0)  # IST wall clock, as Kite sends it


class KiteError(Exception):
    """An error envelope: ``{"status": "error", "error_type": ..., "message": ...}``."""

    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


@dataclass
class Instrument:
    exchange: str
    tradingsymbol: str
    tick: float = 0.05
    lot: int = 1
    last_price: float = 100.0


@dataclass
class Book(BarBook):
    cash: float = 1_000_000.0
    fill_share: float = 1.0  # share of an order's quantity one bar may fill (<1: partial fills)
    instruments: dict[str, Instrument] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    # what /portfolio/holdings answers (rows as Kite writes them; a test carries some over)
    holdings: list[dict[str, Any]] = field(default_factory=list)
    clock: datetime = START
    _ids: Any = field(default_factory=lambda: itertools.count(261207000000001))
    _trade_ids: Any = field(default_factory=lambda: itertools.count(50000001))
    on_change: Any = None  # called with each order as it changes (the postbacks' hook)

    # ------------------------------------------------------------------ helpers

    def _record(self, order: dict[str, Any], status: str, message: str | None = None) -> None:
        order["status"] = status
        if message is not None:
            order["status_message"] = order["status_message_raw"] = message
        order["exchange_update_timestamp"] = self._tick()
        self.history[order["order_id"]].append(copy.deepcopy(order))
        if self.on_change is not None:
            self.on_change(order)

    def get(self, order_id: str) -> dict[str, Any]:
        if order_id not in self.orders:
            raise KiteError(400, "InputException", "Couldn't find that `order_id`.")
        return self.orders[order_id]

    # ------------------------------------------------------------------ orders

    def place(self, p: dict[str, str]) -> str:
        """Create an order (always, once its fields parse) and run Kite's acceptance sequence."""
        for name in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product"):
            if not p.get(name):
                raise KiteError(400, "InputException", f"Missing `{name}`.")
        order_type = p.get("order_type", "")
        if order_type not in ("MARKET", "LIMIT", "SL", "SL-M"):
            raise KiteError(400, "InputException", "Invalid `order_type`.")
        if order_type in ("LIMIT", "SL") and not p.get("price"):
            raise KiteError(400, "InputException", "Missing `price`.")
        if order_type in ("SL", "SL-M") and not p.get("trigger_price"):
            raise KiteError(400, "InputException", "Missing `trigger_price`.")
        if len(p.get("tag", "")) > 20:
            raise KiteError(400, "InputException", "Tag length should be less than 20 characters.")
        order_id = str(next(self._ids))
        now = self._tick()
        order = {
            "order_id": order_id,
            "exchange_order_id": None,
            "parent_order_id": None,
            "placed_by": "AB1234",
            "variety": "regular",
            "status": "",
            "status_message": None,
            "status_message_raw": None,
            "order_timestamp": now,
            "exchange_update_timestamp": now,
            "exchange_timestamp": None,
            "exchange": p["exchange"],
            "tradingsymbol": p["tradingsymbol"],
            "instrument_token": 408065,
            "order_type": order_type,
            "transaction_type": p["transaction_type"],
            "validity": p.get("validity", "DAY"),
            "product": p["product"],
            "quantity": int(p["quantity"]),
            "disclosed_quantity": 0,
            "price": float(p.get("price") or 0),
            "trigger_price": float(p.get("trigger_price") or 0),
            "average_price": 0,
            "filled_quantity": 0,
            "pending_quantity": int(p["quantity"]),
            "cancelled_quantity": 0,
            "market_protection": int(p.get("market_protection") or 0),
            "meta": {},
            "tag": p.get("tag") or None,
            "tags": [p["tag"]] if p.get("tag") else [],
            "guid": f"fake{order_id}",
        }
        self.orders[order_id] = order
        self.history[order_id] = []
        self._record(order, "PUT ORDER REQ RECEIVED")
        self._record(order, "VALIDATION PENDING")
        reason = self._rms_check(order)
        if reason:
            order["pending_quantity"] = 0
            self._record(order, "REJECTED", reason)
            return order_id
        self._record(order, "OPEN PENDING")
        order["exchange_order_id"] = f"1100000{order_id[-8:]}"
        order["exchange_timestamp"] = order["exchange_update_timestamp"]
        self._record(order, "TRIGGER PENDING" if order_type in ("SL", "SL-M") else "OPEN")
        return order_id

    def _rms_check(self, o: dict[str, Any]) -> str:
        key = f"{o['exchange']}:{o['tradingsymbol']}"
        inst = self.instruments.get(key)
        if inst is None:
            return "Instrument not found for this tradingsymbol."
        if o["quantity"] <= 0 or o["quantity"] % inst.lot:
            return f"Quantity should be a multiple of lot size {inst.lot}."
        for name in ("price", "trigger_price"):
            if off_tick(o[name], inst.tick):
                return (
                    f"Tick size for this script is {inst.tick:.2f}. Kindly enter {name} "
                    "in the multiple of tick size for this script"
                )
        value = o["quantity"] * (o["price"] or inst.last_price)
        if o["transaction_type"] == "BUY" and value > self.margins()["net"]:
            return (
                f"Insufficient funds. Required margin is {value:.2f} but available margin is "
                f"{self.margins()['net']:.2f}."
            )
        return ""

    def modify(self, order_id: str, p: dict[str, str]) -> str:
        o = self.get(order_id)
        if o["status"] not in ("OPEN", "TRIGGER PENDING"):
            raise KiteError(
                400, "InputException", f"Order cannot be modified as it is {o['status'].lower()}."
            )
        keep = o["status"]
        self._record(o, "MODIFY VALIDATION PENDING")
        if p.get("quantity"):
            o["quantity"] = int(p["quantity"])
            o["pending_quantity"] = o["quantity"] - o["filled_quantity"]
        for name in ("price", "trigger_price"):
            if p.get(name):
                o[name] = float(p[name])
        self._record(o, "MODIFIED")
        self._record(o, keep)
        return order_id

    def cancel(self, order_id: str) -> str:
        o = self.get(order_id)
        if o["status"] not in ("OPEN", "TRIGGER PENDING"):
            raise KiteError(
                400, "InputException", f"Order cannot be cancelled as it is {o['status'].lower()}."
            )
        self._record(o, "CANCEL PENDING")
        o["cancelled_quantity"], o["pending_quantity"] = o["pending_quantity"], 0
        self._record(o, "CANCELLED", "Cancelled by user")
        return order_id

    # ------------------------------------------------------------------ market

    def _working(self, order: dict[str, Any]) -> bool:
        return order["status"] in ("OPEN", "TRIGGER PENDING")

    def _match(self, order: dict[str, Any], o: float, h: float, lo: float) -> None:
        buy = order["transaction_type"] == "BUY"
        kind = order["order_type"]
        if order["status"] == "TRIGGER PENDING":
            start = triggered_open(buy, order["trigger_price"], o, h, lo)
            if start is None:
                return
            self._record(order, "OPEN")
            o = start
            kind = "MARKET" if kind == "SL-M" else "LIMIT"
        price = bar_price(buy, order["price"] if kind == "LIMIT" else None, o, h, lo)
        if price is not None:
            qty = bar_quantity(order["quantity"], order["pending_quantity"], self.fill_share)
            self._fill(order, qty, price)
        if order["validity"] == "IOC" and order["pending_quantity"]:
            order["cancelled_quantity"], order["pending_quantity"] = order["pending_quantity"], 0
            self._record(order, "CANCELLED", "IOC order cancelled by exchange")

    def _fill(self, order: dict[str, Any], qty: int, price: float) -> None:
        done = order["filled_quantity"]
        order["average_price"] = averaged(order["average_price"], done, price, qty)
        order["filled_quantity"] = done + qty
        order["pending_quantity"] -= qty
        ts = self._tick()
        self.trades.append(
            {
                "trade_id": str(next(self._trade_ids)),
                "order_id": order["order_id"],
                "exchange_order_id": order["exchange_order_id"],
                "tradingsymbol": order["tradingsymbol"],
                "exchange": order["exchange"],
                "instrument_token": order["instrument_token"],
                "transaction_type": order["transaction_type"],
                "product": order["product"],
                "average_price": price,
                "quantity": qty,
                "fill_timestamp": ts,
                "order_timestamp": order["order_timestamp"],
                "exchange_timestamp": ts,
                "tag": order["tag"],
            }
        )
        self._record(order, "COMPLETE" if order["pending_quantity"] == 0 else "OPEN")

    # ------------------------------------------------------------------ portfolio

    def positions(self) -> dict[str, list[dict[str, Any]]]:
        net: dict[tuple[str, str, str], dict[str, Any]] = {}
        for t in self.trades:
            key = (t["exchange"], t["tradingsymbol"], t["product"])
            row = net.setdefault(
                key,
                {
                    "tradingsymbol": key[1],
                    "exchange": key[0],
                    "product": key[2],
                    "instrument_token": t["instrument_token"],
                    "buy_quantity": 0,
                    "buy_value": 0.0,
                    "sell_quantity": 0,
                    "sell_value": 0.0,
                },
            )
            side = "buy" if t["transaction_type"] == "BUY" else "sell"
            row[f"{side}_quantity"] += t["quantity"]
            row[f"{side}_value"] += t["quantity"] * t["average_price"]
        rows = []
        for row in net.values():
            inst = self.instruments[f"{row['exchange']}:{row['tradingsymbol']}"]
            qty = row["buy_quantity"] - row["sell_quantity"]
            buy_avg = row["buy_value"] / row["buy_quantity"] if row["buy_quantity"] else 0.0
            sell_avg = row["sell_value"] / row["sell_quantity"] if row["sell_quantity"] else 0.0
            closed = min(row["buy_quantity"], row["sell_quantity"])
            avg = buy_avg if qty > 0 else sell_avg if qty < 0 else 0.0
            unrealised = (inst.last_price - avg) * qty
            realised = (sell_avg - buy_avg) * closed
            row.update(
                quantity=qty,
                average_price=avg,
                last_price=inst.last_price,
                realised=realised,
                unrealised=unrealised,
                pnl=realised + unrealised,
                m2m=realised + unrealised,
                overnight_quantity=0,
                multiplier=1,
            )
            rows.append(row)
        return {"net": rows, "day": copy.deepcopy(rows)}

    def new_day(self) -> None:
        """The next trading day: yesterday's T1 settles, today's CNC net goes to T1 holdings,
        the day's orders, trades and positions are gone (MIS was squared off), cash settles."""
        moved = [r for r in self.positions()["net"] if r["product"] == "CNC" and r["quantity"]]
        self.cash -= sum(
            (1 if t["transaction_type"] == "BUY" else -1) * t["quantity"] * t["average_price"]
            for t in self.trades
        )
        held = {(h["exchange"], h["tradingsymbol"]): h for h in self.holdings}
        for h in self.holdings:
            h["quantity"] += h.get("t1_quantity", 0)
            h["t1_quantity"] = 0
        for row in moved:
            key = (row["exchange"], row["tradingsymbol"])
            h = held.get(key)
            if h is None:
                h = held[key] = {"tradingsymbol": key[1], "exchange": key[0], "quantity": 0,
                                 "t1_quantity": 0, "average_price": row["average_price"],
                                 "last_price": row["last_price"], "pnl": 0.0, "product": "CNC",
                                 "instrument_token": row["instrument_token"]}  # fmt: skip
                self.holdings.append(h)
            if row["quantity"] > 0:
                h["t1_quantity"] += row["quantity"]
            else:  # delivery stock sold today
                h["quantity"] += row["quantity"]
        self.holdings[:] = [h for h in self.holdings if h["quantity"] or h["t1_quantity"]]
        self.trades.clear()
        self.orders.clear()

    def margins(self) -> dict[str, Any]:
        spent = sum(
            (1 if t["transaction_type"] == "BUY" else -1) * t["quantity"] * t["average_price"]
            for t in self.trades
        )
        blocked = sum(
            o["pending_quantity"] * (o["price"] or o["trigger_price"])
            for o in self.orders.values()
            if o["status"] in ("OPEN", "TRIGGER PENDING") and o["transaction_type"] == "BUY"
        )
        live = self.cash - spent
        return {
            "enabled": True,
            "net": live - blocked,
            "available": {
                "adhoc_margin": 0,
                "cash": self.cash,
                "opening_balance": self.cash,
                "live_balance": live,
                "collateral": 0,
                "intraday_payin": 0,
            },
            "utilised": {"debits": blocked, "exposure": 0, "m2m_realised": 0, "span": 0},
        }
