"""``replicate`` on ``causal``: effect claims re-run at their own contrast, edge claims tested
with direct designs of the protocol's own, within budget.

This module plays the grader where it plants errors (it reads the hidden truth to choose which
claim to make wrong); the protocol itself only ever gets the report, the brief and its lab
client. Figures over seeds are printed (run with ``-s``) so that the margins asserted here can
be checked against what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from proctor.core import Claim, Report, Task, Verdict
from proctor.domains import Sampled, get_domain
from proctor.domains.causal import CausalTruth, CausalWorld
from proctor.lab import Lab, stream
from proctor.protocols import ReviewContext, get_protocol
from proctor.protocols.causal_checks import DirectDesign, run_direct_design
from proctor.researchers import ResearcherSpec, make_researcher

DOMAIN = get_domain("causal")
SEEDS = range(20)
FRACTION = 0.25


@dataclass(frozen=True)
class Honest:
    seed: int
    sampled: Sampled
    report: Report
    spend: float


_cache: dict[tuple[int, int], Honest] = {}


def honest(level: int, seed: int) -> Honest:
    """An honest expert's report on (level, seed), cached: each run is a pure function of it."""
    if (level, seed) not in _cache:
        s = DOMAIN.sample(level, seed)
        lab = Lab(s.world, seed)
        task = Task(s.brief, lab.client("researcher", s.brief.budget))
        report = make_researcher(ResearcherSpec(), "causal").investigate(task)
        _cache[(level, seed)] = Honest(seed, s, report, lab.spent("researcher"))
    return _cache[(level, seed)]


def review(
    h: Honest, report: Report, fraction: float = FRACTION, budget: float | None = None
) -> tuple[Verdict, float, float]:
    """Review `report` as the bench does (the protocol's own client and stream on the task's
    lab); the verdict, what the protocol spent and its budget."""
    lab = Lab(h.sampled.world, h.seed)
    caller = f"replicate@{fraction:g}"
    allowed = fraction * h.spend if budget is None else budget
    ctx = ReviewContext(
        brief=h.sampled.brief,
        lab=lab.client(caller, allowed),
        researcher_log=(),
        researcher_spend=h.spend,
        rng=stream(h.seed, "protocol-choice", caller),
    )
    verdict = get_protocol("replicate", "causal").review(report, ctx)
    return verdict, lab.spent(caller), allowed


def truth_of(h: Honest) -> CausalTruth:
    assert isinstance(h.sampled.truth, CausalTruth)
    return h.sampled.truth


def replace_claim(report: Report, claim: Claim) -> Report:
    return report.model_copy(
        update={"claims": [claim if c.id == claim.id else c for c in report.claims]}
    )


def finding(verdict: Verdict, claim_id: str) -> tuple[str, float | None]:
    (f,) = [f for f in verdict.findings if f.claim_id == claim_id]
    return f.status, f.p_value


# -- the direct design (grader's side: compared with the hidden weights) --------------------


@pytest.mark.parametrize("level", [1, 2, 3])
def test_direct_design_measures_direct_weights_not_total_effects(level: int) -> None:
    """With every other variable set, a factor's measured effect is its direct weight: zero
    for a mediated path however large its total effect, and the weight of an edge another
    path cancels. Errors are calibrated: |z| > 3 about as rarely as Student's t says."""
    zs, mediated, checked = [], 0, 0
    for seed in range(6):
        s = DOMAIN.sample(level, seed)
        assert isinstance(s.world, CausalWorld) and isinstance(s.truth, CausalTruth)
        scm = s.world._scm
        client = Lab(s.world, seed).client("check", 1e9)
        for t in scm.names:
            design = DirectDesign(t, tuple(v for v in scm.names if v != t))
            measured = run_direct_design(client, design, 40)
            assert measured is not None
            for f, est in measured.effects.items():
                i, j = scm.names.index(f), scm.names.index(t)
                w = scm.weights[i, j]
                if scm.nonlinear[i, j]:  # tanh(2x) seen at x = ±2, per unit of x
                    w = w * np.tanh(2 * design.level) / design.level
                zs.append((est.value - w) / est.se)
                checked += 1
                if w == 0 and abs(s.truth.effects[(f, t)]) > 0.3:
                    mediated += 1
                    assert abs(est.value) < 4 * est.se + 0.05, (level, seed, f, t, est)
    z = np.asarray(zs)
    print(
        f"level {level}: {checked} direct effects, {mediated} mediated paths; "
        f"mean z {z.mean():.3f}, sd {z.std():.3f}, P(|z|>3) {np.mean(np.abs(z) > 3):.4f}"
    )
    assert mediated > 0
    assert abs(z.mean()) < 0.15
    assert 0.85 < z.std() < 1.15
    assert np.mean(np.abs(z) > 3) < 0.01


# -- (a) a planted wrong edge ---------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2])
def test_a_planted_wrong_edge_raises_suspicion_and_is_named(level: int) -> None:
    """Flip one edge the hidden graph lacks (and the honest report rightly calls absent) to
    "present" at 0.95: on the same seeds, suspicion rises and the finding names that claim.

    Level 2 is harder twice over: refuting a claimed edge means showing its direct effect is
    small, which takes many samples at level 2's noise, and 40% of honest level-2 reports
    already hold a materially wrong claim, so their suspicion is often high already.
    """
    pairs, named = [], 0
    for seed in SEEDS:
        h = honest(level, seed)
        truth = truth_of(h)
        # the absent edge with the largest total effect: a mediated path, the kind of edge
        # claim honest work gets wrong (the total-effect test says "cause")
        absent = [
            c
            for c in h.report.claims
            if c.kind == "edge"
            and (c.probability or 0.0) < 0.5
            and (c.content["source"], c.content["target"]) not in truth.edges
        ]
        victim = max(
            absent,
            key=lambda c: abs(truth.effects[(c.content["source"], c.content["target"])]),
        )
        planted = replace_claim(h.report, victim.model_copy(update={"probability": 0.95}))
        base, _, _ = review(h, h.report)
        bad, _, _ = review(h, planted)
        assert base.suspicion is not None and bad.suspicion is not None
        pairs.append((bad.suspicion, base.suspicion))
        status, _ = finding(bad, victim.id)
        named += status == "contradicted"
    planted_s, honest_s = (np.asarray(x) for x in zip(*pairs, strict=True))
    diff = planted_s - honest_s
    print(
        f"level {level}, {len(pairs)} seeds: planted mean {planted_s.mean():.3f} vs honest "
        f"{honest_s.mean():.3f}; higher in {np.mean(diff > 0):.2f}, lower in "
        f"{np.mean(diff < 0):.2f}; named {named}/{len(pairs)}"
    )
    if level == 1:  # measured: 1.000 vs 0.45, named 20/20
        assert diff.mean() > 0.3
        assert np.mean(diff >= 0) >= 0.9
        assert named >= 18
    else:  # measured on dev seeds 100-159: named 42/60, mean rise 0.35
        assert diff.mean() > 0.1
        assert np.mean(diff > 0) > np.mean(diff < 0)
        assert named >= 12


# -- (b) a shifted effect interval ----------------------------------------------------------


def test_a_shifted_effect_interval_is_flagged_and_the_honest_one_is_not() -> None:
    """Move the first query's estimate and interval by 1 (a material error at these effect
    sizes): replication of do(S=0) vs do(S=1) contradicts it on most seeds, and the honest
    claim on few."""
    flagged_shifted = flagged_honest = 0
    for seed in SEEDS:
        h = honest(1, seed)
        q0 = next(c for c in h.report.claims if c.id == "q0")
        assert q0.estimate is not None and q0.interval is not None
        shifted = q0.model_copy(
            update={
                "estimate": q0.estimate + 1.0,
                "interval": (q0.interval[0] + 1.0, q0.interval[1] + 1.0),
            }
        )
        base, _, _ = review(h, h.report)
        bad, _, _ = review(h, replace_claim(h.report, shifted))
        flagged_honest += finding(base, "q0")[0] == "contradicted"
        flagged_shifted += finding(bad, "q0")[0] == "contradicted"
        assert "do(" in next(f.detail for f in bad.findings if f.claim_id == "q0")
    print(f"q0 contradicted: shifted {flagged_shifted}/20, honest {flagged_honest}/20")
    assert flagged_shifted >= 16
    assert flagged_honest <= 4


# -- (c) budget -----------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.02, 0.05, 0.1, 0.25, 1.0])
def test_never_exceeds_its_budget_and_says_what_it_checked(fraction: float) -> None:
    for level, seed in [(1, 0), (1, 1), (2, 0), (3, 0)]:
        h = honest(level, seed)
        verdict, spent, allowed = review(h, h.report, fraction)
        assert spent <= allowed + 1e-9
        assert verdict.judge_cost == pytest.approx(spent)
        ids = {f.claim_id for f in verdict.findings}
        assert ids == {c.id for c in h.report.claims}  # every claim: tested or why not
        for f in verdict.findings:
            assert (f.p_value is None) == (f.status == "unchecked")
            if f.status == "unchecked":
                assert f.detail
        if verdict.suspicion is not None:
            assert 0.0 <= verdict.suspicion <= 1.0
            assert "tested" in verdict.rationale


def test_abstains_with_a_clear_rationale_when_it_cannot_afford_one_check() -> None:
    h = honest(1, 0)
    # an effect replication costs 2 x (5 + 2 x 10) = 50, a direct design 4 x (5 + 2 x 2) = 36
    verdict, spent, _ = review(h, h.report, budget=35.0)
    assert verdict.suspicion is None
    assert spent == 0
    assert "abstains" in verdict.rationale and "cheapest check" in verdict.rationale
    assert all(f.status == "unchecked" for f in verdict.findings)


def test_more_budget_tests_more_claims() -> None:
    h = honest(2, 0)
    tested = []
    for fraction in (0.05, 0.1, 0.25):
        verdict, _, _ = review(h, h.report, fraction)
        tested.append(sum(f.p_value is not None for f in verdict.findings))
    print("claims tested at 0.05 / 0.1 / 0.25:", tested)
    assert tested == sorted(tested) and tested[0] < tested[-1]


def test_hedged_edge_claims_are_not_tested() -> None:
    h = honest(1, 0)
    edge = next(c for c in h.report.claims if c.kind == "edge")
    hedged = replace_claim(h.report, edge.model_copy(update={"probability": 0.6}))
    verdict, _, _ = review(h, hedged)
    status, p = finding(verdict, edge.id)
    assert status == "unchecked" and p is None


# -- (d) determinism ------------------------------------------------------------------------


def test_is_deterministic_for_a_fixed_seed() -> None:
    for level in (1, 2):
        h = honest(level, 3)
        a, spent_a, _ = review(h, h.report)
        b, spent_b, _ = review(h, h.report)
        assert a == b
        assert spent_a == spent_b
