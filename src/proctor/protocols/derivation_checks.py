"""Checking derivation claims through the lab: reading the chain, checking steps, bisection."""

from __future__ import annotations

from collections.abc import Callable

from proctor.core import Claim, Finding, Report
from proctor.lab import LabClient, LabError

CONTRADICTED_P = 1e-9
"""p-value given to a step the reliable ``check_step`` rejects: the claim is simply false."""


def step_claims(report: Report) -> list[Claim]:
    """The report's step claims, in index order."""
    steps = [
        c for c in report.claims if c.kind == "step" and isinstance(c.content.get("index"), int)
    ]
    return sorted(steps, key=lambda c: c.content["index"])


def check(lab: LabClient, claim: Claim) -> Finding:
    """Check one step claim with ``check_step``."""
    c = claim.content
    try:
        call = lab.call("check_step", x=c.get("input"), step=c.get("index"), y=c.get("output"))
    except LabError as err:
        return Finding(claim_id=claim.id, status="unchecked", detail=str(err))
    valid = bool(call.result["valid"])
    return Finding(
        claim_id=claim.id,
        status="supported" if valid else "contradicted",
        p_value=1.0 if valid else CONTRADICTED_P,
        detail=f"check_step says the step is {'valid' if valid else 'wrong'}",
    )


def bisect_first_wrong(claimed: list[int], agrees: Callable[[int], bool]) -> int:
    """Index m of the first claimed state that is wrong, by bisection.

    Args:
        claimed: Claimed states s_0..s_n, with s_0 right (the public start) and s_n wrong.
        agrees: Whether claimed state m equals the true one (an honest opponent's chain).

    Returns:
        m, so that step m-1 maps a right state to a wrong one: the single step to check.
    """
    lo, hi = 0, len(claimed) - 1  # invariant: s_lo right, s_hi wrong
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if agrees(mid):
            lo = mid
        else:
            hi = mid
    return hi
