"""The giveaway audit's plot: metadata-only AUROC per organism with the 0.6 line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from proctor.analysis.rows import MetricRow
from proctor.report.plots.kit import figure, plain, save, skipped_note
from proctor.report.tables import (
    DASH,
    GIVEAWAY_LINE,
    GIVEAWAY_METRIC,
    Scope,
    disposition_key,
    disposition_label,
    has_value,
    level_label,
    panels,
)

__all__ = ["plot_giveaway"]


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
        fig = figure(7.5, sum(heights) + 0.8)
        spec = fig.add_gridspec(len(backends), 1, height_ratios=heights)
        for i, backend in enumerate(backends):
            ax = fig.add_subplot(spec[i, 0])
            bars = by_backend[backend]
            one_scope = len(scopes[backend]) == 1
            for y, (_, r) in enumerate(bars):
                if not has_value(r) or r.value is None:
                    ax.text(0.02, y, plain(f"{DASH} {r.note}".rstrip()), va="center", fontsize=8)
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
                    plain(("" if one_scope else prefix) + disposition_label(r.disposition))
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
            ax.set_title(plain(title), fontsize=9)
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
        fig.suptitle("Giveaway audit" + skipped_note(skipped), fontsize=10)
        return save(fig, path)
