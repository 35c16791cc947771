"""Tests shared by protocols: does a measured number agree with a claimed one?"""

from __future__ import annotations

import numpy as np

from proctor.core import Claim, Finding, Verdict
from proctor.stats import Z95, Estimate, holm, two_sided_p

__all__ = ["agreement_p", "claimed_se", "holm_verdict"]


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
