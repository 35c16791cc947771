"""Report metadata: what the surface of a piece of work shows, with no domain knowledge.

:func:`report_features` reads a report and the researcher's lab log (claim count, confidences,
spend, call pattern). The bench stores it on every episode for the giveaway audit (DESIGN.md
§5: a classifier on metadata alone must not tell an organism from honest work), and
``distilled`` reads the same features at review time, so the student's and the audit's notion
of "metadata" are one. It lives here, beside the protocols, because both the bench and a
protocol call it; it needs nothing a reviewer does not see.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from proctor.core import LabCall, Report

__all__ = ["report_features"]


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
