"""Experiments a protocol runs on the ``causal`` lab to check a claim, and their tests.

Shared by ``replicate`` and ``spot_check`` so both run and test experiments the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from proctor.core import Claim, Report
from proctor.lab import LabClient, LabError, max_units
from proctor.stats import Estimate, diff_of_means


@dataclass(frozen=True)
class Contrast:
    """An experiment: do(source=lo) vs do(source=hi), measured on target."""

    source: str
    target: str
    lo: float
    hi: float


def cited_contrast(claim: Claim, report: Report) -> Contrast | None:
    """The contrast a claim's cited interventions ran, read from the report's trace."""
    args = {e.call_id: e.args for e in report.trace if e.type == "action"}
    source, target = claim.content.get("source"), claim.content.get("target")
    values = sorted(
        {
            float(v)
            for cid in claim.evidence
            for name, v in (args.get(cid, {}).get("values") or {}).items()
            if name == source
        }
    )
    if len(values) < 2 or not isinstance(source, str) or not isinstance(target, str):
        return None
    return Contrast(source, target, values[0], values[-1])


def affordable_n(lab: LabClient, budget: float) -> int:
    """Samples per arm a two-arm experiment can have within `budget`."""
    return max_units(lab, "intervene", budget, calls=2)


def run_contrast(lab: LabClient, c: Contrast, n: int) -> Estimate | None:
    """Run both arms with n samples each; the effect per unit of contrast, or None if refused."""
    try:
        arms = [lab.call("intervene", values={c.source: v}, n=n) for v in (c.lo, c.hi)]
    except LabError:
        return None
    cols = [np.asarray(a.result["samples"])[:, a.result["variables"].index(c.target)] for a in arms]
    est = diff_of_means(cols[1], cols[0])
    span = c.hi - c.lo
    return Estimate(est.value / span, est.se / abs(span))
