"""Dashboard pages of the optimisation app (server-rendered, htmx for polling and partials)."""

from optimisation.views.robustness import (
    robustness_body,
    robustness_cancel,
    robustness_detail,
    sweep_monte_carlo_view,
    sweep_walk_forward_view,
)
from optimisation.views.sweeps import (
    sweep_backtest,
    sweep_body,
    sweep_cancel_view,
    sweep_detail,
    sweep_heatmap_part,
    sweep_new,
    sweep_results_part,
    sweep_save_params,
)

__all__ = [
    "robustness_body",
    "robustness_cancel",
    "robustness_detail",
    "sweep_backtest",
    "sweep_body",
    "sweep_cancel_view",
    "sweep_detail",
    "sweep_heatmap_part",
    "sweep_monte_carlo_view",
    "sweep_new",
    "sweep_results_part",
    "sweep_save_params",
    "sweep_walk_forward_view",
]
