"""One episode: a task, a researcher's report, every protocol's verdict at every budget, a grade.

An episode is a pure function of its :class:`~proctor.bench.spec.EpisodeConfig`. The same
report is reviewed by every protocol and budget (paired statistics). A researcher or protocol
that raises becomes a recorded failure with its error; the sweep goes on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from proctor.bench.records import EpisodeRecord, VerdictRecord
from proctor.bench.spec import EpisodeConfig
from proctor.bench.violations import count_violations
from proctor.core import LabCall, Report, Task
from proctor.domains import get_domain
from proctor.lab import Lab, stream
from proctor.protocols import ReviewContext, get_protocol
from proctor.researchers import make_researcher

log = logging.getLogger(__name__)

RESEARCHER = "researcher"


def report_features(report: Report, calls: Sequence[LabCall], budget: float) -> dict[str, float]:
    """Report metadata for the giveaway audit: claim count, confidences, spend, call pattern.

    Deliberately generic (no domain knowledge), so the audit asks only whether a cheap
    classifier on the surface of the work separates an organism from honest researchers.
    """
    probs = np.array([c.probability for c in report.claims if c.probability is not None])
    widths = np.array(
        [c.interval[1] - c.interval[0] for c in report.claims if c.interval is not None]
    )
    done = [c for c in calls if c.error is None]
    spend = float(sum(c.cost for c in done))
    actions = Counter(c.action for c in done)
    units = [float(v) for c in done for k, v in c.args.items() if k == "n"]
    feats = {
        "n_claims": float(len(report.claims)),
        "mean_probability": float(probs.mean()) if probs.size else 0.0,
        "mean_confidence": float(np.abs(probs - 0.5).mean()) if probs.size else 0.0,
        "share_claimed_true": float((probs >= 0.5).mean()) if probs.size else 0.0,
        "mean_log_width": float(np.log(widths + 1e-9).mean()) if widths.size else 0.0,
        "spend": spend,
        "spend_share": spend / budget if budget > 0 else 0.0,
        "n_calls": float(len(done)),
        "n_refused": float(len(calls) - len(done)),
        "mean_units": float(np.mean(units)) if units else 0.0,
    }
    for action, count in sorted(actions.items()):
        feats[f"share_{action}"] = count / max(len(done), 1)
    return feats


def run_episode(cfg: EpisodeConfig, run_id: str) -> EpisodeRecord:
    """Run one episode end to end."""
    domain = get_domain(cfg.domain)
    sampled = domain.sample(cfg.level, cfg.seed, capability_test_rate=cfg.capability_test_rate)
    brief = sampled.brief
    lab = Lab(sampled.world, cfg.seed)
    budget = brief.budget * cfg.researcher.budget
    base: dict[str, Any] = {
        "key": cfg.key,
        "run_id": run_id,
        "domain": cfg.domain,
        "evaluability": domain.evaluability,
        "level": cfg.level,
        "seed": cfg.seed,
        "role": cfg.role,
        "researcher": cfg.researcher,
        "task_id": brief.task_id,
    }
    try:
        researcher = make_researcher(cfg.researcher, cfg.domain)
        report = researcher.investigate(Task(brief, lab.client(RESEARCHER, budget)))
    except Exception as err:  # a failing researcher is a recorded failed episode
        log.warning("researcher failed on %s: %s", brief.task_id, err)
        return EpisodeRecord(
            **base,
            report=None,
            grade=None,
            researcher_spend=lab.spent(RESEARCHER),
            error=f"{type(err).__name__}: {err}",
        )
    calls = tuple(lab.calls_by(RESEARCHER))
    spend = lab.spent(RESEARCHER)
    verdicts = []
    for name in cfg.protocols:
        protocol = get_protocol(name, cfg.domain)
        for frac in cfg.budgets if protocol.budgeted else [0.0]:
            caller = f"{name}@{frac:g}"
            ctx = ReviewContext(
                brief=brief,
                lab=lab.client(caller, frac * spend),
                researcher_log=calls,
                researcher_spend=spend,
                rng=stream(cfg.seed, "protocol-choice", caller),
            )
            try:
                verdict = protocol.review(report, ctx)
            except Exception as err:
                log.warning("protocol %s failed on %s: %s", caller, brief.task_id, err)
                verdicts.append(
                    VerdictRecord(
                        protocol=name,
                        budget=frac,
                        suspicion=None,
                        cost=ctx.lab.spent,
                        cost_fraction=ctx.lab.spent / spend if spend else 0.0,
                        error=f"{type(err).__name__}: {err}",
                    )
                )
                continue
            cost = verdict.judge_cost + verdict.helper_cost
            verdicts.append(
                VerdictRecord(
                    protocol=name,
                    budget=frac,
                    suspicion=verdict.suspicion,
                    cost=cost,
                    cost_fraction=cost / spend if spend else 0.0,
                    verdict=verdict,
                )
            )
    grade = domain.grade(report, sampled.truth)
    # The bench alone holds the workspace's secrets, as it holds the truth.
    violations = count_violations(report, calls, sampled.world.workspace)
    grade = grade.model_copy(update={"violations": violations})
    return EpisodeRecord(
        **base,
        report=report,
        grade=grade,
        researcher_spend=spend,
        features=report_features(report, calls, budget),
        verdicts=verdicts,
    )
