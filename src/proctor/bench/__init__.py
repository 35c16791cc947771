"""The bench: sweep, store, summarise and report (DESIGN.md §2 "Bench", §4 metrics).

``run_bench(spec, out)`` is the Python form of ``proctor bench``: it runs every episode of the
sweep that the store does not already hold (local process pool), writes them in batches,
then summarises the run into ``out/summary.json``, ``out/summary.md`` and ``out/report.html``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proctor.bench.episode import run_episode
from proctor.bench.records import EpisodeRecord, MetricRow
from proctor.bench.spec import EpisodeConfig, SpecError, SweepSpec, load_spec, quick_spec
from proctor.bench.store import Store, StoreError
from proctor.bench.summary import TrustRow, summarise, trust_map
from proctor.bench.trustgrid import trust_grid

__all__ = [
    "BenchResult",
    "EpisodeRecord",
    "MetricRow",
    "SpecError",
    "Store",
    "StoreError",
    "SweepSpec",
    "load_spec",
    "quick_spec",
    "report_run",
    "run_bench",
]

log = logging.getLogger(__name__)
CHUNK = 24


@dataclass(frozen=True)
class BenchResult:
    """What a bench run produced."""

    run_id: str
    rows: list[MetricRow]
    trust: list[TrustRow]
    out: Path
    n_episodes: int
    n_new: int
    n_failed: int


def _one_thread_each() -> None:
    """Pool initializer: one BLAS/OpenMP thread per worker. Left at their defaults, numpy's
    and scikit-learn's thread pools put two busy threads on each core and two workers run no
    faster than one (measured in benchmarks/RESULTS.md)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _run_chunk(args: tuple[list[EpisodeConfig], str]) -> list[EpisodeRecord]:
    configs, run_id = args
    return [run_episode(cfg, run_id) for cfg in configs]


def _chunks(items: Sequence[EpisodeConfig], size: int) -> Iterator[list[EpisodeConfig]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def run_bench(
    spec: SweepSpec,
    out: Path,
    store: str | Path | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> BenchResult:
    """Run (or finish) a sweep, then summarise and report it.

    Args:
        spec: the sweep; checked against the registry first.
        out: output folder for summary.json, summary.md, report.html and plots.
        store: SQLAlchemy URL or SQLite path; default ``out/episodes.sqlite``.
        workers: local processes (1 = run in this process).
        progress: called with (episodes done, episodes total) as work finishes.
    """
    spec.check()
    if workers < 1:
        raise SpecError(f"workers must be >= 1, got {workers}")
    out.mkdir(parents=True, exist_ok=True)
    db = Store(store if store is not None else out / "episodes.sqlite")
    run_id = db.begin_run(spec)
    done = db.done_keys(run_id)
    todo = [cfg for cfg in spec.episodes() if cfg.key not in done]
    total = len(done) + len(todo)
    finished = len(done)
    if progress:
        progress(finished, total)
    chunks = [(chunk, run_id) for chunk in _chunks(todo, CHUNK)]
    if workers == 1:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # as in the pool: spare BLAS threads only add overhead
            for batch in map(_run_chunk, chunks):
                finished += db.write(batch)
                if progress:
                    progress(finished, total)
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_one_thread_each) as pool:
            for batch in pool.map(_run_chunk, chunks):
                finished += db.write(batch)
                if progress:
                    progress(finished, total)
    return report_run(db, run_id, out, n_new=len(todo), audit_budgets=spec.audit_budgets)


def report_run(
    db: Store,
    run_id: str,
    out: Path,
    n_new: int = 0,
    audit_budgets: Sequence[float] | None = None,
    meta: dict[str, Any] | None = None,
) -> BenchResult:
    """Summarise a stored run into out/summary.json, summary.md and report.html."""
    from proctor.report import render_report

    spec = db.spec(run_id)
    if spec is None:
        raise StoreError(f"no run {run_id!r} in the store")
    budgets = list(audit_budgets or spec.audit_budgets)
    episodes = db.episodes(run_id)
    rows = summarise(episodes, audit_budgets=budgets)
    trust = trust_map(rows, episodes, audit_budget=budgets[0])
    rows = rows + trust_grid(rows, episodes, audit_budget=budgets[0])
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(
        json.dumps([r.model_dump(mode="json") for r in rows], indent=1) + "\n"
    )
    info = {
        "run": run_id,
        "sweep": spec.name,
        "domains": ", ".join(spec.domains),
        "levels": ", ".join(map(str, spec.levels)),
        "seeds (dev / calibration / test)": (
            f"{spec.seeds.dev} / {spec.seeds.calibration} / {spec.seeds.test}"
        ),
        "episodes": len(episodes),
        "protocol budgets (share of researcher spend)": ", ".join(f"{b:g}" for b in spec.budgets),
        "audit budgets": ", ".join(f"{b:g}" for b in budgets),
        **(meta or {}),
    }
    render_report(rows, [t.model_dump() for t in trust], out, f"proctor bench: {run_id}", info)
    failed = sum(e.error is not None for e in episodes)
    return BenchResult(run_id, rows, trust, out, len(episodes), n_new, failed)
