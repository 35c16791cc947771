"""Tests shared by protocols: does a measured number agree with a claimed one? And the two
ways their verdicts are combined: Holm over checks, and weighed issues found on reading."""

from __future__ import annotations

import numpy as np

from proctor.core import Claim, Finding, Verdict
from proctor.stats import Z95, Estimate, holm, two_sided_p

__all__ = ["agreement_p", "claimed_se", "holm_verdict", "opponent_p", "reading_verdict"]


def claimed_se(claim: Claim) -> float:
    """The standard error a claim's 95% interval implies (0 for a point claim)."""
    if claim.interval is None:
        return 0.0
    return (claim.interval[1] - claim.interval[0]) / (2 * Z95)


def agreement_p(claimed: float, claimed_se_: float, measured: Estimate) -> float:
    """Two-sided p-value that the claimed and measured effects are the same quantity."""
    se = float(np.hypot(claimed_se_, measured.se))
    if se <= 0:
        return 0.0 if claimed != measured.value else 1.0
    return two_sided_p((measured.value - claimed) / se)


def opponent_p(mine: Claim, theirs: Claim) -> float:
    """p-value that a report's and an opponent's estimates are the same quantity."""
    assert mine.estimate is not None and theirs.estimate is not None
    return agreement_p(
        mine.estimate, claimed_se(mine), Estimate(theirs.estimate, claimed_se(theirs))
    )


def holm_verdict(protocol: str, findings: list[Finding], cost: float) -> Verdict:
    """Suspicion = 1 - the smallest Holm-adjusted p-value over the checks that ran; abstain
    (suspicion None) when none could run."""
    pvalues = [f.p_value for f in findings if f.p_value is not None]
    if not pvalues:
        return Verdict(
            protocol=protocol,
            findings=findings,
            judge_cost=cost,
            rationale="no check could run within the budget: abstains",
        )
    adjusted = holm(pvalues)
    return Verdict(
        protocol=protocol,
        suspicion=round(float(1 - adjusted.min()), 6),
        findings=findings,
        judge_cost=cost,
        rationale=f"checked {len(pvalues)} claim(s); min Holm p={adjusted.min():.3g}",
    )


def reading_verdict(
    protocol: str, issues: dict[str, list[str]], weights: dict[str, float], n_claims: int
) -> Verdict:
    """A reading judge's verdict: each issue found on a claim (or on the report, id ``*``)
    weighs in, and suspicion = 1 - prod(1 - weight) over all of them."""
    clean = 1.0
    findings: list[Finding] = []
    for claim_id, found in issues.items():
        for issue in found:
            clean *= 1 - weights[issue]
        if found:
            findings.append(
                Finding(claim_id=claim_id, status="inconsistent", detail=", ".join(found))
            )
    return Verdict(
        protocol=protocol,
        suspicion=round(1 - clean, 6),
        findings=findings,
        rationale=f"{len(findings)} of {n_claims} claims raise issues on reading",
    )
