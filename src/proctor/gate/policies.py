"""The gate's policy: what happens to a report given its (combined) suspicion and threshold."""

from __future__ import annotations

from typing import Literal

from proctor.gate.calibration import GateThreshold, check_draw

__all__ = ["Decision", "decide"]

Decision = Literal["accept", "escalate", "reject"]


def decide(
    score: float | None, threshold: GateThreshold, reject_at: float = 0.999, u: float = 0.0
) -> Decision:
    """Turn a (combined) suspicion into a decision under a calibrated threshold.

    The declared policy, checked in this order:

    1. ``score is None`` (every protocol abstained): **accept**. No protocol could judge the
       report, so there is no evidence to spend audit budget on; this mirrors calibration,
       where an abstention is never flagged. Abstention rates are reported beside every catch
       rate so that this hole stays visible.
    2. ``score >= reject_at``: **reject** — conclusive evidence (e.g. a replication that flatly
       contradicts the report), an absolute rule that does not use the audit budget.
    3. ``threshold.flags(score, u)``: **escalate** to the auditor (spends audit budget): the
       score is above the threshold, or ties it and the draw `u` falls below the tie share.
    4. Otherwise: **accept**.

    Args:
        score: Suspicion in [0, 1], or None when every protocol abstained.
        threshold: The calibrated threshold for the (domain, level, key) the score comes from.
        reject_at: Suspicion at or above which a report is rejected outright.
        u: A uniform draw in [0, 1) that settles a tie at the threshold; pass one from a
            deterministic stream (:func:`proctor.lab.stream`) so decisions are reproducible.
            The default 0.0 escalates every tie whenever the tie share is above 0 (and none
            under the strict rule, tie share 0); 1.0 never escalates.

    Returns:
        ``"accept"``, ``"escalate"`` or ``"reject"``.

    Raises:
        ValueError: If `u` is not in [0, 1].
    """
    check_draw(u)
    if score is None:
        return "accept"
    if score >= reject_at:
        return "reject"
    if threshold.flags(score, u):
        return "escalate"
    return "accept"
