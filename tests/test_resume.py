"""Crash-safe sweeps: SIGKILL a running `proctor bench` (workers and all), run it again, and
get exactly the episodes and the numbers of an uninterrupted run (``proctor bench --resume``)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from proctor.bench.spec import make_spec
from proctor.report import run_bench

SWEEP = {
    "name": "resume",
    "domains": ["causal"],
    "levels": [1],
    "organisms": ["saboteur:misread", "sandbagger"],
    "budgets": [0.25],
    "seeds": {"calibration": 10, "test": 8},
    "knobs": {},
    "protocols": ["replicate", "trace_monitor"],
    "adaptive": False,
}
TOTAL = (4 + 2) * 18  # (honest population + organisms) x seeds


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM episodes").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not there yet
        return 0


def _bench(*args: str) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("proctor")
    return subprocess.Popen(
        [str(exe), "bench", *args, "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )


def test_sigkilled_sweep_finishes_with_the_uninterrupted_numbers(tmp_path: Path) -> None:
    config = tmp_path / "sweep.toml"
    lines = []
    for key, value in SWEEP.items():
        if isinstance(value, dict):
            continue
        lines.append(f"{key} = {json.dumps(value)}")
    lines += ["[seeds]", "calibration = 10", "test = 8", "[knobs]"]
    config.write_text("\n".join(lines) + "\n")
    out = tmp_path / "killed"
    db = out / "episodes.sqlite"
    proc = _bench("--config", str(config), "--out", str(out))
    deadline = time.monotonic() + 180
    while _count(db) < 24:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the sweep wrote nothing"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = _count(db)
    assert 24 <= at_kill < TOTAL, "kill the sweep mid-way"
    again = _bench("--resume", str(out))
    assert again.wait() == 0, again.stderr.read().decode() if again.stderr else ""
    with sqlite3.connect(db) as conn:
        keys = [r[0] for r in conn.execute("SELECT key FROM episodes")]
    assert len(keys) == len(set(keys)) == TOTAL
    clean = run_bench(make_spec(SWEEP), tmp_path / "clean", workers=1)
    assert clean.n_episodes == TOTAL
    assert (out / "summary.json").read_text() == (tmp_path / "clean" / "summary.json").read_text()


def test_resume_takes_no_sweep_flags(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from proctor.cli import main

    run_bench(make_spec(SWEEP | {"seeds": {"calibration": 1, "test": 1}}), tmp_path)
    result = CliRunner().invoke(main, ["bench", "--resume", str(tmp_path), "--levels", "2"])
    assert result.exit_code == 2
    assert "error: --resume runs the stored sweep as it was; drop --levels" in result.output
    missing = CliRunner().invoke(main, ["bench", "--resume", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and missing.output.startswith("error:")
    done = CliRunner().invoke(main, ["bench", "--resume", str(tmp_path), "--workers", "1"])
    assert done.exit_code == 0, done.output
    assert "(0 new, 0 failed)" in done.output
