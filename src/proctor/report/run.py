"""A bench run's summary and report, and ``proctor bench`` in Python.

:func:`report_run` reads a stored run (:class:`proctor.bench.Store`), summarises it
(:func:`proctor.analysis.summarise_run`) and writes ``out/summary.json``, ``out/summary.md``,
``out/report.html`` and the plots. :func:`run_bench` runs the sweep first
(:func:`proctor.bench.run_sweep`): what ``proctor bench`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from proctor.analysis import MetricRow, TrustRow, dump_rows, summarise_run
from proctor.bench import EpisodeRecord, Store, StoreError, SweepSpec, run_sweep
from proctor.report.render import render_report

__all__ = ["BenchResult", "report_run", "run_bench"]


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
    stopped: str | None = None
    """Why the sweep stopped before its end (``--max-tokens``/``--max-cost``), or None."""


def run_bench(
    spec: SweepSpec,
    out: Path,
    store: str | Path | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    concurrency: int = 8,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    executor: str = "local",
    address: str | None = None,
) -> BenchResult:
    """Run (or finish) a sweep, then summarise and report it: ``proctor bench`` in Python.

    The arguments are :func:`proctor.bench.run_sweep`'s; the summary and report are written to
    `out` (summary.json, summary.md, report.html and plots) by :func:`report_run`.
    """
    sweep = run_sweep(
        spec,
        out,
        store=store,
        workers=workers,
        progress=progress,
        concurrency=concurrency,
        max_tokens=max_tokens,
        max_cost=max_cost,
        executor=executor,
        address=address,
    )
    result = report_run(
        sweep.store, sweep.run_id, out, n_new=sweep.n_new, audit_budgets=spec.audit_budgets
    )
    return replace(result, stopped=sweep.stopped)


def _model_info(spec: SweepSpec, episodes: Sequence[EpisodeRecord]) -> dict[str, str]:
    """The run's models per role and its model use, for the report's header."""
    if spec.models is None or not spec.models.any:
        return {}
    from proctor.models import ROLES

    logs = [e.models for e in episodes if e.models is not None]
    by_role: dict[str, int] = {}
    for log_ in logs:
        for role, n in log_.tokens_by_role().items():
            by_role[role] = by_role.get(role, 0) + n
    priced = all(u.cost is not None for log_ in logs for u in log_.usage)
    cost = sum(log_.cost for log_ in logs)
    return {
        "models": ", ".join(
            f"{role} {spec.models.model_for(role)}" for role in ROLES if spec.models.model_for(role)
        ),
        "model tokens by role": ", ".join(f"{r} {n:,}" for r, n in sorted(by_role.items()))
        or "none",
        "model cost": f"${cost:.4f}" if priced else "not priced (no price known for a model)",
        "scratchpad shown to protocols": "yes" if spec.models.scratchpad_visible else "no",
    }


def report_run(
    db: Store,
    run_id: str,
    out: Path,
    n_new: int = 0,
    audit_budgets: Sequence[float] | None = None,
    meta: dict[str, Any] | None = None,
) -> BenchResult:
    """Summarise a stored run into out/summary.json, summary.md and report.html."""
    spec = db.spec(run_id)
    if spec is None:
        raise StoreError(f"no run {run_id!r} in the store")
    budgets = list(audit_budgets or spec.audit_budgets)
    episodes = db.episodes(run_id)
    summary = summarise_run(episodes, budgets, trusted=spec.trusted())
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(dump_rows(summary.rows))
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
        **_model_info(spec, episodes),
        **({"skipped": note} if (note := spec.skip_note()) else {}),
        **(meta or {}),
    }
    render_report(
        summary.rows,
        [t.model_dump() for t in summary.trust],
        out,
        f"proctor bench: {run_id}",
        info,
    )
    failed = sum(e.error is not None for e in episodes)
    return BenchResult(run_id, summary.rows, summary.trust, out, len(episodes), n_new, failed)
