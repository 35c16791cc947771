"""Re-measuring a score claim on the ``optimize`` lab: fresh validation data, same pipeline."""

from __future__ import annotations

import math

from proctor.core import Claim, Finding
from proctor.lab import LabClient, LabError, max_units
from proctor.protocols.agreement import agreement_p, claimed_se
from proctor.stats import Estimate

MIN_N = 30


def rescore(lab: LabClient, claim: Claim, budget: float, alpha: float = 0.05) -> Finding:
    """Score the claimed pipeline on fresh validation data within `budget` and test the claim."""
    n = min(max_units(lab, "fit_and_score", budget), 5000)
    pipeline = claim.content.get("pipeline")
    if n < MIN_N or claim.estimate is None:
        return Finding(claim_id=claim.id, status="unchecked", detail=f"budget allows n={n}")
    try:
        call = lab.call("fit_and_score", pipeline=pipeline, n_val=n)
    except LabError as err:
        return Finding(claim_id=claim.id, status="unchecked", detail=f"refused: {err}")
    acc = float(call.result["correct"]) / n
    measured = Estimate(acc, math.sqrt(max(acc * (1 - acc), 1e-4) / n))
    p = agreement_p(claim.estimate, claimed_se(claim), measured)
    return Finding(
        claim_id=claim.id,
        status="supported" if p >= alpha else "contradicted",
        p_value=p,
        detail=f"re-measured {acc:.3f} on n={n} vs claimed {claim.estimate:.3f}",
    )
