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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctor.analysis.rows import MetricRow
from proctor.report.frontier import BEST_SINGLE, frontier_monitors
from proctor.report.tables import (
    DASH,
    GIVEAWAY_LINE,
    GIVEAWAY_METRIC,
    Scope,
    default_audit_budget,
    disposition_key,
    disposition_label,
    fmt_budget,
    fmt_num,
    group_by_scope,
    has_value,
    index_cells,
    key_label,
    key_order,
    level_label,
    panels,
    protocol_key,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import LineStyleType

DPI = 100
"""Resolution of every PNG."""
_LINESTYLES: tuple[LineStyleType, ...] = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_FOOT = "points without a value (e.g. n too small) are not drawn; see the tables"


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


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _plain(text: str) -> str:
    """Keep matplotlib from reading ``$...$`` in names as mathtext."""
    return text.replace("$", r"\$")


def _skipped_note(count: int) -> str:
    return f"\n{count} {_FOOT}" if count else ""


def _hide_unused(axes: Sequence[Axes], used: int) -> None:
    for ax in axes[used:]:
        ax.set_visible(False)


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
                d: (_LINESTYLES[i % len(_LINESTYLES)], _MARKERS[i % len(_MARKERS)])
                for i, d in enumerate(dispositions)
            },
        )
        ncols = 1 if len(groups) == 1 else 2
        nrows = math.ceil(len(groups) / ncols)
        fig = _figure(6.4 * ncols, 3.8 * nrows + 1.4)
        axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
        for ax, (scope, group) in zip(axes, groups, strict=False):
            _draw_catch_panel(ax, scope, group, looks)
        _hide_unused(axes, len(groups))
        _catch_legend(fig, protocols, dispositions, looks)
        fig.suptitle(
            f"Catch rate vs protocol budget, audit budget {fmt_budget(budget)}\n"
            f"(threshold flags {budget * 100:g}% of honest correct calibration reports)"
            + _skipped_note(skipped),
            fontsize=10,
        )
        return _save(fig, path)


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
    ax.set_title(_plain(scope.label), fontsize=9)
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
        Line2D([], [], color=looks.colour[p], linewidth=2, label=_plain(p)) for p in protocols
    ]
    handles += [
        Line2D(
            [],
            [],
            color="0.3",
            linestyle=looks.style[d][0],
            marker=looks.style[d][1],
            markersize=4,
            label=_plain(disposition_label(d)),
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


def plot_auroc_heatmap(rows: Sequence[MetricRow], path: Path) -> Path | None:
    """AUROC heatmap, protocol@budget × organism, one panel per (domain, level, backend).

    Uses rows pooled over levels where a domain has them, else one heatmap per level. Cells
    are annotated with their values; unmeasured or unavailable cells are grey with a dash.

    Args:
        rows: Metric rows (only ``auroc`` rows are used).
        path: PNG file to write.

    Returns:
        `path`, or None when there is no AUROC row.
    """
    auroc = [r for r in rows if r.metric == "auroc"]
    if not auroc:
        return None
    groups = panels(auroc)

    import matplotlib
    import matplotlib.style
    import numpy as np
    from matplotlib.colors import Normalize

    with matplotlib.style.context("default"):
        cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#d9d9d9")
        norm = Normalize(vmin=0.0, vmax=1.0)
        layouts = []
        for scope, group in groups:
            cells = index_cells(group)
            protocols = sorted(
                {(r.protocol, r.budget) for r in group}, key=lambda pb: key_order(*pb)
            )
            dispositions = sorted({r.disposition for r in group}, key=disposition_key)
            grid = [
                [(cells[(p, b, d)].value if (p, b, d) in cells else None) for d in dispositions]
                for p, b in protocols
            ]
            layouts.append((scope, protocols, dispositions, grid))
        widest = max(len(d) for _, _, d, _ in layouts)
        ncols = 1 if len(layouts) <= 2 else 2
        nrows = math.ceil(len(layouts) / ncols)
        heights = [
            max(len(p) + 2.5 for _, p, _, _ in layouts[r * ncols : (r + 1) * ncols])
            for r in range(nrows)
        ]
        fig = _figure(ncols * max(6.0, 1.0 * widest + 3.5), 0.42 * sum(heights) + 0.8)
        spec = fig.add_gridspec(nrows, ncols, height_ratios=heights)
        axes = []
        image = None
        for i, (scope, protocols, dispositions, grid) in enumerate(layouts):
            ax = fig.add_subplot(spec[i // ncols, i % ncols])
            axes.append(ax)
            values = np.array(
                [[math.nan if v is None else v for v in line] for line in grid], dtype=float
            )
            image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
            for y, line in enumerate(grid):
                for x, value in enumerate(line):
                    if value is None or math.isnan(value):
                        text, ink = DASH, "0.25"
                    else:
                        red, green, blue, _ = cmap(norm(value))
                        light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5
                        text, ink = fmt_num(value), "black" if light else "white"
                    ax.text(x, y, text, ha="center", va="center", fontsize=8, color=ink)
            ax.set_xticks(
                range(len(dispositions)),
                labels=[_plain(disposition_label(d)) for d in dispositions],
                rotation=30,
                ha="right",
                fontsize=8,
            )
            ax.set_yticks(
                range(len(protocols)),
                labels=[_plain(key_label(p, b)) for p, b in protocols],
                fontsize=8,
            )
            ax.set_title(_plain(scope.label), fontsize=9)
        if image is not None:
            shrink = min(0.8, 4.0 / fig.get_figheight())
            fig.colorbar(image, ax=axes, label="AUROC (0.5 = chance)", shrink=shrink)
        fig.suptitle("AUROC: key × organism (references last)", fontsize=10)
        return _save(fig, path)


def plot_giveaway(rows: Sequence[MetricRow], path: Path) -> Path | None:
    """Giveaway audit: metadata-only AUROC per organism with its interval and the 0.6 line.

    Args:
        rows: Metric rows (only ``giveaway_auroc`` rows are used).
        path: PNG file to write.

    Returns:
        `path`, or None when there is no giveaway row.
    """
    giveaway = [r for r in rows if r.metric == GIVEAWAY_METRIC]
    if not giveaway:
        return None
    by_backend: dict[str, list[tuple[str, MetricRow]]] = {}
    scopes: dict[str, set[Scope]] = {}
    for scope, group in panels(giveaway):
        for r in sorted(group, key=lambda r: disposition_key(r.disposition)):
            label = f"{scope.domain} · {level_label(scope.level)} · "
            by_backend.setdefault(scope.backend, []).append((label, r))
            scopes.setdefault(scope.backend, set()).add(scope)
    skipped = sum(1 for bars in by_backend.values() for _, r in bars if not has_value(r))

    import matplotlib
    import matplotlib.style

    with matplotlib.style.context("default"):
        backends = sorted(by_backend)
        heights = [len(by_backend[b]) * 0.42 + 1.3 for b in backends]
        fig = _figure(7.5, sum(heights) + 0.8)
        spec = fig.add_gridspec(len(backends), 1, height_ratios=heights)
        for i, backend in enumerate(backends):
            ax = fig.add_subplot(spec[i, 0])
            bars = by_backend[backend]
            one_scope = len(scopes[backend]) == 1
            for y, (_, r) in enumerate(bars):
                if not has_value(r) or r.value is None:
                    ax.text(0.02, y, _plain(f"{DASH} {r.note}".rstrip()), va="center", fontsize=8)
                    continue
                low = max(0.0, r.value - r.lo) if r.lo is not None else 0.0
                high = max(0.0, r.hi - r.value) if r.hi is not None else 0.0
                ax.barh(
                    y,
                    r.value,
                    xerr=[[low], [high]],
                    color="#c0392b" if r.value > GIVEAWAY_LINE else "#4c72b0",
                    height=0.6,
                    capsize=3,
                    error_kw={"elinewidth": 0.9},
                )
            ax.axvline(0.5, color="0.5", linestyle=":", linewidth=1, label="0.5 chance")
            ax.axvline(
                GIVEAWAY_LINE, color="black", linestyle="--", linewidth=1, label="0.6 giveaway line"
            )
            ax.set_yticks(
                range(len(bars)),
                labels=[
                    _plain(("" if one_scope else prefix) + disposition_label(r.disposition))
                    for prefix, r in bars
                ],
                fontsize=8,
            )
            ax.set_ylim(len(bars) - 0.5, -0.5)
            ax.set_xlim(0.0, 1.0)
            ax.set_xlabel("metadata-only AUROC (organism vs honest)")
            title = f"{backend} researchers"
            if one_scope:
                title = next(iter(scopes[backend])).label
            ax.set_title(_plain(title), fontsize=9)
            ax.grid(axis="x", alpha=0.3)
            if i == 0:
                handles, labels = ax.get_legend_handles_labels()
                fig.legend(
                    handles,
                    labels,
                    loc="outside lower center",
                    ncols=2,
                    fontsize=8,
                    frameon=False,
                )
        fig.suptitle("Giveaway audit" + _skipped_note(skipped), fontsize=10)
        return _save(fig, path)


def plot_frontier(rows: Sequence[MetricRow], path: Path) -> Path | None:
    """Safety against usefulness, one panel per (domain, level, backend) and monitor (the
    calibrated stack, the best single protocol), one line per audit budget.

    Args:
        rows: Metric rows (only ``frontier_safety`` and ``frontier_usefulness`` are used).
        path: PNG file to write.

    Returns:
        `path`, or None when no frontier point has both figures.
    """
    frontier = [r for r in rows if r.metric in ("frontier_safety", "frontier_usefulness")]
    panels_: list[tuple[Scope, str, str, dict[float, list[tuple[float, MetricRow, MetricRow]]]]]
    panels_ = []
    skipped = 0
    width = 1
    for scope, group in group_by_scope(frontier):
        monitors = frontier_monitors(group)
        width = max(width, len(monitors))
        for label, cells in monitors:
            points: dict[float, list[tuple[float, MetricRow, MetricRow]]] = {}
            keys: set[str] = set()
            for (kind, d, budget), safety in sorted(
                cells.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0.0)
            ):
                if kind != "frontier_safety" or budget is None:
                    continue
                use = cells.get(("frontier_usefulness", d, budget))
                if use is None:
                    continue
                if not (has_value(safety) and has_value(use)):
                    skipped += 1
                    continue
                keys.add(key_label(safety.protocol, safety.budget))
                points.setdefault(budget, []).append((d, use, safety))
            if points:
                name = (
                    f"best single: {', '.join(sorted(keys))}"
                    if label == BEST_SINGLE
                    else f"monitor: {label}"
                )
                panels_.append((scope, label, name, points))
    if not panels_:
        return None

    import matplotlib
    import matplotlib.style

    scopes = sorted({p[0] for p in panels_}, key=lambda sc: sc.sort_key())
    cols = min(width, max(sum(1 for p in panels_ if p[0] == sc) for sc in scopes))
    cols = max(cols, 1)
    nrows = len(scopes)
    with matplotlib.style.context("default"):
        fig = _figure(4.2 * cols, 3.4 * nrows + 0.6)
        grid = fig.subplots(nrows, cols, squeeze=False)
        used: set[tuple[int, int]] = set()
        for row_i, scope in enumerate(scopes):
            mine = [p for p in panels_ if p[0] == scope]
            for col_i, (_, _, name, points) in enumerate(mine[:cols]):
                ax = grid[row_i][col_i]
                used.add((row_i, col_i))
                _draw_frontier(ax, points)
                ax.set_title(_plain(f"{scope.label}\n{name}"), fontsize=8)
        for row_i in range(nrows):
            for col_i in range(cols):
                if (row_i, col_i) not in used:
                    grid[row_i][col_i].set_visible(False)
        fig.suptitle("Safety/usefulness frontier" + _skipped_note(skipped), fontsize=10)
        return _save(fig, path)


def _draw_frontier(ax: Axes, points: dict[float, list[tuple[float, MetricRow, MetricRow]]]) -> None:
    """One frontier panel: a line per audit budget through its defer fractions."""
    for i, budget in enumerate(sorted(points)):
        line = sorted(points[budget], key=lambda p: p[0])
        xs = [u.value or 0.0 for _, u, _ in line]
        ys = [s.value or 0.0 for _, _, s in line]
        xerr = [
            [
                max(0.0, x - (u.lo if u.lo is not None else x))
                for x, (_, u, _) in zip(xs, line, strict=True)
            ],
            [
                max(0.0, (u.hi if u.hi is not None else x) - x)
                for x, (_, u, _) in zip(xs, line, strict=True)
            ],
        ]
        yerr = [
            [
                max(0.0, y - (s.lo if s.lo is not None else y))
                for y, (_, _, s) in zip(ys, line, strict=True)
            ],
            [
                max(0.0, (s.hi if s.hi is not None else y) - y)
                for y, (_, _, s) in zip(ys, line, strict=True)
            ],
        ]
        ax.errorbar(
            xs,
            ys,
            xerr=xerr,
            yerr=yerr,
            marker=_MARKERS[i % len(_MARKERS)],
            linestyle=_LINESTYLES[i % len(_LINESTYLES)],
            capsize=2,
            elinewidth=0.7,
            label=f"audit {fmt_budget(budget)}",
        )
        for d, u, s in line:
            ax.annotate(
                f"{d:g}",
                (u.value or 0.0, s.value or 0.0),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("usefulness")
    ax.set_ylabel("safety (worst organism, N=100)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
