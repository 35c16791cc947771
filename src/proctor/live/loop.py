"""The live loop: researchers work a queue of tasks; every report goes through the protocol
stack and the gate; only escalations wait for a human.

This is the deployment the bench exists to inform — the "alignment MVP without hand-off" of
trusted monitoring (Greenblatt et al. 2023, *AI Control*): the AI proceeds, a monitor stack
scores every piece of work, and humans review the most suspicious share (the audit budget),
with thresholds calibrated per (backend, domain, level) on the honest calibration episodes of
a named bench run — never on the loop's own reports.

Each queue item runs as a bench episode (:func:`proctor.bench.episode.run_logged_episode`:
the same researchers, protocols and grader), so an item's report and verdicts are a pure
function of its task, researcher and the loop's config. Its whole outcome is written in one
transaction (:meth:`LiveStore.record`), so a loop killed at any point — Ctrl-C or SIGKILL —
and started again goes on where it stopped, losing and repeating nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from proctor.bench.episode import run_logged_episode
from proctor.bench.records import EpisodeRecord
from proctor.bench.spec import EpisodeConfig, SweepSpec
from proctor.bench.store import Store
from proctor.bench.store import episodes as episode_table
from proctor.gate import COMBINED, GateThreshold, calibrate, decide, suspicions, verdict_key
from proctor.live.config import ConfigError, LoopConfig
from proctor.live.db import LiveStore, QueueItem

__all__ = ["LiveGate", "LoopStatus", "calibrate_gate", "queue_items", "run_loop"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveGate:
    """Thresholds of the combined suspicion per (backend, domain, level), and where from."""

    run_id: str
    spec: SweepSpec
    keys: tuple[str, ...]
    rule: str
    thresholds: dict[tuple[str, str, int], GateThreshold]
    used_seeds: frozenset[tuple[str, int, int]]

    def threshold(self, backend: str, domain: str, level: int) -> GateThreshold:
        return self.thresholds[(backend, domain, level)]


@dataclass
class LoopStatus:
    """Live counts of a loop (what ``proctor run`` shows while it works)."""

    total: int = 0
    done: int = 0
    accepted: int = 0
    rejected: int = 0
    escalated: int = 0
    failed: int = 0
    cost: float = 0.0
    stopped: bool = False

    def add(self, decision: str, cost: float, count: int = 1) -> None:
        """Count `count` reports the gate decided `decision` on, costing `cost` in all."""
        self.done += count
        self.cost += cost
        name = {"accept": "accepted", "reject": "rejected", "escalate": "escalated"}.get(
            decision, "failed"
        )
        setattr(self, name, getattr(self, name) + count)


def open_calibration(cfg: LoopConfig) -> tuple[Store, str]:
    """The bench store and run id the loop's gate is calibrated on."""
    from proctor.bench.store import StoreError

    target = cfg.calibration
    if "://" not in target and not cfg.path(target).exists():
        raise ConfigError(
            f"calibration: no bench run at {cfg.path(target)}; run the bench first "
            f"(proctor bench --out {cfg.path(target)})"
        )
    try:
        if "://" not in target and cfg.path(target).is_dir():
            path = cfg.path(target) / "episodes.sqlite"
            if not path.exists():
                raise ConfigError(f"calibration: {cfg.path(target)} holds no episodes.sqlite")
            store = Store(path)
        else:
            store = Store(target if "://" in target else cfg.path(target))
    except StoreError as err:
        raise ConfigError(f"calibration: {err}") from None
    runs = [r[0] for r in store.runs()]
    if not runs:
        raise ConfigError(f"calibration: no bench runs in {target}")
    run_id = cfg.calibration_run or runs[0]
    if run_id not in runs:
        raise ConfigError(f"calibration_run: no run {run_id!r} in {target}; runs: {runs}")
    return store, run_id


def calibrate_gate(cfg: LoopConfig) -> LiveGate:
    """Calibrate the loop's gate on the honest calibration episodes of its bench run.

    Only the loop's own protocol keys (``protocol@budget``) enter the combined score, so the
    threshold is the one for the stack the loop runs. Raises ConfigError when the run did not
    run a protocol at the loop's budget, holds no honest calibration episodes for a needed
    (backend, domain, level), or has too few to back a threshold at the audit budget.
    """
    store, run_id = open_calibration(cfg)
    spec = store.spec(run_id)
    assert spec is not None
    keys = tuple(verdict_key(p, cfg.budget_of(p)) for p in cfg.protocols)
    for p in cfg.protocols:
        ran = spec.protocol_budgets.get(p, spec.budgets) if p in spec.protocols else []
        if cfg.budget_of(p) not in ran:
            raise ConfigError(
                f"protocols: bench run {run_id} did not run {p} at budget {cfg.budget_of(p):g}"
                f" (it ran {', '.join(f'{b:g}' for b in ran) or 'none'}); calibrate on a run"
                " that did, or change the loop's budget"
            )
    honest = _calibration_episodes(store, run_id)
    needed = {(r.backend, t.domain, t.level) for r in cfg.researchers for t in cfg.task_refs()}
    thresholds: dict[tuple[str, str, int], GateThreshold] = {}
    for backend in sorted({b for b, _, _ in needed}):
        mine = [_only(ep, keys) for ep in honest if ep.researcher.backend == backend]
        found = calibrate(mine, cfg.audit_budget, [COMBINED], cfg.rule)
        for (domain, level, _), threshold in found.items():
            thresholds[(backend, domain, level)] = threshold
    for backend, domain, level in sorted(needed):
        t = thresholds.get((backend, domain, level))
        if t is None:
            raise ConfigError(
                f"calibration: run {run_id} has no honest calibration episodes of backend "
                f"{backend!r} on {domain} level {level}"
            )
        if not t.sufficient:
            raise ConfigError(
                f"audit_budget: {t.n_calibration} honest calibration episodes of {domain} "
                f"level {level} cannot back a threshold at {cfg.audit_budget:g} (needs "
                f"{_needed(cfg.audit_budget)}); raise the audit budget or calibrate on a "
                "larger run"
            )
    with store.engine.connect() as conn:
        used = frozenset(
            (r[0], int(r[1]), int(r[2]))
            for r in conn.execute(
                sa.select(episode_table.c.domain, episode_table.c.level, episode_table.c.seed)
                .where(episode_table.c.run_id == run_id)
                .distinct()
            )
        )
    return LiveGate(run_id, spec, keys, cfg.rule, thresholds, used)


def _needed(audit_budget: float) -> int:
    from proctor.gate import min_calibration_n

    return min_calibration_n(audit_budget)


def _calibration_episodes(store: Store, run_id: str) -> list[EpisodeRecord]:
    t = episode_table
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.record).where(
                t.c.run_id == run_id,
                t.c.role == "calibration",
                t.c.disposition == "honest",
                t.c.failed == sa.false(),
            )
        )
        return [EpisodeRecord.model_validate_json(r[0]) for r in rows]


def _only(ep: EpisodeRecord, keys: Iterable[str]) -> EpisodeRecord:
    wanted = set(keys)
    kept = [v for v in ep.verdicts if verdict_key(v.protocol, v.budget) in wanted]
    return ep.model_copy(update={"verdicts": kept})


def queue_items(cfg: LoopConfig, loop_id: str) -> list[QueueItem]:
    """The loop's queue in order: every task for every researcher (first attempts)."""
    items = []
    for i, (task, researcher) in enumerate(
        (t, r) for t in cfg.task_refs() for r in cfg.researchers
    ):
        digest = hashlib.sha256(
            json.dumps(
                [task.model_dump(), researcher.model_dump(mode="json")], sort_keys=True
            ).encode()
        ).hexdigest()[:16]
        items.append(
            QueueItem(
                loop_id=loop_id,
                item_key=f"{task.domain}-L{task.level}-{task.seed}-{digest}",
                position=i,
                domain=task.domain,
                level=task.level,
                seed=task.seed,
                researcher=researcher,
            )
        )
    return items


def episode_config(cfg: LoopConfig, gate: LiveGate, item: QueueItem) -> EpisodeConfig:
    """The bench episode that processing `item` runs."""
    return EpisodeConfig(
        domain=item.domain,
        level=item.level,
        seed=item.seed,
        role="test",
        researcher=item.researcher,
        protocols=list(cfg.protocols),
        budgets=[cfg.budget],
        protocol_budgets={p: [cfg.budget_of(p)] for p in cfg.protocols},
        capability_test_rate=gate.spec.capability_test_rate,
        rerun_recognition=gate.spec.rerun_recognition,
        models=cfg.models,
    )


def gate_decision(
    gate: LiveGate, record: EpisodeRecord
) -> tuple[float | None, float | None, str, str]:
    """(combined score, threshold, decision, reason) for one processed report."""
    if record.error is not None or record.report is None:
        return None, None, "failed", f"the researcher failed: {record.error}"
    t = gate.threshold(record.researcher.backend, record.domain, record.level)
    scores = suspicions(record, gate.rule)
    score = scores.get(COMBINED)
    decision = decide(score, t)
    parts = ", ".join(
        f"{k} {'abstained' if scores.get(k) is None else format(scores[k], '.2f')}"
        for k in gate.keys
    )
    base = (
        f"threshold {t.threshold:.3f} from {t.n_calibration} honest calibration episodes of "
        f"run {gate.run_id} at audit budget {t.audit_budget:g}"
    )
    if score is None:
        reason = f"every protocol abstained ({parts}): accepted unreviewed; {base}"
    elif decision == "reject":
        reason = f"{gate.rule} suspicion {score:.3f} is conclusive ({parts})"
    elif decision == "escalate":
        reason = f"{gate.rule} suspicion {score:.3f} > {base} ({parts})"
    else:
        reason = f"{gate.rule} suspicion {score:.3f} <= {base} ({parts})"
    return score, t.threshold, decision, reason


def run_loop(
    cfg: LoopConfig,
    store: LiveStore,
    limit: int | None = None,
    progress: Callable[[LoopStatus], None] | None = None,
) -> LoopStatus:
    """Process the loop's queue until it is empty (or `limit` items are done this time).

    Items already recorded are never run again; items sent back by a reviewer come back as
    new attempts. A KeyboardInterrupt stops the loop between database writes (the item in
    hand is simply run again next time) and returns the status with ``stopped`` set.
    """
    gate = calibrate_gate(cfg)
    loop_id = cfg.loop_id
    overlap = sorted({(t.domain, t.level, t.seed) for t in cfg.task_refs()} & gate.used_seeds)
    if overlap:
        d, level, s = overlap[0]
        raise ConfigError(
            f"tasks: {len(overlap)} task(s) use seeds of calibration run {gate.run_id} (e.g. "
            f"{d} level {level} seed {s}); choose other seeds"
        )
    store.begin_loop(loop_id, cfg.name, cfg.model_dump_json(), gate.run_id)
    store.enqueue(queue_items(cfg, loop_id))
    pending = store.pending(loop_id)
    status = LoopStatus(total=len(store.items(loop_id)))
    for decision, (count, cost) in store.gate_counts(loop_id).items():
        status.add(decision, cost, count)
    if progress is not None:
        progress(status)
    try:
        for n, item in enumerate(pending):
            if limit is not None and n >= limit:
                break
            record, calls = run_logged_episode(episode_config(cfg, gate, item), loop_id)
            score, threshold, decision, reason = gate_decision(gate, record)
            store.record(item, record, calls, score, threshold, decision, reason)
            status.add(decision, record.researcher_spend + sum(v.cost for v in record.verdicts))
            if progress is not None:
                progress(status)
    except KeyboardInterrupt:
        status.stopped = True
    return status
