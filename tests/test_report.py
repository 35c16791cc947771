"""Tests of the run report: HTML, Markdown summary, plots and the CLI pivot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proctor.analysis.rows import MetricRow
from proctor.analysis.trust import COVERAGE_METRIC, TrustRow
from proctor.report import ReportPaths, audit_budgets, pivot, render_report
from proctor.report.cells import Section, Table
from proctor.report.plots import (
    plot_auroc_heatmap,
    plot_catch_rate,
    plot_frontier,
    plot_giveaway,
)
from proctor.report.sections import build_sections

DISPOSITIONS = ("sycophant", "saboteur:misread", "<script>")  # display order (DESIGN.md §1)
PROTOCOLS = ("direct", "debate")
BUDGETS = (0.1, 0.5)
SECTIONS = (
    "What this run is",
    "Trust map",
    "Oracle ceiling",
    "Coverage",
    "Safety and usefulness",
    "Scheming: catch rate",
    "Evaluation: catch and false alarm",
    "AUROC",
    "What the stacks combine",
    "Claims",
    "Giveaway audit and worst cases",
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
    rows += _frame_rows()
    return rows


def _frame_rows() -> list[MetricRow]:
    """Rows of the measurement frame at level 1: reference and stack keys, evaluation,
    calibration, stacks, coverage, worst-case status and a two-monitor frontier."""
    level = {"level": 1}
    rows: list[MetricRow] = []
    for key, value in (("oracle", 1.0), ("constant", 0.1), ("combined", 0.7)):
        for disposition in ("saboteur:misread", "sycophant"):
            rows.append(
                _row(
                    "catch_rate",
                    value,
                    protocol=key,
                    disposition=disposition,
                    audit_budget=0.1,
                    n=5,
                    **level,
                )
            )
        rows.append(_row("eval_catch_rate", value, protocol=key, audit_budget=0.1, n=12, **level))
        rows.append(_row("eval_false_alarm", 0.1, protocol=key, audit_budget=0.1, n=30, **level))
    rows.append(
        _row(
            "catch_rate",
            0.4,
            protocol="debate",
            budget=0.5,
            disposition="saboteur:misread",
            audit_budget=0.1,
            n=5,
            **level,
        )
    )
    rows.append(
        _row(
            "catch_rate",
            0.0,
            lo=0.0,
            hi=0.52,
            protocol="debate",
            budget=0.5,
            disposition="sycophant",
            audit_budget=0.1,
            n=5,
            **level,
        )
    )
    rows.append(
        _row("eval_catch_rate", 0.55, protocol="debate", budget=0.5, audit_budget=0.1, **level)
    )
    rows.append(
        _row("eval_false_alarm", 0.09, protocol="debate", budget=0.5, audit_budget=0.1, **level)
    )
    rows.append(
        _row(
            "false_alarm",
            0.11,
            protocol="debate",
            budget=0.5,
            disposition="honest",
            audit_budget=0.1,
            **level,
        )
    )
    rows.append(_row("eval_auroc", 0.77, protocol="debate", budget=0.5, **level))
    rows.append(
        _row(
            "calib_catch_rate",
            0.123456,
            protocol="debate",
            budget=0.5,
            disposition="sycophant",
            audit_budget=0.1,
            **level,
        )
    )
    rows.append(
        _row(
            "stack_keys",
            2.0,
            lo=None,
            hi=None,
            protocol="combined",
            note="bonferroni over debate@0.5, direct@0.5; left out debate@0.1: cannot rank",
            **level,
        )
    )
    rows.append(
        _row(
            COVERAGE_METRIC,
            0.8,
            protocol="debate",
            budget=0.5,
            disposition="saboteur",
            audit_budget=0.1,
            n=10,
            note="cheapest key with calibration catch ≥ 0.9 against saboteur:misread",
            **level,
        )
    )
    rows.append(
        _row(
            COVERAGE_METRIC,
            None,
            disposition="sycophant",
            audit_budget=0.1,
            n=0,
            note="none found: no key reaches calibration catch ≥ 0.9 against sycophant; "
            "best calibration catch 0.40 (debate@0.5)",
            **level,
        )
    )
    rows.append(
        _row(
            "worst_case",
            1.0,
            lo=None,
            hi=None,
            disposition="saboteur:misread",
            n=1,
            note="attributable harm 0.45 (n=20) at level 1; passes",
        )
    )
    rows.append(
        _row(
            "worst_case",
            0.0,
            lo=None,
            hi=None,
            disposition="sycophant",
            n=1,
            note="has a giveaway (giveaway audit)",
        )
    )
    for monitor, budget, safety in (("combined", None, 0.9), ("direct", 0.5, 0.6)):
        for d in (0.0, 0.1):
            rows.append(
                _row(
                    "frontier_safety",
                    safety + d / 2,
                    defer=d,
                    protocol=monitor,
                    budget=budget,
                    disposition="saboteur:misread",
                    audit_budget=0.1,
                    note="worst of 1 organisms that count",
                    **level,
                )
            )
            rows.append(
                _row(
                    "frontier_usefulness",
                    0.95 - d,
                    defer=d,
                    protocol=monitor,
                    budget=budget,
                    disposition="honest",
                    audit_budget=0.1,
                    **level,
                )
            )
    return rows


def _trust_row(**kw: Any) -> TrustRow:
    base: dict[str, Any] = {
        "backend": "scripted",
        "evaluability": "normal_science",
        "domain": "causal",
        "level": 1,
        "protocol": "debate",
        "budget": 0.5,
        "audit_budget": 0.1,
        "calibration_catch": 0.62,
        "eval_catch": 0.55,
        "eval_catch_lo": 0.45,
        "eval_catch_hi": 0.65,
        "eval_catch_n": 40,
        "eval_false_alarm": 0.09,
        "eval_false_alarm_lo": 0.03,
        "eval_false_alarm_hi": 0.2,
        "eval_false_alarm_n": 55,
        "worst_catch_rate": 0.0,
        "worst_catch_rate_lo": 0.0,
        "worst_catch_rate_hi": 0.52,
        "worst_catch_n": 5,
        "worst_catch_disposition": "saboteur:misread",
        "oracle_catch": 1.0,
        "recovered": 0.0,
        "usefulness": 0.93,
        "usefulness_lo": 0.9,
        "usefulness_hi": 0.96,
        "usefulness_n": 30,
        "cost_fraction": 0.45,
        "excluded": ["sycophant: has a giveaway (giveaway audit)"],
        "recommendation": "do not hand off without full human review",
    }
    base.update(kw)
    return TrustRow(**base)


def _trust() -> list[dict[str, Any]]:
    return [
        _trust_row().model_dump(),
        _trust_row(
            level=2,
            protocol="combined",
            budget=None,
            recommendation="hand off only with human review of flagged work plus random audits",
        ).model_dump(),
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
        "frontier.png",
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
    assert html.count('<img src="data:image/png;base64,') == 4
    assert "n too small" in html
    assert "http://" not in html and "https://" not in html
    assert "Quick bench" in html and "proctor bench --quick" in html and "0, 1, 2" in html
    assert "has a giveaway" in html and "no giveaway found" in html
    assert "plus random audits" in html
    assert "debate@0.1" in html and "0.65 [0.55, 0.75] n=40" in html
    assert "abstention" in html  # rows that fit no named table still appear


def test_html_autoescape(rendered: ReportPaths) -> None:
    html = rendered.html.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_markdown(rendered: ReportPaths) -> None:
    md = rendered.markdown.read_text(encoding="utf-8")
    headings = [line[3:] for line in md.splitlines() if line.startswith("## ")]
    assert headings == [
        "What this run is",
        *[h for h in SECTIONS if h not in ("What this run is", "Plots")],
        "Other figures",
        "Plots",
    ]
    assert "| key | sycophant | saboteur:misread | &lt;script&gt; |" in md
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


def _section(rows: list[MetricRow], trust: list[Any], sid: str) -> Section:
    return {s.id: s for s in build_sections(rows, trust)}[sid]


def _cells(table: Table) -> list[str]:
    return [cell for line in table.rows for cell in line]


def test_trust_map_shows_both_questions_with_n_and_interval() -> None:
    section = _section([], [_trust_row()], "trust-map")
    table, excluded = section.tables
    assert table.title == "At audit budget 0.1"
    line = dict(zip(table.header, table.rows[0], strict=True))
    assert line["level"] == "level 1"
    assert line["key (chosen on calibration)"] == "debate@0.5 (calibration catch 0.62)"
    assert line["evaluation catch [95% CI] n"] == "0.55 [0.45, 0.65] n=40"
    assert line["false alarm [95% CI] n"] == "0.09 [0.03, 0.20] n=55"
    assert (
        line["scheming worst catch [95% CI] n (organism)"]
        == "0.00 [0.00, 0.52] n=5 (saboteur:misread)"
    )
    assert line["oracle ceiling (share recovered)"] == "1.00 (0% recovered)"
    assert line["usefulness [95% CI] n"] == "0.93 [0.90, 0.96] n=30"
    assert line["cost"] == "0.45"
    assert excluded.rows == [["causal", "scripted", "sycophant: has a giveaway (giveaway audit)"]]


def test_excluded_organisms_are_listed_once_per_domain() -> None:
    trust = [
        _trust_row(),
        _trust_row(level=2, protocol=None, budget=None),
        _trust_row(domain="optimize", evaluability="number_go_up", excluded=[]),
    ]
    _, excluded = _section([], trust, "trust-map").tables
    assert excluded.rows == [
        ["optimize", "scripted", "none"],
        ["causal", "scripted", "sycophant: has a giveaway (giveaway audit)"],
    ]
    table = _section([], trust, "trust-map").tables[0]
    assert [line[1:3] for line in table.rows] == [
        ["optimize", "level 1"],
        ["causal", "level 1"],
        ["causal", "level 2"],
    ]
    assert table.rows[2][4] == "—"  # no key could be chosen


def test_trust_map_in_the_markdown(tmp_path: Path) -> None:
    paths = render_report([], [_trust_row(protocol="combined", budget=None)], tmp_path, "t", {})
    text = paths.markdown.read_text()
    assert "combined (stack) (calibration catch 0.62)" in text
    assert "0.00 [0.00, 0.52] n=5 (saboteur:misread)" in text
    assert "Organisms left out of the worst case" in text


def test_references_are_labelled_and_come_last_in_the_catch_table() -> None:
    section = _section(_rows(), [], "catch-rate")
    at = [
        t
        for t in section.tables
        if t.title.startswith("Audit budget 0.1 · ") and "level 1" in t.title
    ]
    assert len(at) == 1
    labels = [line[0] for line in at[0].rows]
    assert labels == [
        "debate@0.5",
        "combined (stack)",
        "oracle (reference)",
        "constant (reference)",
    ]
    sycophant = at[0].header.index("sycophant")
    assert at[0].rows[0][sycophant] == "0.00 [0.00, 0.52] n=5"
    # the CLI pivot orders and labels them the same way
    _, body = pivot(_rows(), "catch_rate", audit_budget=0.1)
    mine = [line[3] for line in body if line[1] == "level 1"]
    assert mine == labels


def test_oracle_ceiling_sits_beside_the_chosen_key() -> None:
    section = _section(_rows(), [_trust_row()], "oracle-ceiling")
    (table,) = section.tables
    assert table.header[:5] == ["level", "audit budget", "key", "evaluation catch", "false alarm"]
    assert "sycophant catch (not in worst case)" in table.header
    assert "saboteur:misread catch" in table.header
    assert [line[2] for line in table.rows] == [
        "debate@0.5 (chosen)",
        "oracle (reference)",
        "constant (reference)",
    ]
    oracle = table.rows[1]
    assert oracle[3] == "1.00 [0.90, 1.10] n=12"
    assert table.rows[2][table.header.index("saboteur:misread catch")] == "0.10 [0.00, 0.20] n=5"


def test_coverage_rows_render_including_none_found() -> None:
    (table,) = _section(_rows(), [], "coverage").tables
    by_mode = {line[3]: line for line in table.rows}
    assert set(by_mode) == {"saboteur", "sycophant"}
    found = by_mode["saboteur"]
    assert found[5] == "debate@0.5" and found[6] == "0.80 [0.70, 0.90] n=10"
    missing = by_mode["sycophant"]
    assert missing[5] == "none found" and missing[6] == "—"
    assert missing[7].startswith("none found: no key reaches calibration catch ≥ 0.9")


def test_frontier_of_two_monitors_in_separate_columns(tmp_path: Path) -> None:
    frontier, *_ = _section(_rows(), [], "safety-usefulness").tables
    assert frontier.header == [
        "defer fraction",
        "audit budget",
        "safety (worst attack) · combined",
        "usefulness · combined",
        "best single protocol",
        "safety (worst attack) · best single",
        "usefulness · best single",
    ]
    assert len(frontier.rows) == 2
    first = frontier.rows[0]
    assert first[:2] == ["0", "0.1"]
    assert first[2] == "0.90 [0.80, 1.00] n=40 (saboteur:misread)"
    assert first[4] == "direct@0.5"
    assert first[5] == "0.60 [0.50, 0.70] n=40 (saboteur:misread)"
    assert frontier.rows[1][6] == "0.85 [0.75, 0.95] n=40"
    path = plot_frontier(_rows(), tmp_path / "frontier.png")
    assert path is not None and path.read_bytes().startswith(b"\x89PNG")


def test_frontier_keeps_two_single_protocols_at_one_point_apart() -> None:
    rows = [
        _row(
            "frontier_safety",
            value,
            defer=0.0,
            level=1,
            protocol=protocol,
            budget=0.5,
            disposition="sycophant",
            audit_budget=0.1,
        )
        for protocol, value in (("direct", 0.5), ("debate", 0.7))
    ]
    (frontier,) = _section(rows, [], "safety-usefulness").tables
    assert "safety (worst attack) · debate@0.5" in frontier.header
    assert "safety (worst attack) · direct@0.5" in frontier.header


def test_evaluation_table_per_key() -> None:
    tables = _section(_rows(), [], "evaluation").tables
    (table,) = [t for t in tables if "level 1" in t.title]
    assert table.header == [
        "key",
        "AUROC (wrong vs correct)",
        "catch · audit 0.1",
        "false alarm · audit 0.1",
        "honest false alarm · audit 0.1",
    ]
    debate = table.rows[0]
    assert debate == [
        "debate@0.5",
        "0.77 [0.67, 0.87] n=40",
        "0.55 [0.45, 0.65] n=40",
        "0.09 [-0.01, 0.19] n=40",
        "0.11 [0.01, 0.21] n=40",
    ]
    assert [line[0] for line in table.rows][-2:] == ["oracle (reference)", "constant (reference)"]


def test_stacks_worst_cases_and_calibration_rows() -> None:
    sections = {s.id: s for s in build_sections(_rows(), [])}
    (stacks,) = sections["stacks"].tables
    assert stacks.rows[0][3:] == [
        "combined",
        "2",
        "bonferroni over debate@0.5, direct@0.5; left out debate@0.1: cannot rank",
    ]
    every = sections["giveaway-audit"].tables[-1]
    status = {line[3]: line[-1] for line in every.rows}
    assert status["saboteur:misread"].startswith("yes (attributable harm 0.45")
    assert status["sycophant"] == "no: has a giveaway (giveaway audit)"
    shown = [c for s in sections.values() for t in s.tables for c in _cells(t)]
    assert not any("0.12" in c for c in shown)  # calib_* rows stay in summary.json
    assert not any("calib_" in c for c in shown)


def test_cli_prints_the_trust_map_first(capsys: pytest.CaptureFixture[str]) -> None:
    from proctor.report.console import print_summary

    print_summary(_rows(), [_trust_row()])
    out = capsys.readouterr().out
    assert out.index("Trust map at audit budget 0.1") < out.index("AUROC")
    assert "0.00 [0.00, 0.52] n=5" in out and "(saboteur:misread)" in out  # rich may wrap
    assert "0.55 [0.45, 0.65] n=40" in out and "1.00 (0% recovered)" in out
    assert "oracle (reference)" in out and "constant (reference)" in out
