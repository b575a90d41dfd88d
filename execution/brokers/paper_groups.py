"""Order groups of the paper broker: bracket legs that cancel each other (one-cancels-other).

The contract (``BrokerAdapter``, "Order groups"): orders sharing a non-empty ``group`` protect
one position. When one of them fills, even in part, its siblings are cancelled; when the
position in the symbol is closed by any other order (an exit signal's market leg, a square-off,
a manual order), every working grouped order of that symbol is cancelled, as a broker's bracket
order cancels its legs when the position is exited; when it is only reduced, legs larger than
what is left are cut down to it. So grouped legs never sell (or buy back) more than the
position, and the CNC holdings check does not count them against another sell. A mixin of
``PaperBroker``, called after each fill (``Matching._fill_up_to``).
"""

from __future__ import annotations

from collections.abc import Callable

from execution.brokers.paper_book import _CANCEL, _MODIFY, _Order
from execution.engine.ledger import Ledger


class OrderGroups:
    """One-cancels-other and cancel-on-flat for grouped orders (``OrderRequest.group``)."""

    account: Ledger
    _working: dict[str, _Order]
    _finish: Callable[[_Order, str, int, str], None]
    _apply: Callable[[_Order, str, int, str], None]

    def _settle_groups(self, o: _Order, ts: int) -> None:
        """After a fill of ``o``: cancel its siblings, or every grouped leg once flat."""
        group = o.group
        pos = self.account.qty(o.symbol)
        for w in list(self._working.values()):
            if w is o or not w.group or w.symbol != o.symbol:
                continue
            if w.group == group:
                self._finish(w, _CANCEL, ts, f"one-cancels-other: {o.cid} filled")
            elif pos == 0:
                self._finish(w, _CANCEL, ts, "position closed")
            elif (w.side == "SELL") == (pos > 0) and w.qty - w.filled > abs(pos):
                w.qty = w.filled + abs(pos)
                self._apply(w, _MODIFY, ts, f"cut to the position of {abs(pos)}")
