"""The house's rules as a test: data flows one way (DESIGN.md §3).

domain → task → researcher → report → protocols → verdicts → gate → episode → store → metrics
→ report: a module imports only from its own layer or the layers below it (:data:`LAYERS`,
lowest first). Every import counts — at module level, inside functions (lazy), under
``TYPE_CHECKING``, and ``importlib.import_module`` of a constant name — found by walking the
source's syntax trees, so nothing has to be imported to be checked. An arrow that has to run
the wrong way for a while is listed in :data:`EXCEPTIONS` (none today) with the work that
removes it; a new one fails the test, and so does an exception that no longer occurs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # what everything may use: the package itself, the registry, statistics, parsing helpers,
    # and the sandbox (a leaf that imports nothing of proctor; the lab runs code in it)
    (
        "base",
        ("proctor", "proctor.registry", "proctor.stats", "proctor.parsing", "proctor.control"),
    ),
    ("core", ("proctor.core",)),  # the records: Task, Action, LabCall, Claim, Report, Verdict
    ("lab", ("proctor.lab",)),  # declared actions, budgets, logs, noise streams
    ("domains", ("proctor.domains",)),
    # what researchers and protocols are built with: model access and white-box handles
    ("models", ("proctor.models", "proctor.whitebox")),
    ("researchers", ("proctor.researchers",)),
    ("protocols", ("proctor.protocols",)),
    ("gate", ("proctor.gate",)),
    ("bench", ("proctor.bench",)),  # spec, executors, episodes, store, training sets
    ("analysis", ("proctor.analysis",)),  # metrics, trust map, frontier, transfer, audit
    # research on oversight: a domain whose lab runs bench episodes of other domains
    ("oversight", ("proctor.oversight",)),
    ("report", ("proctor.report",)),
    ("live", ("proctor.live",)),  # the live loop: research through the gate, kept in a store
    ("review", ("proctor.review",)),  # the human review queue's web app, over the live store
    # proctor's domains as Inspect AI tasks (the researcher, grader and protocols of an
    # episode) and as a ControlArena setting (its protocols as monitors)
    ("integrations", ("proctor.inspect_tasks", "proctor.control_arena")),
    ("cli", ("proctor.cli",)),
)
"""The layers, lowest first, each named by the module prefixes it holds."""

EXCEPTIONS: dict[tuple[str, str], str] = {}
"""Arrows that run the wrong way today, (importer, imported) -> what removes them."""


@dataclass(frozen=True)
class Arrow:
    """One import: `source` imports `target` at `line` of `path`."""

    source: str
    target: str
    path: Path
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def arrows(root: Path, package: str = "proctor") -> Iterator[Arrow]:
    """Every import of `package`'s own modules by a module of `package` under `root`."""
    files = sorted((root / package).rglob("*.py"))
    modules = {module_name(f, root) for f in files}

    def resolve(name: str) -> str:
        """The deepest module of the package `name` is in (``proctor.bench.spec.X`` names
        the module ``proctor.bench.spec``)."""
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    for path in files:
        source = module_name(path, root)
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = source.split(".") if is_package else source.split(".")[:-1]
                    up = here[: len(here) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                # `from proctor import registry` imports the module proctor.registry
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute | ast.Name)
                and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
                == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                targets = [node.args[0].value]
            for target in sorted({resolve(t) for t in targets if t.split(".")[0] == package}):
                yield Arrow(source, target, path, node.lineno)


def layer(module: str) -> int:
    """The index in :data:`LAYERS` of the layer whose longest prefix holds `module`."""
    best, found = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(f"{prefix}.")) and len(prefix) > best:
                best, found = len(prefix), i
    if found < 0:
        raise KeyError(f"{module} is in no layer: add its package to LAYERS")
    return found


def upward(root: Path, package: str = "proctor") -> list[Arrow]:
    """Arrows from a module to a module of a higher layer."""
    return [a for a in arrows(root, package) if layer(a.target) > layer(a.source)]


def shown(a: Arrow) -> str:
    return (
        f"{a.path.name}:{a.line}: {a.source} ({LAYERS[layer(a.source)][0]}) imports "
        f"{a.target} ({LAYERS[layer(a.target)][0]})"
    )


# -- the rules hold in src/ -----------------------------------------------------------------------


def test_every_module_is_in_a_layer() -> None:
    for path in (SRC / "proctor").rglob("*.py"):
        layer(module_name(path, SRC))  # raises, naming the module


def test_no_import_runs_against_the_data_flow() -> None:
    found = upward(SRC)
    new = [shown(a) for a in found if (a.source, a.target) not in EXCEPTIONS]
    assert not new, "imports against the data flow (DESIGN.md §3):\n" + "\n".join(new)
    stale = set(EXCEPTIONS) - {(a.source, a.target) for a in found}
    assert not stale, f"exceptions that no longer occur (remove them): {sorted(stale)}"


# -- and the checker catches what it must ---------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in {
        "proctor/__init__.py": "",
        "proctor/protocols/__init__.py": "",
        "proctor/bench/__init__.py": "",
        "proctor/bench/episode.py": "def report_features(): ...\n",
        **files,
    }.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    "text",
    [
        "from proctor.bench.episode import report_features\n",
        "def features():\n    from proctor.bench.episode import report_features\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import proctor.bench.episode\n",
        "from ..bench import episode\n",
        "from proctor import bench\n",
        "import importlib\nimportlib.import_module('proctor.bench.episode')\n",
    ],
    ids=["module-level", "lazy", "type-only", "relative", "package", "import_module"],
)
def test_a_planted_forbidden_import_is_caught(tmp_path: Path, text: str) -> None:
    root = _tree(tmp_path, {"proctor/protocols/planted.py": text})
    found = upward(root)
    assert [(a.source, a.target.partition(".episode")[0]) for a in found] == [
        ("proctor.protocols.planted", "proctor.bench")
    ]
    assert "planted.py" in shown(found[0]) and "(protocols) imports" in shown(found[0])


def test_imports_down_and_within_a_layer_pass(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "proctor/bench/summary.py": "from proctor.protocols import planted\n"
            "from proctor.bench.episode import report_features\nfrom . import episode\n",
            "proctor/protocols/planted.py": "import numpy\nfrom proctor import protocols\n",
        },
    )
    assert list(arrows(root))  # it saw them
    assert upward(root) == []
