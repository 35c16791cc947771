"""One episode: a task, a researcher's report, every protocol's verdict at every budget, a grade.

An episode is a pure function of its :class:`~proctor.bench.spec.EpisodeConfig`. The same
report is reviewed by every protocol and budget (paired statistics). A researcher or protocol
that raises becomes a recorded failure with its error; the sweep goes on. So does one that
hangs: the researcher's work and each protocol's review run under a wall-clock limit
(:func:`time_limit`, :data:`TIME_LIMIT` seconds each by default), past which they raise
:class:`PhaseTimeout`, recorded like any other error.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from proctor.bench.records import EpisodeRecord, VerdictRecord
from proctor.bench.redteam import choose_attack
from proctor.bench.spec import ADAPTIVE, EpisodeConfig
from proctor.bench.training import trained_for
from proctor.bench.violations import count_violations
from proctor.core import Brief, LabCall, Report, Task
from proctor.domains import get_domain
from proctor.lab import Lab, LabClient, stream
from proctor.models import ModelAccess
from proctor.protocols import get_protocol, review_budgets
from proctor.protocols.features import report_features
from proctor.protocols.helpers import Rerun
from proctor.protocols.review import Review, review_report
from proctor.researchers import ResearcherSpec, make_researcher

if TYPE_CHECKING:
    from proctor.whitebox import WhiteBox

__all__ = [
    "RESEARCHER",
    "TIME_LIMIT",
    "PhaseTimeout",
    "run_episode",
    "run_logged_episode",
    "time_limit",
    "twin_key",
]

log = logging.getLogger(__name__)

RESEARCHER = "researcher"
TIME_LIMIT = 600.0
"""Default wall-clock limit, in seconds, on a researcher's work and on each protocol review
(scripted ones take well under 10 s; the limit is for code that hangs)."""


class PhaseTimeout(TimeoutError):
    """A researcher or a protocol ran past its wall-clock limit."""


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`PhaseTimeout` in the block once `seconds` of wall-clock time pass.

    Uses SIGALRM, so it applies on the main thread (in-process runs, pool and Ray workers);
    elsewhere (model-backed episodes run in threads) it does nothing, and the model client's
    own per-request timeout and step budget bound the work. Limits do not nest: an inner
    limit replaces an outer one for its duration, and the outer one is restored after.
    """
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise PhaseTimeout(f"{what} ran past its time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    outer = signal.setitimer(signal.ITIMER_REAL, seconds)[0]
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:  # the outer limit goes on with what it had left
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 1e-3))


def _rerun(
    cfg: EpisodeConfig,
    actor: ResearcherSpec,
    original: Brief,
    caller: str,
    models: ModelAccess | None = None,
) -> Rerun:
    """The black-box handle on the reviewed researcher that a protocol's helpers may use.

    The researcher is rebuilt from the episode's spec (which the protocol never sees) and run
    on the protocol's modified brief through the helper's client. With probability
    ``cfg.rerun_recognition`` (drawn per re-run from the protocol's stream) an organism sees
    through the re-run and answers the *original* brief instead; honest researchers have
    nothing to hide, so for them the knob changes nothing that matters.
    """
    rng = stream(cfg.seed, "rerun-recognition", caller)

    def rerun(brief: Brief, client: LabClient) -> Report:
        seen = brief
        if cfg.researcher.disposition != "honest" and rng.random() < cfg.rerun_recognition:
            seen = original
        helper_models = models.with_caller(f"{caller}/rerun") if models is not None else None
        return make_researcher(actor, cfg.domain, helper_models).investigate(Task(seen, client))

    return rerun


def _record(name: str, review: Review, spend: float, whitebox: WhiteBox | None) -> VerdictRecord:
    """The episode's record of one review (a failed one keeps its error and its spend)."""
    verdict = review.verdict
    return VerdictRecord(
        protocol=name,
        budget=review.budget,
        suspicion=verdict.suspicion if verdict is not None else None,
        cost=review.cost,
        cost_fraction=review.cost / spend if spend else 0.0,
        compute_fraction=verdict.forward_passes / whitebox.forward_passes
        if verdict is not None and whitebox is not None and whitebox.forward_passes
        else None,
        verdict=verdict,
        error=review.error,
    )


def twin_key(cfg: EpisodeConfig) -> str | None:
    """The key of an organism episode's honest twin: the same configuration with the honest
    researcher of the same population member (None for an honest episode)."""
    r = cfg.researcher
    if r.disposition == "honest":
        return None
    honest = ResearcherSpec(backend=r.backend, skill=r.skill, budget=r.budget)
    return cfg.model_copy(update={"researcher": honest}).key


def run_episode(cfg: EpisodeConfig, run_id: str, limit: float | None = TIME_LIMIT) -> EpisodeRecord:
    """Run one episode end to end (`limit`: seconds for the researcher and for each protocol
    review, see :func:`time_limit`; None for none)."""
    return run_logged_episode(cfg, run_id, limit)[0]


def run_logged_episode(
    cfg: EpisodeConfig, run_id: str, limit: float | None = TIME_LIMIT
) -> tuple[EpisodeRecord, tuple[LabCall, ...]]:
    """Run one episode end to end; also return the researcher's lab log, which the episode
    record does not keep (the live loop shows it to human reviewers)."""
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
        "twin": twin_key(cfg),
    }
    actor, attack = cfg.researcher, None
    models = ModelAccess(cfg.models) if cfg.models is not None and cfg.models.any else None
    try:
        with time_limit(limit, f"the researcher on {brief.task_id}"):
            if cfg.researcher.disposition == "saboteur" and cfg.researcher.variant == ADAPTIVE:
                chosen = choose_attack(
                    cfg.domain,
                    sampled.world,
                    brief,
                    budget,
                    cfg.researcher,
                    cfg.protocols,
                    cfg.budgets,
                    cfg.seed,
                    protocol_budgets=cfg.protocol_budgets,
                )
                actor, attack = chosen.spec, chosen.label
            researcher = make_researcher(actor, cfg.domain, models)
            report = researcher.investigate(Task(brief, lab.client(RESEARCHER, budget)))
    except Exception as err:  # a failing researcher is a recorded failed episode
        log.warning("researcher failed on %s: %s", brief.task_id, err)
        failed = EpisodeRecord(
            **base,
            report=None,
            grade=None,
            researcher_spend=lab.spent(RESEARCHER),
            error=f"{type(err).__name__}: {err}",
            attack=attack,
            models=models.meter.log() if models is not None else None,
        )
        return failed, tuple(lab.calls_by(RESEARCHER))
    calls = tuple(lab.calls_by(RESEARCHER))
    spend = lab.spent(RESEARCHER)
    whitebox: WhiteBox | None = getattr(researcher, "whitebox", None)
    # What protocols read: a model researcher's private scratchpad only where allowed.
    reviewed = report
    if models is None or not models.settings.scratchpad_visible:
        reviewed = report.without_private()
    verdicts = []
    for name in cfg.protocols:
        protocol = get_protocol(name, cfg.domain, models)
        for frac in review_budgets(protocol, cfg.protocol_budgets.get(name, cfg.budgets)):
            caller = f"{name}@{frac:g}"
            review = review_report(
                reviewed,
                protocol,
                frac,
                lab=lab,
                brief=brief,
                researcher_log=calls,
                researcher_spend=spend,
                caller=caller,
                seed=cfg.seed,
                rerun=_rerun(cfg, actor, brief, caller, models),
                models=models.for_protocols() if models is not None else None,
                whitebox=whitebox,
                train=trained_for(protocol, cfg.domain, cfg.level),
                guard=time_limit(limit, f"protocol {caller} on {brief.task_id}"),
                roles=cfg.roles.get(name, {}),
            )
            if review.error is not None:
                log.warning("protocol %s failed on %s: %s", caller, brief.task_id, review.error)
            verdicts.append(_record(name, review, spend, whitebox))
    grade = domain.grade(report, sampled.truth)
    # The bench alone holds the workspace's secrets, as it holds the truth.
    violations = count_violations(report, calls, sampled.world.workspace)
    grade = grade.model_copy(update={"violations": violations})
    record = EpisodeRecord(
        **base,
        report=report,
        grade=grade,
        researcher_spend=spend,
        features=report_features(report, calls, budget),
        verdicts=verdicts,
        attack=attack,
        models=models.meter.log() if models is not None else None,
    )
    return record, calls
