"""backtesting.py 0.6.6 as the reference for stop-loss, target and trailing exits.

SMA fast * slow crossover, long-only, an entry taken only when flat, exit on the opposite
cross; the stop and target are given to backtesting.py as absolute prices computed from the
next bar's open (the entry's fill price, as our percentages are measured), set on the order
after placing it (its placement check compares them with the signal bar's close). The
trailing stop is backtesting.lib's ``TrailingStrategy`` with its ATR replaced by
``close * pct`` and a multiple of 1, so its stop is ``max(stop, close * (1 - pct))`` at each
close, exactly our rule.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import TrailingStrategy, crossover

from execution.engine.bars import BarSeries


def frame(bars: BarSeries) -> pd.DataFrame:
    return pd.DataFrame(
        {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close,
         "Volume": bars.volume},
        index=pd.to_datetime(np.asarray(bars.ts), unit="s"),
    )  # fmt: skip


def _sma(values, n):
    return pd.Series(values).rolling(n).mean()


def run_reference(
    bars: BarSeries,
    *,
    fast: int = 10,
    slow: int = 20,
    stop_pct: float | None = 2.0,
    target_pct: float | None = 4.0,
    trailing_pct: float | None = None,
    cash: float = 10_000,
    commission: float = 0.002,
    exit_on_cross: bool = True,
):
    """Run the reference strategy; return backtesting.py's stats (trades in ``_trades``).

    ``exit_on_cross=False``: no exit signal, the stop and target alone close each trade.
    """
    opens = np.asarray(bars.open, dtype=float)
    base = TrailingStrategy if trailing_pct is not None else Strategy

    class Reference(base):  # type: ignore[valid-type, misc]
        def init(self):
            super().init()
            if trailing_pct is not None:
                self._TrailingStrategy__atr = np.asarray(self.data.Close) * trailing_pct / 100
                self.set_trailing_sl(1)
            self.sma1 = self.I(_sma, self.data.Close, fast)
            self.sma2 = self.I(_sma, self.data.Close, slow)

        def next(self):
            super().next()
            if crossover(self.sma1, self.sma2) and not self.position:
                i = len(self.data)  # the next bar: the entry fills at its open
                if i >= len(opens):
                    return
                fill = opens[i]
                stops = [p for p in (stop_pct, trailing_pct) if p is not None]
                sl = fill * (1 - min(stops) / 100) if stops else None
                tp = fill * (1 + target_pct / 100) if target_pct is not None else None
                # set after placing: backtesting.py checks sl < price < tp against this
                # close, which a gap to the next open may cross
                self.buy()._replace(sl_price=sl, tp_price=tp)
            elif exit_on_cross and crossover(self.sma2, self.sma1):
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(frame(bars), Reference, cash=cash, commission=commission,
                      finalize_trades=True)  # fmt: skip
        return bt.run()
