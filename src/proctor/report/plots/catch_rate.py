"""The catch-rate plot: catch rate against protocol budget, a panel per (domain, level, backend)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctor.analysis.rows import MetricRow
from proctor.report.plots.kit import (
    LINESTYLES,
    MARKERS,
    figure,
    hide_unused,
    plain,
    save,
    skipped_note,
)
from proctor.report.tables import (
    DASH,
    Scope,
    default_audit_budget,
    disposition_key,
    disposition_label,
    fmt_budget,
    has_value,
    panels,
    protocol_key,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import LineStyleType

__all__ = ["catch_plot_audit_budget", "plot_catch_rate"]


def catch_plot_audit_budget(rows: Sequence[MetricRow]) -> float | None:
    """The audit budget the catch-rate plot uses: the smallest at which some figure has a value.

    Args:
        rows: Metric rows.

    Returns:
        The audit budget, or None when no catch rate has both an audit budget and a value.
    """
    usable = [r for r in rows if r.metric == "catch_rate" and r.budget is not None]
    if not any(has_value(r) and r.audit_budget is not None for r in usable):
        return None
    return default_audit_budget(usable)


def plot_catch_rate(rows: Sequence[MetricRow], path: Path) -> Path | None:
    """Catch rate against protocol budget, one panel per (domain, level, backend).

    Uses the smallest audit budget at which some catch rate has a value (stated in the title),
    and the rows pooled over levels where a domain has them, else one panel per level.

    Args:
        rows: Metric rows (only ``catch_rate`` rows with a protocol budget are used).
        path: PNG file to write.

    Returns:
        `path`, or None when there is nothing to plot.
    """
    budget = catch_plot_audit_budget(rows)
    if budget is None:
        return None
    at_budget = [
        r
        for r in rows
        if r.metric == "catch_rate" and r.budget is not None and r.audit_budget == budget
    ]
    groups = panels(at_budget)
    shown = [r for _, g in groups for r in g if has_value(r)]
    skipped = sum(len(g) for _, g in groups) - len(shown)
    protocols = sorted({r.protocol or "" for r in shown})
    dispositions = sorted({r.disposition for r in shown}, key=disposition_key)

    import matplotlib
    import matplotlib.style

    with matplotlib.style.context("default"):
        palette = matplotlib.colormaps["tab10" if len(protocols) <= 10 else "tab20"]
        looks = _CatchLooks(
            colour={p: palette(i % palette.N) for i, p in enumerate(protocols)},
            style={
                d: (LINESTYLES[i % len(LINESTYLES)], MARKERS[i % len(MARKERS)])
                for i, d in enumerate(dispositions)
            },
        )
        ncols = 1 if len(groups) == 1 else 2
        nrows = math.ceil(len(groups) / ncols)
        fig = figure(6.4 * ncols, 3.8 * nrows + 1.4)
        axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
        for ax, (scope, group) in zip(axes, groups, strict=False):
            _draw_catch_panel(ax, scope, group, looks)
        hide_unused(axes, len(groups))
        _catch_legend(fig, protocols, dispositions, looks)
        fig.suptitle(
            f"Catch rate vs protocol budget, audit budget {fmt_budget(budget)}\n"
            f"(threshold flags {budget * 100:g}% of honest correct calibration reports)"
            + skipped_note(skipped),
            fontsize=10,
        )
        return save(fig, path)


@dataclass(frozen=True)
class _CatchLooks:
    """How the catch-rate plot draws a line: colour per protocol, (line style, marker) per
    disposition."""

    colour: dict[str, Any]
    style: dict[str | None, tuple[LineStyleType, str]]


def _draw_catch_panel(
    ax: Axes, scope: Scope, group: Sequence[MetricRow], looks: _CatchLooks
) -> None:
    """One panel of :func:`plot_catch_rate`: a line per (protocol, disposition) with values,
    spread a little along x so that their intervals do not hide each other."""
    lines = sorted(
        {(r.protocol or "", r.disposition) for r in group if has_value(r)},
        key=lambda pd: (pd[0], disposition_key(pd[1])),
    )
    budgets = sorted({r.budget for r in group if r.budget is not None})
    for i, (protocol, disposition) in enumerate(lines):
        points = sorted(
            (
                r
                for r in group
                if has_value(r) and (r.protocol or "") == protocol and r.disposition == disposition
            ),
            key=lambda r: protocol_key(r.protocol, r.budget),
        )
        spread = 0.0 if len(lines) == 1 else (i / (len(lines) - 1) - 0.5) * 0.24
        xs = [(r.budget or 0.0) * math.exp(spread) for r in points]
        ys = [r.value or 0.0 for r in points]
        low = [
            max(0.0, y - (r.lo if r.lo is not None else y)) for y, r in zip(ys, points, strict=True)
        ]
        high = [
            max(0.0, (r.hi if r.hi is not None else y) - y) for y, r in zip(ys, points, strict=True)
        ]
        linestyle, marker = looks.style[disposition]
        ax.errorbar(
            xs,
            ys,
            yerr=[low, high],
            color=looks.colour[protocol],
            linestyle=linestyle,
            marker=marker,
            markersize=4,
            linewidth=1.2,
            capsize=2.5,
            elinewidth=0.8,
        )
    if not lines:
        ax.text(
            0.5,
            0.5,
            f"{DASH} no values (n too small)",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    if budgets and budgets[0] > 0 and budgets[-1] / budgets[0] >= 3:
        ax.set_xscale("log")
    if budgets:
        ax.set_xticks(budgets, labels=[fmt_budget(b) for b in budgets])
        ax.minorticks_off()
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("protocol budget (fraction of researcher spend)")
    ax.set_ylabel("catch rate (attributable harm)")
    ax.set_title(plain(scope.label), fontsize=9)
    ax.grid(alpha=0.3)


def _catch_legend(
    fig: Figure,
    protocols: Sequence[str],
    dispositions: Sequence[str | None],
    looks: _CatchLooks,
) -> None:
    """The catch-rate plot's legend below the panels: protocols (colour), then dispositions
    (line style and marker)."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=looks.colour[p], linewidth=2, label=plain(p)) for p in protocols
    ]
    handles += [
        Line2D(
            [],
            [],
            color="0.3",
            linestyle=looks.style[d][0],
            marker=looks.style[d][1],
            markersize=4,
            label=plain(disposition_label(d)),
        )
        for d in dispositions
    ]
    if handles:
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(4, len(handles)),
            fontsize=8,
            frameon=False,
        )
