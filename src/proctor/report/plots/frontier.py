"""The safety/usefulness frontier's plot: one panel per (domain, level, backend) and monitor."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from proctor.analysis.rows import MetricRow
from proctor.report.frontier import BEST_SINGLE, frontier_monitors
from proctor.report.plots.kit import LINESTYLES, MARKERS, figure, plain, save, skipped_note
from proctor.report.tables import (
    Scope,
    fmt_budget,
    group_by_scope,
    has_value,
    key_label,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_frontier"]


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
        fig = figure(4.2 * cols, 3.4 * nrows + 0.6)
        grid = fig.subplots(nrows, cols, squeeze=False)
        used: set[tuple[int, int]] = set()
        for row_i, scope in enumerate(scopes):
            mine = [p for p in panels_ if p[0] == scope]
            for col_i, (_, _, name, points) in enumerate(mine[:cols]):
                ax = grid[row_i][col_i]
                used.add((row_i, col_i))
                _draw_frontier(ax, points)
                ax.set_title(plain(f"{scope.label}\n{name}"), fontsize=8)
        for row_i in range(nrows):
            for col_i in range(cols):
                if (row_i, col_i) not in used:
                    grid[row_i][col_i].set_visible(False)
        fig.suptitle("Safety/usefulness frontier" + skipped_note(skipped), fontsize=10)
        return save(fig, path)


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
            marker=MARKERS[i % len(MARKERS)],
            linestyle=LINESTYLES[i % len(LINESTYLES)],
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
