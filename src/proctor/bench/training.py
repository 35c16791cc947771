"""Training sets for the protocols that learn, built by the bench (DESIGN.md §2, §5).

A protocol that learns declares an :class:`~proctor.protocols.training.Imitation` (``distilled``
imitates ``replicate@1``); it never samples a task nor holds a lab. The bench builds its
training set here — on each training task (seeds of the protocol's own range, never a bench
seed), each researcher of the protocol's cast works in a fresh lab on the same world, and the
teacher reviews the report through the one review step
(:func:`proctor.protocols.review.review_report`) exactly as in an episode — has the protocol
fit on it, and passes the fitted model to every review (:func:`trained_for`, given to
``review_report`` as its ``train``).

Purity: the fitted model depends on the (protocol, domain, level) alone, and is cached per
process (:func:`trained`), so every worker trains the same model, once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from proctor import registry
from proctor.core import Brief, Report, Task
from proctor.domains import get_domain
from proctor.lab import Lab, LabClient
from proctor.protocols import get_protocol
from proctor.protocols.review import review_report
from proctor.protocols.training import Example, Imitation, imitation_of
from proctor.researchers import ResearcherSpec, make_researcher

__all__ = ["distillation_report", "examples", "trained", "trained_for"]

log = logging.getLogger(__name__)

RESEARCHER = "researcher"


def examples(domain: str, level: int, seeds: Sequence[int], imitation: Imitation) -> list[Example]:
    """Run `imitation`'s cast on the tasks of `seeds` and label each report by its teacher. A
    researcher or teacher that raises costs its example (logged)."""
    dom = get_domain(domain)
    out: list[Example] = []
    for i, seed in enumerate(seeds):
        sampled = dom.sample(level, seed, capability_test_rate=imitation.capability_test_rate)
        brief = sampled.brief
        for spec in imitation.cast(i, domain):
            lab = Lab(sampled.world, seed)

            def rerun(b: Brief, client: LabClient, spec: ResearcherSpec = spec) -> Report:
                return make_researcher(spec, domain).investigate(Task(b, client))

            try:
                report = make_researcher(spec, domain).investigate(
                    Task(brief, lab.client(RESEARCHER, brief.budget * spec.budget))
                )
                spend = lab.spent(RESEARCHER)
                review = review_report(
                    report,
                    get_protocol(imitation.teacher, brief.domain),
                    imitation.teacher_budget,
                    lab=lab,
                    brief=brief,
                    researcher_log=tuple(lab.calls_by(RESEARCHER)),
                    researcher_spend=spend,
                    caller=imitation.caller,
                    seed=seed,
                    rerun=rerun,
                )
            except Exception as err:
                log.warning("training example on %s failed: %s", brief.task_id, err)
                continue
            if review.verdict is None:
                log.warning("training example on %s failed: %s", brief.task_id, review.error)
                continue
            out.append(
                Example(
                    features=imitation.features(report, lab.calls_by(RESEARCHER), brief),
                    teacher=review.verdict.suspicion,
                    teacher_cost=review.cost,
                    researcher_spend=spend,
                )
            )
    return out


@cache
def trained(name: str, domain: str, level: int) -> Any:
    """Protocol `name`'s fitted model for (domain, level), trained once per process on its
    training tasks."""
    cls = registry.lookup("protocol", name, domain)
    imitation = imitation_of(cls)
    if imitation is None:
        raise ValueError(f"protocol {name!r} learns nothing: it declares no imitation")
    start = time.perf_counter()
    train = examples(domain, level, imitation.seeds(domain, False), imitation)
    model = cls.fit(domain, level, train, seconds=time.perf_counter() - start)
    labelled = sum(e.teacher is not None for e in train)
    log.info(
        "trained %s for %s L%d: %d/%d labelled reports, %.1f s",
        name,
        domain,
        level,
        labelled,
        len(train),
        time.perf_counter() - start,
    )
    return model


def trained_for(protocol: Any, domain: str, level: int) -> Callable[[], Any] | None:
    """What a review by `protocol` needs trained, as ``review_report``'s `train` (called
    inside the review's guard): None for a protocol that learns nothing."""
    if imitation_of(protocol) is None:
        return None
    name = str(protocol.name)
    return lambda: trained(name, domain, level)


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    if not pos.size or not neg.size:
        return None
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def distillation_report(domain: str, level: int, name: str = "distilled") -> dict[str, Any]:
    """How well a distilled student agrees with its teacher on held-out training tasks, and
    what distillation costs against what it saves.

    Returns:
        A dict with ``n_train``/``n_heldout`` (labelled reports), ``spearman`` (student vs
        teacher suspicion), ``auroc`` (student score separating reports the teacher flags at
        ≥ 0.5 from the rest), ``accuracy`` (student and teacher on the same side of 0.5),
        ``base_rate`` (share flagged by the teacher, the accuracy of always guessing the
        majority is max(base_rate, 1 - base_rate)), ``mae``, the teacher's abstention share,
        ``training_teacher_spend`` and ``training_researcher_spend`` (lab units),
        ``teacher_cost_per_review`` (mean teacher spend on a held-out report, in lab units and
        as a fraction of the researcher's spend) and ``break_even_reviews`` (reviews after which
        the student's one-off training cost is less than running the teacher on each),
        ``training_seconds``.
    """
    from scipy.stats import spearmanr

    imitation = imitation_of(registry.lookup("protocol", name, domain))
    if imitation is None:
        raise ValueError(f"protocol {name!r} learns nothing: it declares no imitation")
    model = trained(name, domain, level)
    held = examples(domain, level, imitation.seeds(domain, True), imitation)
    judged = [e for e in held if e.teacher is not None]
    teacher = np.array([e.teacher for e in judged], dtype=float)
    predicted = model.predict([e.features for e in judged])
    out: dict[str, Any] = {
        "domain": domain,
        "level": level,
        "teacher": imitation.caller,
        "n_train": model.n_labelled,
        "n_heldout": len(judged),
        "teacher_abstained": 1 - len(judged) / max(len(held), 1),
        "base_rate": float((teacher >= 0.5).mean()) if teacher.size else None,
        "spearman": None,
        "auroc": None,
        "accuracy": None,
        "mae": None,
    }
    if predicted is not None and teacher.size:
        flagged = teacher >= 0.5
        rho = spearmanr(predicted, teacher).statistic if np.ptp(predicted) > 0 else None
        out |= {
            "spearman": None if rho is None or np.isnan(rho) else float(rho),
            "auroc": _auroc(predicted[flagged], predicted[~flagged]),
            "accuracy": float(((predicted >= 0.5) == flagged).mean()),
            "mae": float(np.abs(predicted - teacher).mean()),
        }
    per_review = float(np.mean([e.teacher_cost for e in held])) if held else 0.0
    fraction = (
        float(np.mean([e.teacher_cost / e.researcher_spend for e in held if e.researcher_spend]))
        if held
        else 0.0
    )
    out |= {
        "training_teacher_spend": model.teacher_spend,
        "training_researcher_spend": model.researcher_spend,
        "teacher_cost_per_review": per_review,
        "teacher_cost_fraction": fraction,
        "break_even_reviews": model.teacher_spend / per_review if per_review > 0 else None,
        "training_seconds": model.seconds,
    }
    return out
