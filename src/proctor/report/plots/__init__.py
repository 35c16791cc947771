"""PNG plots of a bench run: catch rate vs budget, AUROC heatmap, frontier, giveaway audit.

matplotlib is imported lazily, inside the functions, and only through its object-oriented API
(`matplotlib.figure.Figure`, rendered by the Agg canvas on save): no pyplot, no GUI backend and
no change to the caller's global backend. Output is deterministic: the default style is applied
whatever the user's matplotlibrc says, figures carry no timestamps, and the PNG ``Software``
metadata is dropped, so the same rows give the same bytes.

Rows without a value (e.g. "n too small") are never plotted as numbers; each plot says how many
it left out. A plot with no data at all is skipped: its function returns None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from proctor.analysis.rows import MetricRow
from proctor.report.plots.auroc import plot_auroc_heatmap
from proctor.report.plots.catch_rate import catch_plot_audit_budget, plot_catch_rate
from proctor.report.plots.frontier import plot_frontier
from proctor.report.plots.giveaway import plot_giveaway
from proctor.report.tables import fmt_budget

__all__ = [
    "PlotSpec",
    "catch_plot_audit_budget",
    "plot_auroc_heatmap",
    "plot_catch_rate",
    "plot_frontier",
    "plot_giveaway",
    "plot_specs",
]


@dataclass(frozen=True)
class PlotSpec:
    """One plot the report can show."""

    filename: str
    title: str
    caption: str
    draw: Callable[[Sequence[MetricRow], Path], Path | None]


def plot_specs(rows: Sequence[MetricRow]) -> list[PlotSpec]:
    """The plots of the report, in display order, with captions that fit these rows.

    Args:
        rows: Metric rows of the run.

    Returns:
        One spec per plot; each spec's `draw` may still return None when there is no data.
    """
    budget = catch_plot_audit_budget(rows)
    at = "" if budget is None else f" at audit budget {fmt_budget(budget)}"
    return [
        PlotSpec(
            "catch_rate.png",
            "Catch rate vs protocol budget",
            f"Catch rate of attributable harm{at} (the smallest audit budget with a figure) "
            "against protocol budget, one line per protocol (colour) and organism (line "
            "style), with exact 95% intervals. Stacks and reference rows have no protocol "
            "budget; they are in the catch tables. Lines rising to the right mean spending "
            "more on oversight catches more.",
            plot_catch_rate,
        ),
        PlotSpec(
            "auroc_heatmap.png",
            "AUROC heatmap",
            "Scheming AUROC of each key (rows: protocol@budget, then the stacks, then the "
            "oracle and constant reference rows) against each organism (columns). Green is "
            "good separation, yellow is chance (0.5), red is worse than chance; grey was not "
            "measured.",
            plot_auroc_heatmap,
        ),
        PlotSpec(
            "frontier.png",
            "Safety/usefulness frontier",
            "Safety over a 100-task deployment against the worst organism that counts (y) and "
            "usefulness (x), one row of panels per domain and level and one panel per monitor "
            "(the calibrated stack, the best single protocol), one line per audit budget; "
            "points along a line are defer fractions (labelled; 0 is trusted monitoring "
            "alone), with 95% bootstrap intervals. Up and right is better.",
            plot_frontier,
        ),
        PlotSpec(
            "giveaway.png",
            "Giveaway audit",
            "AUROC of a metadata-only classifier per organism, with 95% intervals. Bars right "
            "of the dashed 0.6 line mark organisms with a giveaway.",
            plot_giveaway,
        ),
    ]
