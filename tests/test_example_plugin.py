"""The worked plug-in of ``examples/plugins/`` (README, "Writing your own organism, protocol or
opponent"): a new organism and a new debate opponent, written against the public API only, run
with ``proctor bench --plugin`` through a small quick sweep on the local pool and on Ray, in
fresh processes, with identical ``summary.json``.

The Ray half needs ``pip install 'proctor[ray]'`` and is skipped without it (it fails instead
when ``PROCTOR_REQUIRE_SERVICES`` is set, as in CI).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugins" / "red_team.py"
CLI = "from proctor.cli import main; main()"
REQUIRED = bool(os.environ.get("PROCTOR_REQUIRE_SERVICES"))
SWEEP = [
    "--quick",
    "--domains",
    "causal",
    "--levels",
    "1",
    "--protocols",
    "direct,debate,debate_novice",
    "--dispositions",
    "overclaimer,sandbagger",
    "--seeds",
    "3",
    "--calibration-seeds",
    "4",
    "--workers",
    "2",
]


def test_the_plugin_uses_no_private_name() -> None:
    text = PLUGIN.read_text(encoding="utf-8")
    assert "._" not in text
    names = [
        (node.module or "").split(".") + [a.name for a in node.names]
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("proctor")
    ]
    assert names and not [n for parts in names for n in parts if n.startswith("_")]


def _bench(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            CLI,
            "bench",
            *SWEEP,
            *extra,
            "--plugin",
            str(PLUGIN),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )


def _rows(out: Path, disposition: str | None = None, protocol: str | None = None) -> list[dict]:
    rows = json.loads((out / "summary.json").read_text())
    return [
        r
        for r in rows
        if (disposition is None or r["disposition"] == disposition)
        and (protocol is None or r["protocol"] == protocol)
    ]


def test_the_plugin_runs_on_the_pool_and_on_ray_with_identical_summaries(tmp_path: Path) -> None:
    local = _bench(tmp_path / "local")
    assert local.returncode == 0, local.stderr[-2000:]
    assert " 0 failed)" in local.stdout, local.stdout
    # the plug-in's organism and its opponent's protocol are in the figures
    assert _rows(tmp_path / "local", disposition="overclaimer")
    assert _rows(tmp_path / "local", protocol="debate_novice")
    if importlib.util.find_spec("ray") is None:
        if REQUIRED:
            pytest.fail("ray is not installed (pip install 'proctor[ray]'); required here")
        pytest.skip("ray is not installed (pip install 'proctor[ray]')")
    on_ray = _bench(tmp_path / "ray", "--executor", "ray")
    assert on_ray.returncode == 0, on_ray.stderr[-2000:]
    assert " 0 failed)" in on_ray.stdout, on_ray.stdout
    assert (tmp_path / "local" / "summary.json").read_bytes() == (
        tmp_path / "ray" / "summary.json"
    ).read_bytes()
