"""The fake Dhan's books: orders with Dhan's status sequences, trades, positions and funds.

Shapes follow DhanHQ v2's docs (``/orders``, ``/orders/{id}``, ``/orders/external/{id}``,
``/trades``, ``/positions``, ``/fundlimit``): camelCase field names, IST wall-clock times,
the status words (``TRANSIT`` → ``PENDING`` → ``PART_TRADED`` → ``TRADED`` | ``CANCELLED`` |
``REJECTED`` | ``EXPIRED``; a stop order is ``PENDING`` until ``TRIGGERED``), and rejections
with ``omsErrorCode`` / ``omsErrorDescription``. Prices move only when a test calls ``advance``.
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

START = datetime(2026, 12, 7, 9, 15, 0)  # IST wall clock, as Dhan sends it
ORDER_TYPES = ("MARKET", "LIMIT", "STOP_LOSS", "STOP_LOSS_MARKET")
WORKING = ("PENDING", "PART_TRADED", "TRIGGERED")


class DhanError(Exception):
    """An error answer: ``{"errorType": ..., "errorCode": "DH-9xx", "errorMessage": ...}``."""

    def __init__(self, status: int, error_type: str, code: str, message: str):
        super().__init__(message)
        self.status, self.error_type, self.code, self.message = status, error_type, code, message


def input_error(message: str) -> DhanError:
    return DhanError(400, "Input_Exception", "DH-905", message)


@dataclass
class Instrument:
    security_id: str
    segment: str
    trading_symbol: str
    tick: float = 0.05
    lot: int = 1
    last_price: float = 100.0


@dataclass
class Book(BarBook):
    client_id: str
    cash: float = 1_000_000.0
    fill_share: float = 1.0  # share of an order's quantity one bar may fill (<1: partial fills)
    instruments: dict[str, Instrument] = field(default_factory=dict)  # by security id
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    modifications: dict[str, int] = field(default_factory=dict)
    # what /holdings answers (rows as Dhan writes them; a test carries some over)
    holdings: list[dict[str, Any]] = field(default_factory=list)
    clock: datetime = START
    _ids: Any = field(default_factory=lambda: itertools.count(5226120700001))
    _trade_ids: Any = field(default_factory=lambda: itertools.count(70000001))
    on_change: Any = None  # called with each order as it changes (the postbacks' hook)

    def _set(self, order: dict[str, Any], status: str) -> None:
        order["orderStatus"] = status
        order["updateTime"] = self._tick()
        if self.on_change is not None:
            self.on_change(order)

    def get(self, order_id: str) -> dict[str, Any]:
        if order_id not in self.orders:
            raise DhanError(404, "Order_Exception", "DH-906", "Invalid Order Id")
        return self.orders[order_id]

    def by_correlation(self, corr: str) -> dict[str, Any]:
        rows = [o for o in self.orders.values() if o["correlationId"] == corr]
        if not rows:
            raise DhanError(404, "Order_Exception", "DH-906", "Invalid Correlation Id")
        return rows[-1]

    # ------------------------------------------------------------------ orders

    def place(self, p: dict[str, Any]) -> dict[str, Any]:
        """Create an order once its fields parse and run Dhan's acceptance sequence."""
        for name in ("transactionType", "exchangeSegment", "productType", "orderType"):
            if not p.get(name):
                raise input_error(f"Missing required field {name}")
        if p.get("dhanClientId") != self.client_id:
            raise input_error("Invalid dhanClientId")
        if p["orderType"] not in ORDER_TYPES:
            raise input_error("Invalid orderType")
        if p["productType"] not in ("CNC", "INTRADAY", "MARGIN", "MTF", "CO", "BO"):
            raise input_error("Invalid productType")
        if p.get("validity") not in ("DAY", "IOC"):
            raise input_error("Invalid validity")
        corr = p.get("correlationId") or ""
        if len(corr) > 30 or not all(c.isalnum() or c in " _-" for c in corr):
            raise input_error("Invalid correlationId")
        if p["orderType"] in ("LIMIT", "STOP_LOSS") and not p.get("price"):
            raise input_error("Price is required for LIMIT orders")
        if p["orderType"].startswith("STOP_LOSS") and not p.get("triggerPrice"):
            raise input_error("Trigger price is required for stop loss orders")
        inst = self.instruments.get(str(p.get("securityId")))
        order_id = str(next(self._ids))
        now = self._tick()
        order = {
            "dhanClientId": self.client_id,
            "orderId": order_id,
            "correlationId": corr,
            "orderStatus": "TRANSIT",
            "transactionType": p["transactionType"],
            "exchangeSegment": p["exchangeSegment"],
            "productType": p["productType"],
            "orderType": p["orderType"],
            "validity": p["validity"],
            "tradingSymbol": inst.trading_symbol if inst else "",
            "securityId": str(p.get("securityId")),
            "quantity": int(p.get("quantity") or 0),
            "disclosedQuantity": int(p.get("disclosedQuantity") or 0),
            "price": float(p.get("price") or 0),
            "triggerPrice": float(p.get("triggerPrice") or 0),
            "afterMarketOrder": bool(p.get("afterMarketOrder")),
            "boProfitValue": 0,
            "boStopLossValue": 0,
            "legName": "NA",
            "createTime": now,
            "updateTime": now,
            "exchangeTime": "0001-01-01 00:00:00",
            "drvExpiryDate": "0001-01-01 00:00:00",
            "drvOptionType": None,
            "drvStrikePrice": 0.0,
            "omsErrorCode": None,
            "omsErrorDescription": None,
            "algoId": "",
            "remainingQuantity": int(p.get("quantity") or 0),
            "averageTradedPrice": 0,
            "filledQty": 0,
        }
        self.orders[order_id] = order
        reason = self._rms_check(order, inst)
        if reason:
            order["omsErrorCode"], order["omsErrorDescription"] = "RMS", reason
            order["remainingQuantity"] = 0
            self._set(order, "REJECTED")
        else:
            order["exchangeTime"] = now
            self._set(order, "PENDING")
        return order

    def _rms_check(self, o: dict[str, Any], inst: Instrument | None) -> str:
        if inst is None or inst.segment != o["exchangeSegment"]:
            return "Invalid securityId for this exchange segment"
        if o["quantity"] <= 0 or o["quantity"] % inst.lot:
            return f"Quantity should be in multiples of lot size {inst.lot}"
        for name in ("price", "triggerPrice"):
            if off_tick(o[name], inst.tick):
                return f"{name} is not a multiple of tick size {inst.tick:.2f}"
        value = o["quantity"] * (o["price"] or inst.last_price)
        if o["transactionType"] == "BUY" and value > self.funds()["availabelBalance"]:
            return "Insufficient Funds: margin required exceeds available balance"
        return ""

    def modify(self, order_id: str, p: dict[str, Any]) -> dict[str, Any]:
        o = self.get(order_id)
        if o["orderStatus"] not in WORKING:
            raise DhanError(
                400, "Order_Exception", "DH-906", f"Order is {o['orderStatus']}, cannot modify"
            )
        if self.modifications.get(order_id, 0) >= 25:
            raise DhanError(400, "Order_Exception", "DH-906", "Maximum modifications reached")
        self.modifications[order_id] = self.modifications.get(order_id, 0) + 1
        if p.get("quantity"):
            o["quantity"] = int(p["quantity"])
            o["remainingQuantity"] = o["quantity"] - o["filledQty"]
        for name in ("price", "triggerPrice"):
            if p.get(name):
                o[name] = float(p[name])
        o["updateTime"] = self._tick()
        return o

    def cancel(self, order_id: str) -> dict[str, Any]:
        o = self.get(order_id)
        if o["orderStatus"] not in WORKING:
            raise DhanError(
                400, "Order_Exception", "DH-906", f"Order is {o['orderStatus']}, cannot cancel"
            )
        o["remainingQuantity"] = 0
        self._set(o, "CANCELLED")
        return o

    # ------------------------------------------------------------------ market

    def _working(self, order: dict[str, Any]) -> bool:
        return order["orderStatus"] in WORKING

    def _match(self, order: dict[str, Any], o: float, h: float, lo: float) -> None:
        buy = order["transactionType"] == "BUY"
        kind = order["orderType"]
        if kind.startswith("STOP_LOSS"):
            if order["orderStatus"] == "PENDING":
                start = triggered_open(buy, order["triggerPrice"], o, h, lo)
                if start is None:
                    return
                self._set(order, "TRIGGERED")
                o = start
            kind = "MARKET" if kind == "STOP_LOSS_MARKET" else "LIMIT"
        price = bar_price(buy, order["price"] if kind == "LIMIT" else None, o, h, lo)
        if price is not None:
            qty = bar_quantity(order["quantity"], order["remainingQuantity"], self.fill_share)
            self._fill(order, qty, price)
        if order["validity"] == "IOC" and order["remainingQuantity"]:
            order["remainingQuantity"] = 0
            self._set(order, "CANCELLED")

    def _fill(self, order: dict[str, Any], qty: int, price: float) -> None:
        done = order["filledQty"]
        order["averageTradedPrice"] = averaged(order["averageTradedPrice"], done, price, qty)
        order["filledQty"] = done + qty
        order["remainingQuantity"] -= qty
        ts = self._tick()
        self.trades.append(
            {
                "dhanClientId": self.client_id,
                "orderId": order["orderId"],
                "exchangeOrderId": f"1100{order['orderId'][-8:]}",
                "exchangeTradeId": str(next(self._trade_ids)),
                "transactionType": order["transactionType"],
                "exchangeSegment": order["exchangeSegment"],
                "productType": order["productType"],
                "orderType": order["orderType"],
                "tradingSymbol": order["tradingSymbol"],
                "securityId": order["securityId"],
                "tradedQuantity": qty,
                "tradedPrice": price,
                "createTime": ts,
                "updateTime": ts,
                "exchangeTime": ts,
            }
        )
        self._set(order, "TRADED" if order["remainingQuantity"] == 0 else "PART_TRADED")

    # ------------------------------------------------------------------ portfolio

    def positions(self) -> list[dict[str, Any]]:
        net: dict[tuple[str, str], dict[str, Any]] = {}
        for t in self.trades:
            key = (t["securityId"], t["productType"])
            row = net.setdefault(
                key,
                {
                    "dhanClientId": self.client_id,
                    "tradingSymbol": t["tradingSymbol"],
                    "securityId": t["securityId"],
                    "exchangeSegment": t["exchangeSegment"],
                    "productType": t["productType"],
                    "buyQty": 0,
                    "buyValue": 0.0,
                    "sellQty": 0,
                    "sellValue": 0.0,
                },
            )
            side = "buy" if t["transactionType"] == "BUY" else "sell"
            row[f"{side}Qty"] += t["tradedQuantity"]
            row[f"{side}Value"] += t["tradedQuantity"] * t["tradedPrice"]
        rows = []
        for row in net.values():
            last = self.instruments[row["securityId"]].last_price
            qty = row["buyQty"] - row["sellQty"]
            buy_avg = row["buyValue"] / row["buyQty"] if row["buyQty"] else 0.0
            sell_avg = row["sellValue"] / row["sellQty"] if row["sellQty"] else 0.0
            avg = buy_avg if qty > 0 else sell_avg if qty < 0 else 0.0
            row.update(
                positionType="LONG" if qty > 0 else "SHORT" if qty < 0 else "CLOSED",
                buyAvg=buy_avg,
                sellAvg=sell_avg,
                netQty=qty,
                costPrice=avg,
                lastTradedPrice=last,
                realizedProfit=(sell_avg - buy_avg) * min(row["buyQty"], row["sellQty"]),
                unrealizedProfit=(last - avg) * qty,
                rbiReferenceRate=1.0,
                multiplier=1,
                carryForwardBuyQty=0,
                carryForwardSellQty=0,
                dayBuyQty=row["buyQty"],
                daySellQty=row["sellQty"],
            )
            del row["buyValue"], row["sellValue"]
            rows.append(row)
        return copy.deepcopy(rows)

    def new_day(self) -> None:
        """The next trading day: today's CNC net joins the holdings (``totalQty``), the day's
        orders, trades and positions are gone (intraday was squared off), cash settles."""
        moved = [r for r in self.positions() if r["productType"] == "CNC" and r["netQty"]]
        self.cash -= sum(
            (1 if t["transactionType"] == "BUY" else -1) * t["tradedQuantity"] * t["tradedPrice"]
            for t in self.trades
        )
        held = {h["securityId"]: h for h in self.holdings}
        for row in moved:
            h = held.get(row["securityId"])
            if h is None:
                h = held[row["securityId"]] = {
                    "exchange": "ALL", "tradingSymbol": row["tradingSymbol"],
                    "securityId": row["securityId"], "totalQty": 0, "availableQty": 0,
                    "avgCostPrice": row["costPrice"], "lastTradedPrice": row["lastTradedPrice"],
                }  # fmt: skip
                self.holdings.append(h)
            h["totalQty"] += row["netQty"]
            h["availableQty"] += row["netQty"]
        self.holdings[:] = [h for h in self.holdings if h["totalQty"]]
        self.trades.clear()
        self.orders.clear()

    def funds(self) -> dict[str, Any]:
        spent = sum(
            (1 if t["transactionType"] == "BUY" else -1) * t["tradedQuantity"] * t["tradedPrice"]
            for t in self.trades
        )
        blocked = sum(
            o["remainingQuantity"] * (o["price"] or o["triggerPrice"])
            for o in self.orders.values()
            if o["orderStatus"] in WORKING and o["transactionType"] == "BUY"
        )
        return {
            "dhanClientId": self.client_id,
            "availabelBalance": self.cash - spent - blocked,  # sic: Dhan's spelling
            "sodLimit": self.cash,
            "collateralAmount": 0.0,
            "receiveableAmount": 0.0,
            "utilizedAmount": blocked,
            "blockedPayoutAmount": 0.0,
            "withdrawableBalance": self.cash - spent - blocked,
        }
