"""The trading engine core: plain Python and numpy, shared by backtests and paper trading.

Nothing in this package imports Django or any app's models (ARCHITECTURE §1, §2).
"""
