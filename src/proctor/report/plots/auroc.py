"""The AUROC heatmap: key × organism, one panel per (domain, level, backend)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from proctor.analysis.rows import MetricRow
from proctor.report.plots.kit import figure, plain, save
from proctor.report.tables import (
    DASH,
    disposition_key,
    disposition_label,
    fmt_num,
    index_cells,
    key_label,
    key_order,
    panels,
)

__all__ = ["plot_auroc_heatmap"]


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
        fig = figure(ncols * max(6.0, 1.0 * widest + 3.5), 0.42 * sum(heights) + 0.8)
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
                labels=[plain(disposition_label(d)) for d in dispositions],
                rotation=30,
                ha="right",
                fontsize=8,
            )
            ax.set_yticks(
                range(len(protocols)),
                labels=[plain(key_label(p, b)) for p, b in protocols],
                fontsize=8,
            )
            ax.set_title(plain(scope.label), fontsize=9)
        if image is not None:
            shrink = min(0.8, 4.0 / fig.get_figheight())
            fig.colorbar(image, ax=axes, label="AUROC (0.5 = chance)", shrink=shrink)
        fig.suptitle("AUROC: key × organism (references last)", fontsize=10)
        return save(fig, path)
