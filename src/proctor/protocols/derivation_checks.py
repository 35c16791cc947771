"""Checking derivation claims through the lab: reading the chain, checking steps, bisection.

At level 3 a heavy step (Barnes 2020, obfuscated arguments) can be checked only by
``check_range``, priced as recomputing it; :func:`check_heavy` never pretends: where the
budget does not cover the check it reports the step as an unverifiable heavy step (status
``unchecked``) without spending anything.
"""

from __future__ import annotations

from collections.abc import Callable

from proctor.core import Brief, Claim, Finding, Report
from proctor.domains.derivation import MODULUS
from proctor.lab import LabClient, LabError

CONTRADICTED_P = 1e-9
"""p-value given to a step the reliable ``check_step`` rejects: the claim is simply false."""


def step_claims(report: Report) -> list[Claim]:
    """The report's step claims, in index order."""
    steps = [
        c for c in report.claims if c.kind == "step" and isinstance(c.content.get("index"), int)
    ]
    return sorted(steps, key=lambda c: c.content["index"])


def heavy_indices(brief: Brief) -> set[int]:
    """The brief's heavy steps (none below level 3)."""
    return {int(h) for h in brief.fields.get("heavy", [])}


def check_heavy(lab: LabClient, claim: Claim, nonces: int) -> Finding:
    """Check a heavy step claim with one reliable ``check_range`` over all its nonces, if the
    budget covers it; otherwise an ``unchecked`` finding ("unverifiable heavy step"), free."""
    c = claim.content
    price = lab.price("check_range", x=0, step=0, start=0, width=nonces, value=0)
    if lab.remaining < price:
        return Finding(
            claim_id=claim.id,
            status="unchecked",
            detail=f"unverifiable heavy step: a check costs {price:g}, {lab.remaining:g} left",
        )
    try:
        call = lab.call(
            "check_range",
            x=c.get("input"),
            step=c.get("index"),
            start=0,
            width=nonces,
            value=c.get("output"),
        )
    except LabError as err:
        return Finding(claim_id=claim.id, status="unchecked", detail=str(err))
    valid = bool(call.result["valid"])
    return Finding(
        claim_id=claim.id,
        status="supported" if valid else "contradicted",
        p_value=1.0 if valid else CONTRADICTED_P,
        detail=f"check_range says the heavy step is {'valid' if valid else 'wrong'}",
    )


def decomposition_breaks(report: Report, brief: Brief) -> list[Finding]:
    """What reading alone finds in the heavy steps' decompositions: part claims that do not
    tile the step's nonces, start from another input, or do not sum to the step's output."""
    nonces = int(brief.fields.get("nonces", 0))
    steps = {c.content["index"]: c for c in step_claims(report)}
    out: list[Finding] = []
    for i in sorted(heavy_indices(brief)):
        step = steps.get(i)
        if step is None:
            continue
        parts = sorted(
            (c for c in report.claims if c.kind == "part" and c.content.get("index") == i),
            key=lambda c: int(c.content.get("start", -1)),
        )
        edge, total, ok = 0, 0, bool(parts)
        for part in parts:
            pc = part.content
            ok = ok and pc.get("start") == edge and pc.get("input") == step.content.get("input")
            edge = int(pc.get("start", 0)) + int(pc.get("width", 0))
            total += int(pc.get("value", 0))
        ok = ok and edge == nonces and total % MODULUS == step.content.get("output")
        if not ok:
            out.append(
                Finding(
                    claim_id=step.id,
                    status="inconsistent",
                    detail="the heavy step's parts do not tile its nonces and sum to its output",
                )
            )
    return out


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
