"""Writes of the execution app, one module per area (market data, backtests, orders, live)."""
