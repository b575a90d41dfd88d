"""Dashboard pages for trading: overview, backtests, deployments (live runs) and orders.

One module per page. Views parse, call one service and render, as ``strategies.views`` does.
Every object is fetched through a user-scoped selector (a stranger's backtest, deployment or
order is a 404), and every state change goes through the service the API calls:
``backtest_request``, ``order_place``, ``order_cancel`` and ``strategy_stop``. A refusal is the
service's own ``DomainError``, shown as a toast (and inline on the form when it names fields).

Live updates are htmx polling; each partial drops its ``hx-trigger`` once there is nothing left
to wait for, so polling stops after one final refresh.
"""

from execution.views.backtests import (
    backtest_detail,
    backtest_estimate,
    backtest_list,
    backtest_new,
    backtest_progress,
    backtest_trades_export,
    format_stat,
    stats_rows,
)
from execution.views.deployment_chart import deployment_chart_data
from execution.views.deployments import (
    deployment_detail,
    deployment_equity,
    deployment_list,
    deployment_live,
    deployment_order_place,
    deployment_stop,
    order_cancel_view,
)
from execution.views.orders import order_export, order_list
from execution.views.overview import overview

__all__ = [
    "backtest_detail",
    "backtest_estimate",
    "backtest_list",
    "backtest_new",
    "backtest_progress",
    "backtest_trades_export",
    "deployment_chart_data",
    "deployment_detail",
    "deployment_equity",
    "deployment_list",
    "deployment_live",
    "deployment_order_place",
    "deployment_stop",
    "format_stat",
    "order_cancel_view",
    "order_export",
    "order_list",
    "overview",
    "stats_rows",
]
