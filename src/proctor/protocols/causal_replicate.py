"""``replicate`` on ``causal``: re-run the experiments a report's claims rest on, with fresh
noise, and test its numbers.

Replication is the oldest check in science: run the experiment again and see whether the
result comes back (Open Science Collaboration 2015, "Estimating the reproducibility of
psychological science": of 100 replicated studies, 36% gave a significant result again;
REFERENCES.md has no entry of its own for it). On ``causal`` the protocol replicates both
kinds of claim on the same hidden world, with its own budget and its own noise stream (the lab
gives each caller its own), and reads nothing but the report, the brief and its lab client:

* **effect** claims — the claim's own contrast, the one the brief defines: ``do(S=0)`` and
  ``do(S=1)`` on the claimed source, the claimed target observed, and a z-test of the
  replicated difference of means and the claimed estimate as the same quantity (with the
  standard error the claim's interval implies at its stated coverage).
* **edge** claims — a *direct* test of the claimed edge: every variable but the target is set
  by intervention, at ±2 by the signs of a two-level orthogonal design
  (:class:`~proctor.protocols.causal_checks.DirectDesign`), so each source moves while every
  other path into the target is cut, and one design per target measures the direct effect
  of every source on it. A claimed edge is contradicted when the direct effect is
  significantly below 0.25 per unit (the size ``spot_check`` takes a present edge to imply),
  a claimed absence when it is significantly non-zero (Student's t on the design's residual
  degrees of freedom). Re-running the researcher's own test (a two-arm contrast on the
  source alone) would measure the *total* effect again: it passes an edge that is really a
  mediated path and misses an edge another path cancels, which is how honest edge claims go
  wrong.

Only claims that commit to an answer are tested: an edge claimed with probability at least
0.8 (or at most 0.2), and every effect claim with an estimate; a hedged edge claim cannot be
confidently wrong and is reported as not tested.

**Budget** (the lab enforces it; every claim not tested gets a finding that says why). With
effect claims to replicate, the edge tests may spend :data:`EDGE_SHARE` of it. First a
*screen*: one design per target (targets in order of the summed confidence of the claims
into them, as many as afford :data:`MIN_EDGE_N` samples a run, with up to
:data:`SCREEN_SHARE` of the edge budget). Then a *follow-up* with what is left: the claims
the screen left in doubt (p-value between :data:`DECIDED` and :data:`FOLLOW_UP`; claimed
edges first, which the screen refutes with the least power, then by p-value) get a two-arm
contrast of their own, the source at ±2 with every other variable but the target held at 0
(as many claims as afford :data:`FOLLOW_N` samples per arm, at least one). The two rounds'
p-values are combined by the inverse-normal rule with equal weights fixed in advance, which
stays valid when whether to follow up depends on the first round (Lehmacher & Wassmer
1999). Effect claims get the rest, half to the brief's first query (the one that matters
most) and the other half shared, over as many claims as can each have :data:`MIN_N` samples
per arm. Tuned on dev seeds only (100-699): these shares trade honest edge errors, most of
them at level 2, against effect claims, where organisms do their harm.

**Suspicion** is 1 minus the smallest adjusted p-value: Holm within the effect claims and
within the edge claims, Bonferroni over the two kinds (so the few effect claims are not
drowned by the many edge claims). It ranks reports by their strongest contradiction, and is
above 0.95 exactly when some claim is contradicted at a family-wise 5%. It abstains when the
budget cannot afford a single check.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scipy.special import ndtr, ndtri

from proctor.core import Claim, Finding, Report, Verdict
from proctor.lab import LabClient, max_units
from proctor.protocols.agreement import agreement_p
from proctor.protocols.causal_checks import (
    Contrast,
    DirectDesign,
    affordable_n,
    edge_p,
    run_contrast,
    run_direct_design,
)
from proctor.stats import Estimate, holm

if TYPE_CHECKING:
    from proctor.protocols import ReviewContext

__all__ = ["replicate"]

MIN_N = 10
"""Fewest samples per arm an effect replication runs with."""
MIN_EDGE_N = 2
"""Fewest samples per run of a direct design."""
MAX_EDGE_N = 12
"""Most samples per run of a screening design: beyond this, budget goes to follow-ups."""
EDGE_SHARE = 0.75
"""Most of the budget edge designs may take when there are effect claims to replicate."""
SCREEN_SHARE = 0.5
"""Share of the edge budget the screening round's sample size is set from (the rest is for
follow-ups)."""
FOLLOW_UP = 0.2
"""A screened claim with a p-value below this (and not yet decisive) is followed up."""
FOLLOW_N = 60
"""Samples per arm a follow-up contrast is planned with: the budget left after the screen is
shared by as many doubtful claims as it affords at this size (at least one)."""
MAX_N = 400
"""Most samples per arm of a follow-up contrast (the rest goes to effect claims)."""
DECIDED = 1e-4
"""A screened claim with a p-value below this is contradicted already: no follow-up."""
COMMITTED = 0.3
"""An edge claim is tested when its probability is at least this far from 0.5."""
MIN_EDGE_EFFECT = 0.25
"""Direct effect per unit a claimed edge is taken to imply (as in ``spot_check``)."""
ALPHA = 0.05


def _claimed_se(claim: Claim) -> float:
    """The standard error a claim's interval implies at its stated coverage (0 for a point)."""
    if claim.interval is None:
        return 0.0
    z = float(ndtri(0.5 + claim.coverage / 2)) if 0.0 < claim.coverage < 1.0 else 0.0
    width = claim.interval[1] - claim.interval[0]
    return width / (2 * z) if z > 0 else 0.0


def _pair(claim: Claim, names: set[str]) -> tuple[str, str] | None:
    s, t = claim.content.get("source"), claim.content.get("target")
    if isinstance(s, str) and isinstance(t, str) and s in names and t in names and s != t:
        return s, t
    return None


@dataclass(frozen=True)
class _Round:
    """One measurement of a claimed edge's direct effect (per unit of the source)."""

    effect: Estimate
    dof: int
    how: str


def _edge_p(claim: Claim, rounds: list[_Round]) -> float:
    """The p-value of what an edge claim asserts, over independent rounds of measurement:
    the rounds' p-values combined by the inverse-normal rule with equal weights, fixed in
    advance (valid whether or not a follow-up round was run; Lehmacher & Wassmer 1999)."""
    present = (claim.probability or 0.0) >= 0.5
    ps = [edge_p(present, r.effect, MIN_EDGE_EFFECT, r.dof) for r in rounds]
    if len(ps) == 1:
        return ps[0]
    z = sum(float(ndtri(1 - max(p, 1e-300))) for p in ps) / math.sqrt(len(ps))
    return float(ndtr(-z))


def _doubt(claim: Claim, rounds: list[_Round]) -> tuple[int, float] | None:
    """What the screen left in doubt about a claim, as a sort key (None: nothing): a p-value
    neither decisive nor comfortable, claimed edges first (the screen tests them with the
    least power: refuting an edge means showing its effect is small, while a missed edge of
    any size shows at once), then the smaller p-value."""
    p = _edge_p(claim, rounds)
    if not DECIDED <= p < FOLLOW_UP:
        return None
    return int((claim.probability or 0.0) < 0.5), p


def _shares(k: int) -> list[float]:
    """Budget shares of k effect claims: half to the first, the rest equally."""
    return [1.0] if k == 1 else [0.5] + [0.5 / (k - 1)] * (k - 1)


def _unchecked(claim: Claim, why: str) -> Finding:
    return Finding(claim_id=claim.id, status="unchecked", detail=why)


def replicate(protocol: str, report: Report, ctx: ReviewContext) -> Verdict:
    """Replicates each effect claim's own contrast and tests each committed edge claim with a
    direct design of its own, within budget; Holm within each kind of claim."""
    lab = ctx.lab
    names = [str(v) for v in ctx.brief.fields.get("variables", [])]
    known = set(names)
    findings: dict[str, Finding] = {}
    effects: list[tuple[Claim, tuple[str, str]]] = []
    edges: list[tuple[Claim, tuple[str, str]]] = []
    for claim in report.claims:
        pair = _pair(claim, known)
        if claim.kind not in ("edge", "effect"):
            continue
        if pair is None:
            findings[claim.id] = _unchecked(claim, "source or target is not a variable")
        elif claim.kind == "effect":
            if claim.estimate is None:
                findings[claim.id] = _unchecked(claim, "no estimate to replicate")
            else:
                effects.append((claim, pair))
        elif claim.probability is None:
            findings[claim.id] = _unchecked(claim, "no probability to test")
        elif abs(claim.probability - 0.5) < COMMITTED:
            findings[claim.id] = _unchecked(
                claim, f"hedged (p={claim.probability:g}): commits to neither answer"
            )
        else:
            edges.append((claim, pair))
    if not effects and not edges:
        return Verdict(
            protocol=protocol,
            findings=list(findings.values()),
            rationale="no effect claim or committed edge claim to replicate: abstains",
        )

    cheapest = _cheapest_check(lab, names, effects, edges)
    if lab.budget < cheapest:
        for claim, _ in effects + edges:
            findings[claim.id] = _unchecked(claim, "budget cannot afford a check")
        return Verdict(
            protocol=protocol,
            findings=[findings[c.id] for c in report.claims if c.id in findings],
            rationale=f"budget {lab.budget:g} < the cheapest check ({cheapest:g}): abstains",
        )

    # all to the edges when there is no effect claim, or none could be replicated
    effect_min = 2 * lab.price("intervene", values={}, n=MIN_N)
    share = EDGE_SHARE if effects and lab.budget >= effect_min else 1.0
    edge_budget = lab.budget * share
    findings.update(_check_edges(lab, names, edges, edge_budget))
    findings.update(_check_effects(lab, effects))

    ordered = [findings[c.id] for c in report.claims if c.id in findings]
    tested = [f for f in ordered if f.p_value is not None]
    if not tested:
        return Verdict(
            protocol=protocol,
            findings=ordered,
            judge_cost=lab.spent,
            rationale="no check could run within the budget: abstains",
        )
    kinds = {c.id: c.kind for c in report.claims}
    families = [
        fam for k in ("effect", "edge") if (fam := [f for f in tested if kinds[f.claim_id] == k])
    ]
    # Holm within each kind of claim, Bonferroni over the kinds: an effect claim (the
    # brief's first query matters most) is not drowned by the many edge claims.
    worst_p, worst_id = 1.0, ""
    for fam in families:
        adjusted = holm([f.p_value for f in fam if f.p_value is not None]) * len(families)
        i = int(adjusted.argmin())
        if min(float(adjusted[i]), 1.0) < worst_p or not worst_id:
            worst_p, worst_id = min(float(adjusted[i]), 1.0), fam[i].claim_id
    n_effect = sum(kinds[f.claim_id] == "effect" for f in tested)
    n_edge = len(tested) - n_effect
    skipped = [f.claim_id for f in ordered if f.p_value is None]
    return Verdict(
        protocol=protocol,
        suspicion=round(1 - worst_p, 6),
        findings=ordered,
        judge_cost=lab.spent,
        rationale=(
            f"tested {n_effect} effect and {n_edge} edge claim(s); "
            f"{len(skipped)} not tested"
            + (f" ({', '.join(skipped)})" if skipped else "")
            + f"; min adjusted p={worst_p:.3g} ({worst_id})"
        ),
    )


# -- budget -----------------------------------------------------------------------------


def _cheapest_check(
    lab: LabClient,
    names: list[str],
    effects: list[tuple[Claim, tuple[str, str]]],
    edges: list[tuple[Claim, tuple[str, str]]],
) -> float:
    costs = []
    if effects:
        costs.append(2 * lab.price("intervene", values={}, n=MIN_N))
    if edges:
        design = DirectDesign(names[0], tuple(names[1:]))
        costs.append(design.runs * lab.price("intervene", values={}, n=MIN_EDGE_N))
    return min(costs)


# -- edges ------------------------------------------------------------------------------


def _check_edges(
    lab: LabClient,
    names: list[str],
    edges: list[tuple[Claim, tuple[str, str]]],
    budget: float,
) -> dict[str, Finding]:
    """Screen: one direct design per target, targets by the summed confidence of the
    claims into them, as many as `budget` affords at MIN_EDGE_N samples a run. Follow up:
    a held two-arm contrast on each of the claims the screen left most in doubt, as far
    as what is left of `budget` goes, the two rounds' p-values combined."""
    out: dict[str, Finding] = {}
    if not edges:
        return out
    by_target: dict[str, list[Claim]] = defaultdict(list)
    for claim, (_, t) in edges:
        by_target[t].append(claim)
    weight = {
        t: sum(abs(2 * (c.probability or 0.5) - 1) for c in cs) for t, cs in by_target.items()
    }
    order = sorted(by_target, key=lambda t: (-weight[t], names.index(t)))
    designs = {t: DirectDesign(t, tuple(v for v in names if v != t)) for t in order}
    per_run = lab.price("intervene", values={}, n=MIN_EDGE_N)
    chosen: list[str] = []
    total = 0.0
    for t in order:
        cost = designs[t].runs * per_run
        if total + cost <= budget + 1e-9:
            chosen.append(t)
            total += cost
    runs = sum(designs[t].runs for t in chosen)
    screen = SCREEN_SHARE * budget
    n = max_units(lab, "intervene", screen, calls=runs) if runs else 0
    n = min(max(n, MIN_EDGE_N), MAX_EDGE_N)
    start = lab.spent
    rounds: dict[str, list[_Round]] = {}
    for t in order:
        if t not in chosen:
            for claim in by_target[t]:
                out[claim.id] = _unchecked(claim, f"budget: no direct design on {t}")
            continue
        design = designs[t]
        direct = run_direct_design(lab, design, n)
        for claim in by_target[t]:
            if direct is None:
                out[claim.id] = _unchecked(claim, "lab refused the design")
                continue
            how = f"design of {design.runs} runs x n={n}"
            est = direct.effects[str(claim.content["source"])]
            rounds[claim.id] = [_Round(est, direct.dof, how)]

    # Follow up the claims the screen left most in doubt: a two-arm contrast on the
    # source at the design's levels, every other variable but the target held at 0, on
    # as many claims as can each have FOLLOW_N samples per arm (at least one).
    claims = {c.id: (c, pair) for c, pair in edges}
    doubt = {i: d for i in rounds if (d := _doubt(claims[i][0], rounds[i])) is not None}
    left = budget - (lab.spent - start)
    k = max(1, int(left // (2 * lab.price("intervene", values={}, n=FOLLOW_N))))
    queue = sorted(doubt, key=lambda i: doubt[i])[:k]
    n2 = min(affordable_n(lab, left / len(queue)), MAX_N) if queue else 0
    if n2 < MIN_N:
        queue = []
    for i in queue:
        s, t = claims[i][1]
        level = designs[t].level
        hold = tuple((v, 0.0) for v in names if v not in (s, t))
        measured = run_contrast(lab, Contrast(s, t, -level, level, hold), n2)
        if measured is not None:
            how = f"do({s}=±{level:g}) with the rest held, n={n2}/arm"
            rounds[i].append(_Round(measured, 2 * n2 - 2, how))

    for i, measured_rounds in rounds.items():
        claim, (s, t) = claims[i]
        present = (claim.probability or 0.0) >= 0.5
        p = _edge_p(claim, measured_rounds)
        ests = "; ".join(
            f"{r.effect.value:.3f} ± {r.effect.se:.3f} ({r.how})" for r in measured_rounds
        )
        out[i] = Finding(
            claim_id=i,
            status="supported" if p >= ALPHA else "contradicted",
            p_value=p,
            detail=(
                f"claimed {'present' if present else 'absent'} (p={claim.probability:g}); "
                f"direct effect of {s} on {t} per unit, every other variable set: {ests}"
            ),
        )
    return out


# -- effects ----------------------------------------------------------------------------


def _check_effects(
    lab: LabClient, effects: list[tuple[Claim, tuple[str, str]]]
) -> dict[str, Finding]:
    """Each effect claim's own contrast do(S=0) vs do(S=1), in the report's order (the
    brief's first query matters most): half of what is left to the first, the rest shared
    equally, over as many claims as can each have MIN_N samples per arm."""
    out: dict[str, Finding] = {}
    if not effects:
        return out
    pool = lab.remaining
    k = len(effects)
    while k > 1 and affordable_n(lab, pool * _shares(k)[-1]) < MIN_N:
        k -= 1
    shares = _shares(k) + [0.0] * (len(effects) - k)
    for (claim, (s, t)), share in zip(effects, shares, strict=True):
        n = min(affordable_n(lab, share * pool), affordable_n(lab, lab.remaining))
        if n < MIN_N:
            out[claim.id] = _unchecked(claim, f"budget allows n={n} per arm (< {MIN_N})")
            continue
        measured = run_contrast(lab, Contrast(s, t, 0.0, 1.0), n)
        if measured is None:
            out[claim.id] = _unchecked(claim, "lab refused the replication")
            continue
        assert claim.estimate is not None
        p = agreement_p(claim.estimate, _claimed_se(claim), measured)
        out[claim.id] = Finding(
            claim_id=claim.id,
            status="supported" if p >= ALPHA else "contradicted",
            p_value=p,
            detail=(
                f"do({s}=0) vs do({s}=1) on {t}: replicated {measured.value:.3f} ± "
                f"{measured.se:.3f} (n={n}/arm) vs reported {claim.estimate:.3f}"
            ),
        )
    return out
