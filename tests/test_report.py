"""Tests of the run report: HTML, Markdown summary, plots and the CLI pivot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proctor.bench.records import MetricRow
from proctor.report import ReportPaths, audit_budgets, pivot, render_report
from proctor.report.plots import plot_auroc_heatmap, plot_catch_rate, plot_giveaway

DISPOSITIONS = ("sycophant", "saboteur:misread", "<script>")  # display order (DESIGN.md §1)
PROTOCOLS = ("direct", "debate")
BUDGETS = (0.1, 0.5)
SECTIONS = (
    "What this run is",
    "Trust map",
    "AUROC",
    "Catch rate",
    "Claim quality",
    "Giveaway audit",
    "Cost",
    "Plots",
)


def _row(metric: str, value: float | None, **kw: Any) -> MetricRow:
    base: dict[str, Any] = {
        "domain": "causal",
        "evaluability": "normal_science",
        "level": None,
        "protocol": None,
        "budget": None,
        "disposition": None,
        "lo": None if value is None else value - 0.1,
        "hi": None if value is None else value + 0.1,
        "n": 40,
        "backend": "scripted",
    }
    base.update(kw)
    return MetricRow(metric=metric, value=value, **base)


def _rows() -> list[MetricRow]:
    rows: list[MetricRow] = []
    for i, protocol in enumerate(PROTOCOLS):
        for j, budget in enumerate(BUDGETS):
            common = {"protocol": protocol, "budget": budget}
            rows.append(_row("cost_fraction", budget * 0.9, **common))
            for k, disposition in enumerate(DISPOSITIONS):
                value = 0.55 + 0.1 * i + 0.1 * j + 0.05 * k
                rows.append(_row("auroc", value, disposition=disposition, **common))
                rows.append(
                    _row(
                        "catch_rate",
                        value - 0.3,
                        disposition=disposition,
                        audit_budget=0.1,
                        **common,
                    )
                )
                rows.append(
                    _row(
                        "catch_rate",
                        None,
                        disposition=disposition,
                        audit_budget=0.01,
                        note="n too small (needs 1000 honest calibration episodes, has 60)",
                        n=12,
                        **common,
                    )
                )
    for k, disposition in enumerate(("honest", *DISPOSITIONS)):
        rows.append(_row("interval_score", 1.5 + k, disposition=disposition))
        rows.append(_row("brier", 0.1 * (k + 1), disposition=disposition))
        rows.append(_row("recovered", 0.9 - 0.1 * k, disposition=disposition))
    rows.append(_row("giveaway_auroc", 0.52, disposition="saboteur:misread"))
    rows.append(_row("giveaway_auroc", 0.81, disposition="sycophant", note="has a giveaway"))
    rows.append(_row("abstention", 0.2, protocol="debate", budget=0.1, disposition="sycophant"))
    return rows


def _trust() -> list[dict[str, Any]]:
    return [
        {
            "backend": "scripted",
            "evaluability": "normal_science",
            "domain": "causal",
            "protocol": "debate@0.5",
            "catch_rate": 0.6,
            "catch_lo": 0.45,
            "catch_hi": 0.72,
            "worst_auroc": 0.62,
            "cost_fraction": 0.45,
            "n": 40,
            "recommendation": "automate_with_audit",
            "note": "",
        }
    ]


META = {"command": "proctor bench --quick", "seeds": [0, 1, 2], "config hash": "abc123"}


def _render(out: Path) -> ReportPaths:
    return render_report(_rows(), _trust(), out, "Quick bench", META)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    return _render(tmp_path_factory.mktemp("report"))


def test_files_exist(rendered: ReportPaths) -> None:
    assert rendered.html.name == "report.html" and rendered.html.is_file()
    assert rendered.markdown.name == "summary.md" and rendered.markdown.is_file()
    assert {p.name for p in rendered.plots} == {
        "catch_rate.png",
        "auroc_heatmap.png",
        "giveaway.png",
    }
    for plot in rendered.plots:
        assert plot.parent == rendered.html.parent / "plots"
        assert plot.read_bytes().startswith(b"\x89PNG")


def test_html_content(rendered: ReportPaths) -> None:
    html = rendered.html.read_text(encoding="utf-8")
    positions = [html.index(f">{heading}</h2>") for heading in SECTIONS]
    assert positions == sorted(positions), "sections out of order"
    for disposition in ("saboteur:misread", "sycophant", "honest"):
        assert disposition in html
    assert html.count('<img src="data:image/png;base64,') == 3
    assert "n too small" in html
    assert "http://" not in html and "https://" not in html
    assert "Quick bench" in html and "proctor bench --quick" in html and "0, 1, 2" in html
    assert "has a giveaway" in html and "no giveaway found" in html
    assert "automate with audit" in html
    assert "debate@0.1" in html and "0.65 [0.55, 0.75] n=40" in html
    assert "abstention" in html  # rows that fit no named table still appear


def test_html_autoescape(rendered: ReportPaths) -> None:
    html = rendered.html.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_markdown(rendered: ReportPaths) -> None:
    md = rendered.markdown.read_text(encoding="utf-8")
    for heading in ("## Trust map", "## AUROC", "## Catch rate", "## Giveaway audit"):
        assert heading in md
    assert "| protocol@budget | sycophant | saboteur:misread | &lt;script&gt; |" in md
    assert "n too small" in md
    assert "### Audit budget 0.01" in md and "### Audit budget 0.1" in md
    assert "(plots/catch_rate.png)" in md


def test_deterministic(tmp_path: Path, rendered: ReportPaths) -> None:
    again = _render(tmp_path / "again")
    assert again.markdown.read_bytes() == rendered.markdown.read_bytes()
    assert again.html.read_bytes() == rendered.html.read_bytes()
    for first, second in zip(rendered.plots, again.plots, strict=True):
        assert first.read_bytes() == second.read_bytes()


def test_pivot() -> None:
    header, body = pivot(_rows(), "auroc")
    assert header == ["domain", "level", "backend", "protocol@budget", *DISPOSITIONS]
    assert [line[3] for line in body] == ["debate@0.1", "debate@0.5", "direct@0.1", "direct@0.5"]
    assert body[2][4] == "0.55 [0.45, 0.65] n=40"
    # Catch rates default to the smallest audit budget that has a figure.
    assert audit_budgets(_rows()) == [0.01, 0.1]
    _, catch = pivot(_rows(), "catch_rate")
    assert catch[2][4] == "0.25 [0.15, 0.35] n=40"
    _, small = pivot(_rows(), "catch_rate", audit_budget=0.01)
    assert small[0][4].startswith("— (n too small")


def test_duplicate_cells_raise(tmp_path: Path) -> None:
    rows = _rows()
    with pytest.raises(ValueError, match="two 'auroc' rows"):
        render_report([*rows, rows[1]], [], tmp_path, "dup", {})


def test_plots_skip_without_data(tmp_path: Path) -> None:
    row = _row(
        "catch_rate", None, protocol="direct", budget=0.1, audit_budget=0.05, note="n too small"
    )
    only_none = [row]
    assert plot_catch_rate(only_none, tmp_path / "c.png") is None
    assert plot_auroc_heatmap(only_none, tmp_path / "a.png") is None
    assert plot_giveaway(only_none, tmp_path / "g.png") is None
    paths = render_report(only_none, [], tmp_path / "r", "empty", {})
    assert paths.plots == []
    html = paths.html.read_text(encoding="utf-8")
    assert "No plots" in html and "n too small" in html


def test_plot_labels_are_not_mathtext(tmp_path: Path) -> None:
    odd = r"rogue:$\nope{$"
    rows = [_row("auroc", 0.7, protocol="direct", budget=0.1, disposition=odd)]
    path = plot_auroc_heatmap(rows, tmp_path / "a.png")
    assert path is not None and path.read_bytes().startswith(b"\x89PNG")


def test_trust_map_shows_the_trust_rows_figures(tmp_path: Path) -> None:
    from proctor.bench.summary import TrustRow

    row = TrustRow(
        backend="scripted",
        evaluability="normal_science",
        domain="causal",
        audit_budget=0.02,
        protocol="replicate",
        budget=0.3,
        calibration_auroc=0.7,
        worst_catch_rate=0.4321,
        worst_catch_rate_lo=0.2,
        worst_catch_rate_hi=0.6,
        worst_catch_disposition="saboteur:misread",
        worst_auroc=0.61,
        cost_fraction=0.29,
        recommendation="do not hand off without full human review",
    )
    paths = render_report([], [row], tmp_path, "t", {})
    text = paths.markdown.read_text()
    assert "replicate@0.3" in text
    assert "0.43 [0.20, 0.60] (saboteur:misread)" in text
    assert "0.61" in text and "0.29" in text
