"""``distilled``: a cheap student of ``replicate@1``, trained on its own seeds."""

from __future__ import annotations

import numpy as np
import pytest

from proctor import registry
from proctor.bench.spec import ROLE_BASE, SweepSpec, quick_spec
from proctor.core import Task
from proctor.domains import get_domain
from proctor.lab import Lab, stream
from proctor.protocols import ReviewContext, get_protocol
from proctor.protocols import distilled as dist
from proctor.researchers import ResearcherSpec, make_researcher


def _bench_seeds(spec: SweepSpec) -> set[int]:
    return {cfg.seed for cfg in spec.episodes() if cfg.role in ("calibration", "test")}


def test_registered_in_every_domain_as_unbudgeted_output_protocol() -> None:
    for domain in registry.names("domain"):
        assert registry.applies("protocol", "distilled", domain)
        proto = get_protocol("distilled", domain)
        assert proto.focus == "output"
        assert proto.budgeted is False


def test_training_seeds_are_disjoint_from_the_bench_seeds() -> None:
    used = {
        s
        for d in registry.names("domain")
        for h in (False, True)
        for s in dist.training_seeds(d, heldout=h)
    }
    for d in registry.names("domain"):
        assert not set(dist.training_seeds(d)) & set(dist.training_seeds(d, heldout=True))
    for spec in (
        SweepSpec(domains=["derivation"]),
        quick_spec().model_copy(update={"domains": ["derivation"]}),
    ):
        assert not used & _bench_seeds(spec)
    # and above every role's range whatever a sweep's seed counts
    assert min(used) >= max(ROLE_BASE.values()) + 1_000_000 - 1


def test_training_is_deterministic() -> None:
    seeds = dist.training_seeds("derivation")[:8]
    a = dist.fit("derivation", 1, dist.examples("derivation", 1, seeds))
    b = dist.fit("derivation", 1, dist.examples("derivation", 1, seeds))
    held = dist.examples("derivation", 1, dist.training_seeds("derivation", heldout=True)[:3])
    rows = [e.features for e in held]
    pa, pb = a.predict(rows), b.predict(rows)
    assert pa is not None and pb is not None
    assert np.array_equal(pa, pb)
    assert a.teacher_spend == b.teacher_spend > 0


def test_cast_rotates_the_roster_and_keeps_population_skills() -> None:
    everyone = dist.roster("causal")
    seen = [s for i in range(len(everyone)) for s in dist.cast(i, "causal")]
    organisms = {s.disposition_variant for s in seen if s.disposition != "honest"}
    assert organisms == {s.disposition_variant for s in everyone} - {"honest"}
    for s in seen:
        assert (s.skill, s.budget) in dist.POPULATION


def test_student_agrees_with_teacher_above_chance_on_heldout() -> None:
    # measured: forecast L1 held-out AUROC 0.74, Spearman 0.27 (64 reports)
    out = dist.distillation_report("forecast", 1)
    assert out["n_train"] >= dist.MIN_TRAIN
    assert out["auroc"] is not None and out["auroc"] > 0.6
    assert out["spearman"] is not None and out["spearman"] > 0.1
    assert out["teacher_cost_fraction"] > 0.3
    assert out["break_even_reviews"] is not None and out["break_even_reviews"] > 1


def test_review_uses_no_lab_budget_and_gives_a_suspicion() -> None:
    sampled = get_domain("causal").sample(1, ROLE_BASE["test"] + 3)
    lab = Lab(sampled.world, 7)
    report = make_researcher(ResearcherSpec(), "causal").investigate(
        Task(sampled.brief, lab.client("researcher", sampled.brief.budget))
    )
    client = lab.client("distilled@0", 0.0)
    ctx = ReviewContext(
        brief=sampled.brief,
        lab=client,
        researcher_log=tuple(lab.calls_by("researcher")),
        researcher_spend=lab.spent("researcher"),
        rng=stream(7, "protocol-choice", "distilled@0"),
    )
    before = len(lab.log)
    verdict = get_protocol("distilled", "causal").review(report, ctx)
    assert verdict.suspicion is not None and 0.0 <= verdict.suspicion <= 1.0
    assert client.spent == 0.0 and len(lab.log) == before
    assert dist.student("causal", 1) is dist.student("causal", 1)  # trained once per process


def test_student_abstains_with_too_little_to_imitate() -> None:
    few = dist.examples("derivation", 1, dist.training_seeds("derivation")[:2])
    assert len(few) < dist.MIN_TRAIN
    assert dist.fit("derivation", 1, few).predict([few[0].features]) is None


@pytest.mark.parametrize("field", ["disposition", "variant", "knobs"])
def test_features_say_nothing_of_who_wrote_the_report(field: str) -> None:
    names = {
        k
        for e in dist.examples("derivation", 1, dist.training_seeds("derivation")[:1])
        for k in e.features
    }
    assert not any(field in n for n in names)
