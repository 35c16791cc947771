"""What every plot of the report is drawn with: the figure, its PNG, line styles, markers, text.

matplotlib is imported lazily and only through its object-oriented API; a saved PNG carries no
``Software`` metadata, so the same rows give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import LineStyleType

__all__ = [
    "DPI",
    "FOOT",
    "LINESTYLES",
    "MARKERS",
    "figure",
    "hide_unused",
    "plain",
    "save",
    "skipped_note",
]

DPI = 100
"""Resolution of every PNG."""
LINESTYLES: tuple[LineStyleType, ...] = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
FOOT = "points without a value (e.g. n too small) are not drawn; see the tables"


def figure(width: float, height: float) -> Figure:
    """A constrained-layout figure at :data:`DPI`, `width` × `height` inches."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save(fig: Figure, path: Path) -> Path:
    """Write `fig` to `path` as a PNG without ``Software`` metadata; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def plain(text: str) -> str:
    """Keep matplotlib from reading ``$...$`` in names as mathtext."""
    return text.replace("$", r"\$")


def skipped_note(count: int) -> str:
    """A title's last line saying how many points were left out (empty for none)."""
    return f"\n{count} {FOOT}" if count else ""


def hide_unused(axes: Sequence[Axes], used: int) -> None:
    """Hide the panels past the first `used`."""
    for ax in axes[used:]:
        ax.set_visible(False)
