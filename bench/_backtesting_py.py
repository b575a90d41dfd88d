"""Run backtesting.py's SmaCross on bars saved by bench/backtest.py; print JSON timings.

Runs inside a separate virtualenv with ``backtesting`` installed (bench/requirements.txt); it
never imports the project.
"""

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover


def sma(values, n):
    return pd.Series(values).rolling(n).mean()


def main() -> None:
    path, fast, slow, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    commission = float(sys.argv[5]) / 100
    d = np.load(path)
    df = pd.DataFrame(
        {"Open": d["o"], "High": d["h"], "Low": d["lo"], "Close": d["c"], "Volume": d["v"]},
        index=pd.to_datetime(d["ts"], unit="s"),
    )

    class SmaCross(Strategy):
        def init(self):
            self.sma1 = self.I(sma, self.data.Close, fast)
            self.sma2 = self.I(sma, self.data.Close, slow)

        def next(self):
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                if mode == "long_short":
                    self.sell()

    warnings.simplefilter("ignore")
    bt = Backtest(df, SmaCross, cash=1e9, commission=commission, finalize_trades=True)
    t = time.perf_counter()
    stats = bt.run()
    seconds = time.perf_counter() - t
    print(json.dumps({"bars": len(df), "seconds": seconds, "trades": int(stats["# Trades"])}))


if __name__ == "__main__":
    main()
