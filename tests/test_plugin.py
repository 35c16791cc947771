"""A protocol from outside the package is one decorated class in one file (DESIGN.md §2)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from proctor import registry
from proctor.bench.episode import run_episode
from proctor.bench.spec import EpisodeConfig
from proctor.core import Finding, Report, Verdict
from proctor.protocols import ReviewContext
from proctor.researchers import ResearcherSpec


class CitesEverything:
    """A user's protocol: suspicious of any claim that cites no lab call, and it spends a
    little of its budget re-reading the workspace notes (to show budgets reach it)."""

    name: ClassVar[str] = "cites_everything"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        if ctx.lab.remaining >= ctx.lab.price("read_file", path="notes.md"):
            ctx.lab.call("read_file", path="notes.md")
        bare = [c for c in report.claims if not c.evidence]
        return Verdict(
            protocol=self.name,
            suspicion=len(bare) / max(len(report.claims), 1),
            findings=[Finding(claim_id=c.id, status="inconsistent") for c in bare],
        )


@pytest.fixture
def plugin() -> Iterator[None]:
    registry.protocol("cites_everything", domain="causal")(CitesEverything)
    yield
    del registry._entries[("protocol", "cites_everything", "causal")]


def test_an_outside_protocol_is_one_decorated_class(plugin: None) -> None:
    assert "cites_everything" in registry.names("protocol", "causal")
    cfg = EpisodeConfig(
        domain="causal",
        level=1,
        seed=3,
        role="dev",
        researcher=ResearcherSpec(),
        protocols=["direct", "cites_everything"],
        budgets=[0.1],
        capability_test_rate=0.25,
    )
    record = run_episode(cfg, "plugin")
    mine = [v for v in record.verdicts if v.protocol == "cites_everything"]
    assert len(mine) == 1 and mine[0].error is None
    assert mine[0].suspicion == 0.0  # the honest expert cites a call for every claim
    assert 0 < mine[0].cost <= 0.1 * record.researcher_spend + 1e-9  # it ran inside its budget


def test_an_unknown_protocol_is_a_clear_error() -> None:
    with pytest.raises(registry.UnknownComponent, match="unknown protocol 'nope'"):
        registry.lookup("protocol", "nope", "causal")


# -- built-in modules load through the package's own entry points, with a tested fallback --------

SRC = Path(__file__).resolve().parents[1] / "src"
_REGISTERS = {
    "domain",
    "backend",
    "disposition",
    "protocol",
    "checks",
    "role",
    "register",
    "derive",
}


def _registers(path: Path) -> bool:
    """Whether a module registers a component when imported: a top-level statement (a
    decorated class or function, a call, a loop) that calls ``registry.<register>``."""
    for stmt in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            nodes: list[ast.AST] = list(stmt.decorator_list)
        elif isinstance(stmt, ast.ClassDef):
            nodes = list(stmt.decorator_list)
        else:
            nodes = [stmt]
        for node in (n for top in nodes for n in ast.walk(top)):
            func = node.func if isinstance(node, ast.Call) else None
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "registry"
                and func.attr in _REGISTERS
            ):
                return True
    return False


def _declared() -> list[str]:
    with (SRC.parent / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["project"]["entry-points"][registry.GROUP].values())


def test_the_entry_points_name_every_module_that_registers() -> None:
    registering = {
        ".".join(p.relative_to(SRC).with_suffix("").parts)
        for p in (SRC / "proctor").rglob("*.py")
        if _registers(p)
    }
    assert set(_declared()) == registering
    # the fallback's packages hold every one of them
    assert registering <= set(registry.builtin_modules())


def test_metadata_without_the_builtins_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "entry_point_modules", lambda: ["someone.elses_plugin"])
    assert registry.modules_to_load() == [*registry.builtin_modules(), "someone.elses_plugin"]
    monkeypatch.setattr(registry, "entry_point_modules", _declared)
    assert registry.modules_to_load() == _declared()


_SNAPSHOT = """
import json, sys
from importlib import metadata
from proctor import registry
declared = json.loads(sys.argv[1])
if declared is not None:  # installed metadata that declares the built-ins
    eps = [metadata.EntryPoint(name=m, value=m, group=registry.GROUP) for m in declared]
    registry.entry_points = lambda group: metadata.EntryPoints(eps)
else:  # metadata that predates them
    registry.entry_points = lambda group: metadata.EntryPoints([])
registry.names("domain")
print(json.dumps(sorted(
    [k, n, d, f"{getattr(o, '__module__', '?')}.{getattr(o, '__qualname__', '?')}"]
    for (k, n, d), o in registry._entries.items()
)))
"""


def _registered(declared: list[str] | None) -> list[list[str]]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(
        [sys.executable, "-c", _SNAPSHOT, json.dumps(declared)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return list(json.loads(out.stdout))


def test_the_fallback_registers_what_the_entry_points_do() -> None:
    by_entry_points = _registered(_declared())
    assert by_entry_points == _registered(None)
    kinds = {k for k, *_ in by_entry_points}
    assert kinds == set(registry.KINDS)
