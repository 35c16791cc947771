"""Episodes per second of one fixed small sweep on each executor of ``proctor bench``.

The sweep (``SWEEP`` below: causal and derivation at level 1, the honest population and three
organisms, protocols direct, replicate and spot_check at budget 0.25, 10 calibration + 10
test seeds: 280 episodes) runs on a fresh SQLite store once per configuration:

- ``local`` with ``workers=1`` (this process),
- ``local`` with ``workers=2`` (a process pool),
- ``ray`` on a Ray started on this machine with 2 CPUs (``start_local_ray(2)``, timed on its
  own as start-up; ``run_bench(..., executor="ray")`` then uses it).

Each ``run_bench`` call is timed (wall clock); its episode phase runs from its first
progress call (before any episode starts; the Ray is already up) to its last (the last batch
stored), and episodes/s = episodes / episode phase. Every configuration must give the same
episodes: the script checks that the stores hold identical records and says so.

A tiny untimed sweep runs first so that imports are not charged to the first timed run, and
the domains' per-process caches are emptied before each run. The pool forks from this
process; Ray's workers start afresh and import proctor on their first task, which is charged
to the Ray row, as it is to a real ``proctor bench --executor ray``. Run it on an otherwise
idle machine (``uptime``: load < 0.5); the 1-minute load before and after each run is
printed.

    .venv/bin/python benchmarks/bench_executors.py
    .venv/bin/python benchmarks/bench_executors.py --repeat 3 --json /tmp/be.json
    .venv/bin/python benchmarks/bench_executors.py --seeds 20 --only local:2,ray:2

Needs ``pip install 'proctor[ray]'`` for the Ray row (left out, with a note, without it).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proctor.bench import Store, SweepSpec
from proctor.bench.spec import make_spec
from proctor.report import run_bench

SWEEP: dict[str, Any] = {
    "name": "executors",
    "domains": ["causal", "derivation"],
    "levels": [1],
    "organisms": ["saboteur:misread", "saboteur:fabricate", "sandbagger"],
    "protocols": ["direct", "replicate", "spot_check"],
    "budgets": [0.25],
    "seeds": {"calibration": 10, "test": 10},
    "knobs": {},
    "adaptive": False,
}
CONFIGS = ("local:1", "local:2", "ray:2")
# Per-process caches of the domains (as in bench_throughput.py), emptied before each timed run
# so that every run starts as cold as a fresh `proctor bench` does.
_CACHES = (
    ("proctor.domains.causal", "_hidden_model"),
    ("proctor.domains.forecast", "_hidden"),
    ("proctor.domains.optimize", "_FITTED"),
    ("proctor.domains.optimize", "_TEST_ACCURACY"),
)


def _clear_caches() -> None:
    for module, name in _CACHES:
        cache: Any = getattr(importlib.import_module(module), name, None)
        if hasattr(cache, "cache_clear"):
            cache.cache_clear()
        elif hasattr(cache, "clear"):
            cache.clear()


def _spec(seeds: int, domains: list[str] | None = None) -> SweepSpec:
    data = SWEEP | {"seeds": {"calibration": seeds, "test": seeds}}
    if domains:  # organisms every domain has
        data |= {"domains": domains, "organisms": ["saboteur:diffuse", "sandbagger", "sycophant"]}
    return make_spec(data)


def _records(out: Path, run_id: str) -> dict[str, str]:
    return {e.key: e.model_dump_json() for e in Store(out / "episodes.sqlite").episodes(run_id)}


def one_run(spec: SweepSpec, executor: str, workers: int, root: Path) -> dict[str, Any]:
    """One run_bench on a fresh store. The episode phase runs from run_bench's first progress
    call (before any episode starts) to its last (the last batch stored); the rest of the
    call after it is the summary and report."""
    out = Path(tempfile.mkdtemp(prefix=f"{executor}{workers}-", dir=root))
    _clear_caches()
    calls: list[float] = []
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = run_bench(
        spec,
        out,
        workers=workers,
        executor=executor,
        progress=lambda done, total: calls.append(time.perf_counter()),
    )
    end = time.perf_counter()
    episodes = calls[-1] - calls[0]
    return {
        "executor": executor,
        "workers": workers,
        "episodes": result.n_new,
        "failed": result.n_failed,
        "total_s": end - start,
        "report_s": end - calls[-1],
        "episode_s": episodes,
        "episodes_per_s": result.n_new / episodes if episodes > 0 else float("nan"),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "out": str(out),
        "run_id": result.run_id,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="calibration and test seeds each")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration")
    parser.add_argument(
        "--only",
        default=",".join(CONFIGS),
        help=f"comma-separated EXECUTOR:WORKERS to run [default: {','.join(CONFIGS)}]",
    )
    parser.add_argument(
        "--domains",
        help="comma-separated domains instead of causal,derivation (organisms then: "
        "saboteur:diffuse, sandbagger, sycophant, which every domain has)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.repeat < 1:
        parser.error("--seeds and --repeat must be >= 1")
    configs = []
    for item in args.only.split(","):
        executor, _, workers = item.strip().partition(":")
        if executor not in ("local", "ray") or not workers.isdigit() or int(workers) < 1:
            parser.error(f"--only: expected EXECUTOR:WORKERS (local:2, ray:2), got {item!r}")
        configs.append((executor, int(workers)))
    has_ray = importlib.util.find_spec("ray") is not None
    if not has_ray and any(e == "ray" for e, _ in configs):
        print("note: ray is not installed (pip install 'proctor[ray]'); no Ray row\n")
        configs = [(e, w) for e, w in configs if e != "ray"]

    spec = _spec(args.seeds, args.domains.split(",") if args.domains else None)
    n = len(list(spec.episodes()))
    root = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    print(
        f"# Executors: {n} episodes ({', '.join(spec.domains)} level 1; protocols "
        f"{', '.join(spec.protocols)}; {args.seeds}+{args.seeds} seeds)\n\n"
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, 1-min load {os.getloadavg()[0]:.2f}\n\n"
        f"    {' '.join([Path(sys.executable).name, *sys.argv])}\n",
        flush=True,
    )
    run_bench(_spec(1), root / "warm-up", workers=1)  # untimed: imports, caches

    runs: list[dict[str, Any]] = []
    startup: dict[int, float] = {}
    for executor, workers in configs:
        if executor == "ray":
            from proctor.bench.executors import shutdown_local_ray, start_local_ray

            start = time.perf_counter()
            start_local_ray(workers)
            startup[workers] = time.perf_counter() - start
        try:
            for _ in range(args.repeat):
                runs.append(one_run(spec, executor, workers, root))
                rate = runs[-1]["episodes_per_s"]
                print(f"  {executor}:{workers} {rate:.1f} episodes/s", file=sys.stderr, flush=True)
        finally:
            if executor == "ray":
                shutdown_local_ray()

    first = _records(Path(runs[0]["out"]), runs[0]["run_id"])
    same = all(_records(Path(r["out"]), r["run_id"]) == first for r in runs[1:])
    print(
        "| executor | workers / CPUs | episodes | episode phase s | episodes/s | report s "
        "| start-up s | load before → after |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for executor, workers in configs:
        mine = [r for r in runs if (r["executor"], r["workers"]) == (executor, workers)]
        rate = statistics.median(r["episodes_per_s"] for r in mine)
        phase = statistics.median(r["episode_s"] for r in mine)
        report = statistics.median(r["report_s"] for r in mine)
        up = f"{startup[workers]:.1f}" if executor == "ray" else "–"
        loads = ", ".join(f"{r['load_before']:.2f} → {r['load_after']:.2f}" for r in mine)
        print(
            f"| {executor} | {workers} | {mine[0]['episodes']} | {phase:.1f} | {rate:.1f} | "
            f"{report:.1f} | {up} | {loads} |"
        )
    print(
        f"\nmedian of {args.repeat} run(s) each; every run's store holds the same records: "
        f"{'yes' if same else 'NO'}; failed episodes: {sum(r['failed'] for r in runs)}"
    )
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "ray_startup_s": startup}, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
