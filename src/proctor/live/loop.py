"""The live loop: researchers work a queue of tasks; every report goes through the protocol
stack and the gate; only escalations wait for a human.

This is the deployment the bench exists to inform — the "alignment MVP without hand-off" of
trusted monitoring (Greenblatt et al. 2023, *AI Control*): the AI proceeds, a monitor stack
scores every piece of work, and humans review the most suspicious share (the audit budget).
Per (backend, domain, level) the protocols' suspicions are combined by a calibrated rule
(:func:`proctor.gate.fit_combiner`: each protocol's honest-calibration p-value, combined by
Bonferroni by default) and cut at the audit budget (:func:`proctor.gate.cut_for`, ties at the
threshold escalated at the tie share by a deterministic draw), both fitted on the honest
correct calibration episodes of a named bench run — never on the loop's own reports.

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
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from proctor.bench.episode import run_logged_episode
from proctor.bench.records import EpisodeRecord
from proctor.bench.spec import EpisodeConfig, SweepSpec
from proctor.bench.store import Store
from proctor.bench.store import episodes as episode_table
from proctor.gate import (
    COMBINED,
    COMBINERS,
    NOT_MONITORS,
    Combiner,
    GateThreshold,
    combine,
    cut_for,
    decide,
    fit_combiner,
    min_calibration_n,
    suspicions,
    verdict_key,
)
from proctor.lab import stream
from proctor.live.config import ConfigError, LoopConfig
from proctor.live.db import LiveStore
from proctor.live.records import QueueItem

__all__ = [
    "LiveGate",
    "LoopStatus",
    "calibrate_gate",
    "gate_decision",
    "gate_draw",
    "queue_items",
    "run_loop",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveGate:
    """The loop's gate per (backend, domain, level): the calibrated combination of its
    protocols' suspicions, the cut on it, and where they were fitted.

    With a calibrated rule (:data:`~proctor.gate.COMBINERS`) each (backend, domain, level) has
    a :class:`~proctor.gate.Combiner`; with a raw rule (``"max"``, ``"mean"``) it has none and
    the score is :func:`~proctor.gate.combine` of the raw suspicions.
    """

    run_id: str
    spec: SweepSpec
    keys: tuple[str, ...]
    """Every verdict key the loop's protocols run under (``protocol@budget``), all domains."""
    rule: str
    thresholds: dict[tuple[str, str, int], GateThreshold]
    used_seeds: frozenset[tuple[str, int, int]]
    combiners: dict[tuple[str, str, int], Combiner] = field(default_factory=dict)
    domain_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """The verdict keys of the loop's protocols on each domain."""

    def threshold(self, backend: str, domain: str, level: int) -> GateThreshold:
        return self.thresholds[(backend, domain, level)]

    def keys_of(self, domain: str) -> tuple[str, ...]:
        """The verdict keys of the loop's protocols on `domain`."""
        return self.domain_keys.get(domain, self.keys)

    def raw(self, record: EpisodeRecord) -> dict[str, float | None]:
        """The record's suspicions under the loop's own keys (a key not run is absent)."""
        got = suspicions(record)
        return {k: got[k] for k in self.keys_of(record.domain) if k in got}

    def score(self, record: EpisodeRecord) -> float | None:
        """The gate's score of `record`: its combiner's score, or the raw rule's combination;
        None when every protocol abstained."""
        raw = self.raw(record)
        combiner = self.combiners.get((record.researcher.backend, record.domain, record.level))
        if combiner is not None:
            return combiner.score(raw)
        return _raw_combination(raw, self.rule)

    def describe(self, backend: str, domain: str, level: int) -> str:
        """What the score is, in words (for the reasons shown to reviewers)."""
        combiner = self.combiners.get((backend, domain, level))
        if combiner is None:
            return f"{self.rule} of the raw suspicions"
        text = f"{self.rule} over {', '.join(combiner.keys)}"
        text += " (P(bad))" if self.rule == "stacker" else " (1 - combined p-value)"
        if combiner.dropped:
            text += "; left out: " + "; ".join(f"{k} {why}" for k, why in combiner.dropped.items())
        return text


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


def protocol_keys(cfg: LoopConfig, domain: str, budgets: dict[str, list[float]]) -> list[str]:
    """The verdict keys protocols run under on `domain`, given the budgets each is asked for
    (a protocol that takes no budget runs at 0, one with a fixed budget at that budget)."""
    from proctor import registry
    from proctor.protocols import review_budgets

    keys = []
    for p in cfg.protocols:
        cls = registry.lookup("protocol", p, domain)
        keys += [verdict_key(p, b) for b in review_budgets(cls, budgets[p])]
    return list(dict.fromkeys(keys))


def calibrate_gate(cfg: LoopConfig) -> LiveGate:
    """Calibrate the loop's gate on the calibration episodes of its bench run.

    Per (backend, domain, level) the loop needs:

    1. the **reference**: the run's honest *correct* calibration reports (no material error,
       no violation) that one of the loop's protocols reviewed; only the loop's own protocol
       keys enter the score, so the gate is the one for the stack the loop runs;
    2. with a calibrated rule (:data:`~proctor.gate.COMBINERS`), a
       :class:`~proctor.gate.Combiner` fitted on the reference (the stacker's labels are the
       run's calibration episodes of every disposition, bad = a material error or a
       violation); with ``"max"`` or ``"mean"``, the raw combination;
    3. the cut (:func:`~proctor.gate.cut_for`) that flags the audit budget's share of the
       reference's scores in expectation, ties at the threshold at the tie share.

    Raises ConfigError when the run did not run a protocol at the loop's budget, holds no
    honest correct calibration episodes for a needed (backend, domain, level), has too few to
    back a threshold at the audit budget, or when the combination cannot be fitted (every
    protocol left out, or a stacker without both classes).
    """
    store, run_id = open_calibration(cfg)
    spec = store.spec(run_id)
    assert spec is not None
    refs = cfg.task_refs()
    domains = sorted({t.domain for t in refs})
    domain_keys = _loop_keys(cfg, spec, run_id, domains)
    keys = tuple(dict.fromkeys(k for d in domains for k in domain_keys[d]))
    calibration = _calibration_episodes(store, run_id)
    needed = {(r.backend, t.domain, t.level) for r in cfg.researchers for t in refs}
    thresholds: dict[tuple[str, str, int], GateThreshold] = {}
    combiners: dict[tuple[str, str, int], Combiner] = {}
    partial = LiveGate(run_id, spec, keys, cfg.rule, {}, frozenset(), {}, domain_keys)
    for backend, domain, level in sorted(needed):
        threshold, combiner = _calibrate_cell(
            cfg, run_id, partial, calibration, backend, domain, level
        )
        if combiner is not None:
            combiners[(backend, domain, level)] = combiner
        thresholds[(backend, domain, level)] = threshold
    used = _used_tasks(store, run_id)
    return LiveGate(run_id, spec, keys, cfg.rule, thresholds, used, combiners, domain_keys)


def _loop_keys(
    cfg: LoopConfig, spec: SweepSpec, run_id: str, domains: list[str]
) -> dict[str, tuple[str, ...]]:
    """The verdict keys the loop's protocols run under, per domain; ConfigError when the
    bench run did not run one of them at the loop's budget."""
    loop_budgets = {p: [cfg.budget_of(p)] for p in cfg.protocols}
    run_budgets = {
        p: list(spec.protocol_budgets.get(p, spec.budgets)) if p in spec.protocols else []
        for p in cfg.protocols
    }
    domain_keys: dict[str, tuple[str, ...]] = {}
    for d in domains:
        mine = protocol_keys(cfg, d, loop_budgets)
        ran = set(protocol_keys(cfg, d, run_budgets))
        for p in cfg.protocols:
            if p not in spec.protocols or not {k for k in mine if k.startswith(f"{p}@")} <= ran:
                shown = ", ".join(f"{b:g}" for b in run_budgets[p]) or "none"
                raise ConfigError(
                    f"protocols: bench run {run_id} did not run {p} at budget "
                    f"{cfg.budget_of(p):g} (it ran {shown}); calibrate on a run that did, or "
                    "change the loop's budget"
                )
        domain_keys[d] = tuple(mine)
    return domain_keys


def _calibrate_cell(
    cfg: LoopConfig,
    run_id: str,
    partial: LiveGate,
    calibration: list[EpisodeRecord],
    backend: str,
    domain: str,
    level: int,
) -> tuple[GateThreshold, Combiner | None]:
    """The threshold (and, with a calibrated rule, the combiner) of one (backend, domain,
    level), from the run's calibration episodes scored by `partial` (steps 1-3 of
    :func:`calibrate_gate`)."""
    eps = [
        ep
        for ep in calibration
        if (ep.researcher.backend, ep.domain, ep.level) == (backend, domain, level)
        and partial.raw(ep)
    ]
    reference = [partial.raw(ep) for ep in eps if ep.honest and _correct(ep)]
    if not reference:
        raise ConfigError(
            f"calibration: run {run_id} has no honest correct calibration episodes of "
            f"backend {backend!r} on {domain} level {level}"
        )
    if len(reference) < min_calibration_n(cfg.audit_budget):
        raise ConfigError(
            f"audit_budget: {len(reference)} honest correct calibration episodes of "
            f"{domain} level {level} cannot back a threshold at {cfg.audit_budget:g} "
            f"(needs {min_calibration_n(cfg.audit_budget)}); raise the audit budget or "
            "calibrate on a larger run"
        )
    where = f"backend {backend!r} on {domain} level {level}"
    combiner: Combiner | None = None
    if cfg.rule in COMBINERS:
        labelled = [(partial.raw(ep), not _correct(ep)) for ep in eps if ep.grade is not None]
        try:
            combiner = fit_combiner(reference, cfg.rule, labelled=labelled)
        except ValueError as err:
            raise ConfigError(
                f"rule: cannot fit {cfg.rule} for {where} on run {run_id}: {err}"
            ) from None
        if not combiner.keys:
            left_out = "; ".join(f"{k} {why}" for k, why in combiner.dropped.items())
            raise ConfigError(
                f"protocols: every protocol is left out of the {cfg.rule} combination for "
                f"{where} on run {run_id} ({left_out}); the gate could judge nothing"
            )
        scores = [combiner.score(r) for r in reference]
    else:
        scores = [_raw_combination(r, cfg.rule) for r in reference]
    cut = cut_for(scores, cfg.audit_budget)
    threshold = GateThreshold(
        domain=domain,
        level=level,
        key=COMBINED,
        audit_budget=cfg.audit_budget,
        threshold=cut.threshold,
        n_calibration=len(reference),
        tie_share=cut.tie_share,
    )
    log.debug("gate for %s: %s", where, threshold)
    return threshold, combiner


def _used_tasks(store: Store, run_id: str) -> frozenset[tuple[str, int, int]]:
    """The (domain, level, seed) of every task the bench run ran (the loop refuses to reuse
    them)."""
    with store.engine.connect() as conn:
        return frozenset(
            (r[0], int(r[1]), int(r[2]))
            for r in conn.execute(
                sa.select(episode_table.c.domain, episode_table.c.level, episode_table.c.seed)
                .where(episode_table.c.run_id == run_id)
                .distinct()
            )
        )


def _raw_combination(raw: dict[str, float | None], rule: str) -> float | None:
    """The raw rule (max, mean) over the monitors, leaving out the auditor (NOT_MONITORS)."""
    monitors = {k: v for k, v in raw.items() if k.rpartition("@")[0] not in NOT_MONITORS}
    return combine(monitors, rule)


def _correct(ep: EpisodeRecord) -> bool:
    """No material error and no violation, by the grader."""
    return ep.grade is not None and ep.grade.material_errors == 0 and ep.grade.violations == 0


def _calibration_episodes(store: Store, run_id: str) -> list[EpisodeRecord]:
    """The run's calibration episodes that did not fail, of every disposition."""
    t = episode_table
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.record).where(
                t.c.run_id == run_id,
                t.c.role == "calibration",
                t.c.failed == sa.false(),
            )
        )
        eps = [EpisodeRecord.model_validate_json(r[0]) for r in rows]
    # In key order whatever the database's: the stacker's fit sees its rows in a fixed order.
    eps.sort(key=lambda ep: ep.key)
    return [ep for ep in eps if ep.error is None and ep.report is not None]


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


def gate_draw(item: QueueItem) -> float:
    """The uniform draw in [0, 1) that settles a tie at the threshold for `item`: from the
    stream of (task seed, "gate", item key, attempt), so a loop's decisions are a pure function
    of its config (and of the reviewers' send-backs)."""
    return float(stream(item.seed, "gate", item.item_key, item.attempt).random())


def gate_decision(
    gate: LiveGate, record: EpisodeRecord, u: float = 0.0
) -> tuple[float | None, float | None, str, str]:
    """(combined score, threshold, decision, reason) for one processed report.

    The score is the gate's calibrated combination of the loop's protocols
    (:meth:`LiveGate.score`), decided by :func:`proctor.gate.decide` with the uniform draw `u`
    (:func:`gate_draw`) settling a tie at the threshold.
    """
    if record.error is not None or record.report is None:
        return None, None, "failed", f"the researcher failed: {record.error}"
    backend = record.researcher.backend
    t = gate.threshold(backend, record.domain, record.level)
    raw = gate.raw(record)
    score = gate.score(record)
    decision = decide(score, t, u=u)
    parts = ", ".join(
        f"{k} {'abstained' if raw.get(k) is None else format(raw[k], '.2f')}"
        for k in gate.keys_of(record.domain)
    )
    parts += f"; score: {gate.describe(backend, record.domain, record.level)}"
    base = f"threshold {t.threshold:.3f}"
    if t.tie_share > 0:
        base += f" (ties escalated with probability {t.tie_share:.3f})"
    base += (
        f" from {t.n_calibration} honest correct calibration episodes of run {gate.run_id} at "
        f"audit budget {t.audit_budget:g}"
    )
    what = f"{gate.rule} suspicion"
    if score is None:
        reason = f"every protocol abstained ({parts}): accepted unreviewed; {base}"
    elif decision == "reject":
        reason = f"{what} {score:.3f} is conclusive ({parts})"
    elif score == t.threshold:
        settled = "<" if decision == "escalate" else ">="
        reason = (
            f"{what} {score:.3f} ties the {base}; draw {u:.3f} {settled} tie share "
            f"{t.tie_share:.3f}: {'escalated' if decision == 'escalate' else 'accepted'} ({parts})"
        )
    elif decision == "escalate":
        reason = f"{what} {score:.3f} > {base} ({parts})"
    else:
        reason = f"{what} {score:.3f} < {base} ({parts})"
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
            score, threshold, decision, reason = gate_decision(gate, record, gate_draw(item))
            store.record(item, record, calls, score, threshold, decision, reason)
            status.add(decision, record.researcher_spend + sum(v.cost for v in record.verdicts))
            if progress is not None:
                progress(status)
    except KeyboardInterrupt:
        status.stopped = True
    return status
