"""The command line: bad input is a one-line error with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from proctor.cli import main


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.output + (f"Traceback: {crash!r}" if crash else "")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bench", "--domains", "alchemy"], "unknown domain 'alchemy'"),
        (["bench", "--protocols", "vibes"], "unknown protocol 'vibes'"),
        (["bench", "--dispositions", "saboteur:nope"], "unknown disposition 'saboteur:nope'"),
        (["bench", "--budgets", "-0.5"], "protocol budget must be > 0"),
        (["bench", "--budgets", "abc"], "--budgets"),
        (["bench", "--levels", "9"], "levels"),
        (["bench", "--seeds", "-1"], "--seeds must be >= 0"),
        (["bench", "--workers", "0"], "--workers must be >= 1"),
        (["bench", "--config", "/nonexistent/sweep.toml"], "cannot read sweep file"),
        (["report", "/nonexistent/run"], "not a bench output folder"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], needle: str) -> None:
    code, out = _run(*args)
    assert code == 2, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    assert needle in lines[0], out


def test_malformed_toml(tmp_path: Path) -> None:
    bad = tmp_path / "sweep.toml"
    bad.write_text("[sweep\nlevels = [1,")
    code, out = _run("bench", "--config", str(bad))
    assert code == 2 and out.startswith("error: malformed TOML"), out


def test_toml_field_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "sweep.toml"
    bad.write_text("[sweep]\nbudgets = [0.1, -2]\n")
    code, out = _run("bench", "--config", str(bad))
    assert code == 2 and "budgets" in out and "Traceback" not in out, out
    bad.write_text("[sweep]\nlevelz = [1]\n")
    code, out = _run("bench", "--config", str(bad))
    assert code == 2 and "levelz" in out, out


def test_list_commands() -> None:
    for what, needle in (
        ("domains", "causal"),
        ("protocols", "replicate"),
        ("researchers", "saboteur:misread"),
    ):
        code, out = _run("list", what)
        assert code == 0 and needle in out, out


def test_bench_from_a_sweep_file_writes_the_output_layout(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        '[sweep]\nname = "cli"\nlevels = [1]\norganisms = ["saboteur:misread"]\n'
        'protocols = ["direct", "replicate"]\nbudgets = [0.2]\nadaptive = false\n'
        "[sweep.seeds]\ncalibration = 3\ntest = 3\n"
    )
    out = tmp_path / "out"
    code, text = _run("bench", "--config", str(sweep), "--out", str(out), "--workers", "1")
    assert code == 0, text
    assert "AUROC" in text and "report:" in text
    for name in ("summary.json", "summary.md", "report.html", "episodes.sqlite"):
        assert (out / name).exists(), name
    rows = json.loads((out / "summary.json").read_text())
    assert any(r["metric"] == "auroc" and r["protocol"] == "replicate" for r in rows)
    code, text = _run("report", str(out))
    assert code == 0 and "report:" in text, text


def test_unknown_knob_is_a_spec_error(tmp_path: Path) -> None:
    bad = tmp_path / "sweep.toml"
    bad.write_text('[sweep]\norganisms = ["sandbagger"]\n[sweep.knobs.sandbagger]\nrecognise = 1\n')
    code, out = _run("bench", "--config", str(bad))
    assert code == 2 and "unknown knob 'recognise'" in out, out


def test_knobs_for_an_unknown_disposition_are_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "sweep.toml"
    bad.write_text("[sweep]\n[sweep.knobs.sandbager]\nrecognition = 1\n")
    code, out = _run("bench", "--config", str(bad))
    assert code == 2 and "unknown disposition 'sandbager'" in out, out


def test_merge_spec_layers_flags_over_the_base(tmp_path: Path) -> None:
    from proctor.bench.spec import load_spec, make_spec, merge_spec, quick_spec

    assert merge_spec(quick=True) == quick_spec()
    assert merge_spec().run_id == make_spec({}).run_id
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[sweep]\nname = "file"\nlevels = [1]\n[sweep.seeds]\ncalibration = 7\n')
    merged = merge_spec(quick=True, config=sweep, domains=["causal"], seeds=3)
    assert merged.name == "file" and merged.domains == ["causal"] and merged.levels == [1]
    assert (merged.seeds.test, merged.seeds.calibration) == (3, 7)  # calibration stays
    assert merged.seeds == load_spec(sweep).seeds.model_copy(update={"test": 3})
    both = merge_spec(quick=True, calibration_seeds=9)
    assert both.seeds.calibration == 9 and both.seeds.test == quick_spec().seeds.test


def test_merge_spec_models_and_the_adaptive_attacker() -> None:
    from proctor.bench.spec import merge_spec

    full = merge_spec()
    assert full.adaptive  # on in the full sweep
    modelled = merge_spec(models={"researcher": "mockllm/model", "judge": None})
    assert modelled.models is not None and modelled.models.researcher == "mockllm/model"
    assert modelled.models.judge is None
    assert not modelled.adaptive  # the adaptive attacker has no model-backed form
    judged = merge_spec(models={"judge": "mockllm/model"})
    assert judged.adaptive == full.adaptive
    assert merge_spec(models={"researcher": None}) == full


def test_a_store_that_cannot_open_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = "mysql://bob:s3cret-pw@127.0.0.1:1/x"  # no MySQL driver is installed
    result = CliRunner().invoke(
        main, ["bench", "--quick", "--store", url, "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: cannot open store 'mysql://bob:***@127.0.0.1:1/x': No module named 'MySQLdb'"
    ]
    assert "s3cret" not in result.output
