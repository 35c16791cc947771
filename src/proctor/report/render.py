"""HTML and Markdown for one bench run (figures as defined in DESIGN.md §4).

The tables come from :func:`proctor.report.sections.build_sections`. Sections follow the
measurement frame of :mod:`proctor.analysis.frame`, in reading order: the run, the trust map,
the oracle ceiling (the known-answer reference rows beside the chosen key), coverage by failure
mode, the safety/usefulness frontier, then the per-key tables (scheming catch, evaluation,
AUROC, what the stacks combine), the researchers' claims, the giveaway audit and worst-case
status, transfer, cost, model use and anything else.

Everything here is a pure function of its inputs: the same rows, trust map, title and meta give
byte-identical files (no clocks, no hostnames, no random state). Plots come from
`proctor.report.plots`, which is imported lazily so that `pivot` does not pull in matplotlib.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from proctor.analysis.rows import MetricRow
from proctor.report.captions import CAPTIONS
from proctor.report.cells import Section
from proctor.report.sections import build_sections

__all__ = [
    "PlotView",
    "ReportPaths",
    "format_meta",
    "markdown_table",
    "render_html",
    "render_markdown",
    "render_report",
]


@dataclass(frozen=True)
class PlotView:
    """One plot as the report shows it."""

    title: str
    caption: str
    filename: str
    data_uri: str


@dataclass(frozen=True)
class ReportPaths:
    """Where `render_report` wrote its files."""

    html: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)


def format_meta(value: Any) -> str:
    """Format a meta value for display: lists joined by commas, mappings as sorted JSON.

    Args:
        value: Any value from the run's meta.

    Returns:
        Its display text.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ", ".join(format_meta(v) for v in items)
    return str(value)


def _md_escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table.

    Args:
        header: Column names.
        rows: Body rows of strings.

    Returns:
        The table, lines joined by newlines, without a trailing newline.
    """
    lines = [
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(
    title: str,
    meta: Mapping[str, Any],
    sections: Sequence[Section],
    plots: Sequence[PlotView],
) -> str:
    """The Markdown summary: the same tables as the HTML report.

    Args:
        title: Report title.
        meta: Run facts (command, seeds, config hash...), shown in the given order.
        sections: Table sections from `build_sections`.
        plots: Plots written next to the summary (linked relatively).

    Returns:
        The Markdown text, ending with a newline.
    """
    parts = [f"# {_md_escape(title)}", "## What this run is", CAPTIONS["run"]]
    if meta:
        parts.append(
            markdown_table(["item", "value"], [[str(k), format_meta(v)] for k, v in meta.items()])
        )
    for section in sections:
        parts += [f"## {section.heading}", section.caption]
        if not section.tables:
            parts.append(f"_{section.empty}_")
        for table in section.tables:
            if table.title:
                parts.append(f"### {_md_escape(table.title)}")
            parts.append(markdown_table(table.header, table.rows))
    if plots:
        parts.append("## Plots")
        for plot in plots:
            parts += [f"### {plot.title}", f"![{plot.title}](plots/{plot.filename})", plot.caption]
    return "\n\n".join(parts) + "\n"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("proctor.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(
    title: str,
    meta: Mapping[str, Any],
    sections: Sequence[Section],
    plots: Sequence[PlotView],
) -> str:
    """The self-contained HTML report (inline CSS, plots as data URIs, no external assets).

    Args:
        title: Report title.
        meta: Run facts, shown in the given order.
        sections: Table sections from `build_sections`.
        plots: Plots with their data URIs.

    Returns:
        The HTML text.
    """
    template = _environment().get_template("report.html")
    return template.render(
        title=title,
        run_caption=CAPTIONS["run"],
        meta=[(str(k), format_meta(v)) for k, v in meta.items()],
        sections=sections,
        plots=plots,
    )


def render_report(
    rows: Sequence[MetricRow],
    trust: Sequence[Mapping[str, Any]],
    out_dir: Path,
    title: str,
    meta: Mapping[str, Any],
) -> ReportPaths:
    """Write ``report.html``, ``summary.md`` and ``plots/*.png`` for one run into `out_dir`.

    The output is a pure function of the arguments: rendering the same inputs twice gives
    byte-identical files. Plots without data are skipped (and any stale file of that name
    from an earlier render is removed).

    Args:
        rows: Metric rows of the run (``summary.json``).
        trust: Trust-map rows as mappings (pydantic models are accepted too).
        out_dir: Directory to write into; created if missing.
        title: Report title.
        meta: Run facts to show first (command, seeds, config hash...), in the given order.

    Returns:
        Paths of the files written.

    Raises:
        ValueError: If two rows claim the same table cell.
    """
    from proctor.report import plots as plotting

    out_dir = Path(out_dir)
    plots_dir = out_dir / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = build_sections(rows, trust)

    written: list[Path] = []
    views: list[PlotView] = []
    for spec in plotting.plot_specs(rows):
        target = plots_dir / spec.filename
        path = spec.draw(rows, target)
        if path is None:
            target.unlink(missing_ok=True)
            continue
        written.append(path)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        views.append(
            PlotView(spec.title, spec.caption, spec.filename, f"data:image/png;base64,{data}")
        )

    html_path = out_dir / "report.html"
    md_path = out_dir / "summary.md"
    html_path.write_text(render_html(title, meta, sections, views), encoding="utf-8", newline="\n")
    md_path.write_text(
        render_markdown(title, meta, sections, views), encoding="utf-8", newline="\n"
    )
    return ReportPaths(html=html_path, markdown=md_path, plots=written)
