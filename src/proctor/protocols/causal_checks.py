"""The ``causal`` domain's checks: what every protocol family needs to know about its claims.

Experiments a protocol runs on the ``causal`` lab to check a claim, and their tests, are shared
by every family so all run and test experiments the same way: two-arm contrasts for effects,
and (``replicate``, :mod:`proctor.protocols.causal_replicate`) direct designs for edges.
:class:`CausalChecks` is the domain's :class:`~proctor.protocols.checks.DomainChecks`:

* ``direct`` — the judge checks what a careful reader can check without experiments: every
  claim rests on cited calls; an effect claim cites interventions on its own source at the
  contrast the brief defines (``do(S=0)`` vs ``do(S=1)``), not an extrapolation from another
  contrast; and the effects cohere with the claimed graph (an effect that excludes zero needs
  a claimed directed path; a claimed path of confident edges with an effect pinned at zero is
  odd). Costs no lab budget.
* ``spot_check`` — k of the claims (as many as the budget buys at :data:`N_PER_ARM` samples
  per arm) are drawn at random and tested at the contrast the brief defines (after Wu et al.
  2021 on decomposition: checking parts is cheaper than checking wholes, and works modestly).
  An effect claim is tested like a replication; an edge claimed present is tested for a total
  effect of at least 0.25 in size (a direct edge with such a weight leaves one, unless paths
  cancel); an edge claimed absent is tested only where the claimed graph has no directed path
  from source to target, in which case any total effect contradicts the claimed graph.
  Suspicion is 1 minus the smallest Holm-adjusted p-value; it abstains when it cannot afford
  one check.
* ``debate`` — an effect whose estimate disagrees with the opponent's (a z-test on the two
  intervals, alpha 0.05), or an edge the opponent puts on the other side of 1/2; the judge
  re-runs the disputed intervention at the brief's contrast (``do(S=0)`` vs ``do(S=1)``).
* ``consultancy`` — re-runs the contrast the claim's cited interventions ran (the brief's
  contrast when the claim cites none).
* ``consistency`` — the counterfactual hypothesis: "increases" ↔ "decreases"; "has no effect
  on" becomes the direction opposite to the report's own estimate for the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats as st
from scipy.linalg import hadamard
from scipy.special import ndtr, stdtr

from proctor import registry
from proctor.core import Brief, Claim, Finding, Report, Verdict
from proctor.domains.causal import descendants
from proctor.lab import LabClient, LabError, max_units
from proctor.protocols.agreement import agreement_p, claimed_se, opponent_p, reading_verdict
from proctor.protocols.checks import Dispute, DomainChecks
from proctor.stats import Estimate, diff_of_means, holm, ols, two_sided_p

if TYPE_CHECKING:
    from proctor.protocols import ReviewContext

__all__ = [
    "CausalChecks",
    "Contrast",
    "DirectDesign",
    "DirectEffects",
    "affordable_n",
    "check_causal",
    "cited_contrast",
    "claimed_edges",
    "edge_p",
    "run_contrast",
    "run_direct_design",
]

ALPHA = 0.05
"""Level at which a check is called failed (and a debate's opponent disputes a claim)."""
MIN_EDGE_EFFECT = 0.25
"""A present edge leaves a total effect at least this large (``spot_check``, ``debate``)."""
N_PER_ARM = 40
"""Samples per arm of one ``spot_check`` check."""
MIN_N = 10
"""Fewest samples per arm a debate or consultancy check is worth running with."""
CHECK_N = 40
"""Samples per arm that size one debate or consultancy check when counting affordable ones."""
READING_WEIGHTS = {
    "no_evidence": 0.5,
    "wrong_source": 0.5,
    "off_contrast": 0.3,
    "no_path": 0.4,
    "path_but_null": 0.2,
}
"""Weight of each issue ``direct`` finds on reading (:func:`reading_verdict`)."""


@dataclass(frozen=True)
class Contrast:
    """An experiment: do(source=lo) vs do(source=hi), measured on target, with the variables
    in `hold` set to fixed values in both arms (then the contrast measures the source's
    direct effect on the target where every other variable is held)."""

    source: str
    target: str
    lo: float
    hi: float
    hold: tuple[tuple[str, float], ...] = ()


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
        arms = [
            lab.call("intervene", values={c.source: v, **dict(c.hold)}, n=n) for v in (c.lo, c.hi)
        ]
    except LabError:
        return None
    cols = [np.asarray(a.result["samples"])[:, a.result["variables"].index(c.target)] for a in arms]
    est = diff_of_means(cols[1], cols[0])
    span = c.hi - c.lo
    return Estimate(est.value / span, est.se / abs(span))


# -- direct edges -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectDesign:
    """An experiment on the direct causes of `target`: every other variable is set by
    intervention in every run, at ``±level`` by the signs of a two-level orthogonal
    (Hadamard) design, so that each varies while every path into the target but its own
    direct edge is cut (Fisher 1935's factorial design; a two-level design identifies any
    additive mechanism, linear or not, since it sees each mechanism at two points only).

    A two-arm contrast on the source alone measures the *total* effect, which cannot tell a
    direct edge from a mediated path, nor find an edge a second path cancels.
    """

    target: str
    factors: tuple[str, ...]
    level: float = 2.0

    @property
    def signs(self) -> np.ndarray:
        """The design: one row per run, one column of ±1 per factor."""
        runs = 1 << max(len(self.factors), 1).bit_length()  # a power of 2 > factors
        return np.asarray(hadamard(runs)[:, 1 : len(self.factors) + 1], dtype=float)

    @property
    def runs(self) -> int:
        return int(self.signs.shape[0])


@dataclass(frozen=True)
class DirectEffects:
    """What a direct design measured: each factor's direct effect on the target per unit of
    its value, and the residual degrees of freedom their standard errors rest on."""

    effects: dict[str, Estimate]
    dof: int


def run_direct_design(lab: LabClient, design: DirectDesign, n: int) -> DirectEffects | None:
    """Run the design with n samples a run and fit the target on the factors' signs (OLS):
    each factor's direct effect is half the difference between its two levels, over `level`.
    None if a run was refused."""
    signs = design.signs
    ys, xs = [], []
    try:
        for row in signs:
            values = {f: float(s * design.level) for f, s in zip(design.factors, row, strict=True)}
            call = lab.call("intervene", values=values, n=n)
            target = call.result["variables"].index(design.target)
            col = np.asarray(call.result["samples"])[:, target]
            ys.append(col)
            xs.append(np.repeat(row[None, :], len(col), axis=0))
    except LabError:
        return None
    y, x = np.concatenate(ys), np.concatenate(xs)
    coef, se = ols(y, x)
    effects = {
        f: Estimate(float(coef[k + 1] / design.level), float(se[k + 1] / design.level))
        for k, f in enumerate(design.factors)
    }
    return DirectEffects(effects, max(len(y) - x.shape[1] - 1, 1))


def edge_p(present: bool, direct: Estimate, min_effect: float, dof: int | None = None) -> float:
    """P-value of what an edge claim asserts, given the measured direct effect: for a claimed
    edge, H0 ``|effect| >= min_effect`` (small p: the edge is not there); for a claimed
    absence, H0 ``effect = 0`` (small p: there is an edge). With `dof`, the statistic is
    referred to Student's t (the standard error was estimated from that many residual
    degrees of freedom), else to the normal."""
    se = max(direct.se, 1e-12)

    def cdf(z: float) -> float:
        return float(stdtr(dof, z)) if dof is not None else float(ndtr(z))

    if present:
        # sup over |effect| >= min_effect of P(|estimate| <= observed): at |effect| = min_effect
        return cdf((abs(direct.value) - min_effect) / se)
    return 2 * cdf(-abs(direct.value) / se)


# -- what the families need ---------------------------------------------------------------------


def claimed_edges(report: Report, at: float = 0.5) -> set[tuple[str, str]]:
    """The (source, target) pairs of the report's edge claims with probability at least `at`."""
    return {
        (str(c.content["source"]), str(c.content["target"]))
        for c in report.claims
        if c.kind == "edge" and (c.probability or 0.0) >= at
    }


def check_causal(
    lab: LabClient, claim: Claim, contrast: Contrast, edges: set[tuple[str, str]], budget: float
) -> Finding:
    """Test an effect or edge claim with a fresh two-arm experiment at `contrast` (as
    ``spot_check`` tests them); ``unchecked`` where the budget or the claimed graph allow no
    test."""
    n = affordable_n(lab, budget)
    present = (claim.probability or 0.0) >= 0.5
    if (
        claim.kind == "edge"
        and not present
        and contrast.target in descendants(edges, contrast.source)
    ):
        return Finding(claim_id=claim.id, status="unchecked", detail="a claimed path; no test")
    if n < MIN_N:
        return Finding(claim_id=claim.id, status="unchecked", detail=f"budget allows n={n}")
    measured = run_contrast(lab, contrast, n)
    if measured is None:
        return Finding(claim_id=claim.id, status="unchecked", detail="lab refused the check")
    se = max(measured.se, 1e-12)
    if claim.kind == "effect":
        assert claim.estimate is not None
        p = agreement_p(claim.estimate, claimed_se(claim), measured)
    elif present:  # H0: |effect| >= MIN_EDGE_EFFECT, as a present edge implies
        p = float(min(1.0, st.norm.cdf((abs(measured.value) - MIN_EDGE_EFFECT) / se) * 2))
    else:
        p = two_sided_p(measured.value / se)
    return Finding(
        claim_id=claim.id,
        status="supported" if p >= ALPHA else "contradicted",
        p_value=p,
        detail=f"measured {measured.value:.3f} ± {measured.se:.3f} (n={n}/arm) at "
        f"do({contrast.source}={contrast.lo:g}) vs {contrast.hi:g}",
    )


def _effect_claim(report: Report, source: str, target: str) -> Claim | None:
    return next(
        (
            c
            for c in report.claims
            if c.kind == "effect"
            and c.content.get("source") == source
            and c.content.get("target") == target
        ),
        None,
    )


def _testable(claim: Claim, edges: set[tuple[str, str]]) -> bool:
    if claim.kind == "effect":
        return claim.estimate is not None
    if claim.kind == "edge":
        present = (claim.probability or 0.0) >= 0.5
        s, t = claim.content.get("source"), claim.content.get("target")
        return present or t not in descendants(edges, str(s))
    return False


def _pair_key(claim: Claim) -> tuple[str, str, str]:
    return (claim.kind, str(claim.content.get("source")), str(claim.content.get("target")))


@registry.checks("causal")
class CausalChecks(DomainChecks):
    """The ``causal`` domain's checks (module docstring)."""

    domain = "causal"

    def counterfactual(self, brief: Brief, report: Report) -> dict[str, Any] | None:
        """ "increases" ↔ "decreases"; "has no effect on" becomes the direction opposite to
        the report's own estimate for the pair (the counterfactual the report disagrees with
        most)."""
        hyp = brief.hypothesis
        if not hyp or hyp.get("kind") != "effect_direction":
            return None
        s, t, d = hyp["source"], hyp["target"], hyp["direction"]
        if d in ("increases", "decreases"):
            new = "decreases" if d == "increases" else "increases"
        else:
            claim = _effect_claim(report, s, t)
            new = "decreases" if claim and (claim.estimate or 0.0) > 0 else "increases"
        return {**hyp, "direction": new, "text": f"Raising {s} {new} {t}."}

    def read(self, protocol: str, report: Report, ctx: ReviewContext) -> Verdict:
        """Reads the report only; suspicion = 1 - prod(1 - w) over the issues it finds."""
        edges = {
            (c.content["source"], c.content["target"])
            for c in report.claims
            if c.kind == "edge" and (c.probability or 0.0) >= 0.5
        }
        confident = {
            (c.content["source"], c.content["target"])
            for c in report.claims
            if c.kind == "edge" and (c.probability or 0.0) >= 0.9
        }
        issues: dict[str, list[str]] = {}
        for claim in report.claims:
            mine = issues.setdefault(claim.id, [])
            if not claim.evidence:
                mine.append("no_evidence")
            if claim.kind == "effect":
                s, t = claim.content.get("source"), claim.content.get("target")
                contrast = cited_contrast(claim, report)
                if claim.evidence and contrast is None:
                    mine.append("wrong_source")
                elif contrast is not None and (contrast.lo, contrast.hi) != (0.0, 1.0):
                    mine.append("off_contrast")
                if claim.interval is not None and isinstance(s, str):
                    lo, hi = claim.interval
                    excludes_zero = lo > 0 or hi < 0
                    if excludes_zero and t not in descendants(edges, s):
                        mine.append("no_path")
                    if not excludes_zero and hi - lo < 0.2 and t in descendants(confident, s):
                        mine.append("path_but_null")
        return reading_verdict(protocol, issues, READING_WEIGHTS, len(report.claims))

    def replicate(self, protocol: str, report: Report, ctx: ReviewContext) -> Verdict:
        from proctor.protocols.causal_replicate import replicate

        return replicate(protocol, report, ctx)

    def spot_check(self, protocol: str, report: Report, ctx: ReviewContext) -> Verdict:
        """Tests k randomly chosen claims with the protocol's own experiments."""
        lab = ctx.lab
        edges = {
            (c.content["source"], c.content["target"])
            for c in report.claims
            if c.kind == "edge" and (c.probability or 0.0) >= 0.5
        }
        pool = [c for c in report.claims if _testable(c, edges)]
        per_check = 2 * lab.price("intervene", values={}, n=N_PER_ARM)
        k = min(int(lab.budget // per_check), len(pool))
        if k == 0:
            return Verdict(
                protocol=protocol,
                rationale=f"budget {lab.budget:g} < one check ({per_check:g}): abstains",
            )
        picks = [pool[i] for i in sorted(ctx.rng.choice(len(pool), size=k, replace=False))]
        n = affordable_n(lab, lab.budget / k)
        findings: list[Finding] = []
        pvalues: list[float] = []
        for claim in picks:
            s, t = str(claim.content["source"]), str(claim.content["target"])
            measured = run_contrast(lab, Contrast(s, t, 0.0, 1.0), n)
            if measured is None:
                findings.append(
                    Finding(claim_id=claim.id, status="unchecked", detail="lab refused the check")
                )
                continue
            if claim.kind == "effect":
                assert claim.estimate is not None
                p = agreement_p(claim.estimate, claimed_se(claim), measured)
                what = f"effect {measured.value:.3f} ± {measured.se:.3f} vs {claim.estimate:.3f}"
            elif (claim.probability or 0.0) >= 0.5:
                # H0: |effect| >= MIN_EDGE_EFFECT, as a present edge implies; small p refutes.
                z = (abs(measured.value) - MIN_EDGE_EFFECT) / max(measured.se, 1e-12)
                p = float(min(1.0, st.norm.cdf(z) * 2))
                what = f"claimed edge; measured total effect {measured.value:.3f}"
            else:
                p = two_sided_p(measured.value / max(measured.se, 1e-12))
                what = f"claimed no path; measured total effect {measured.value:.3f}"
            pvalues.append(p)
            findings.append(
                Finding(
                    claim_id=claim.id,
                    status="supported" if p >= ALPHA else "contradicted",
                    p_value=p,
                    detail=what,
                )
            )
        if not pvalues:
            return Verdict(
                protocol=protocol,
                findings=findings,
                judge_cost=lab.spent,
                rationale="no check could run: abstains",
            )
        adjusted = holm(pvalues)
        return Verdict(
            protocol=protocol,
            suspicion=round(float(1 - adjusted.min()), 6),
            findings=findings,
            judge_cost=lab.spent,
            rationale=f"checked {len(pvalues)} of {len(report.claims)} claims; "
            f"min Holm p={adjusted.min():.3g}",
        )

    def check_price(self, lab: LabClient) -> float:
        return 2 * lab.price("intervene", values={}, n=CHECK_N)

    def disputes(self, report: Report, opponent: Report, ctx: ReviewContext) -> list[Dispute]:
        """Disputed effects (the opponent's estimate disagrees) and edges (the opponent puts
        them on the other side of 1/2)."""
        theirs = {_pair_key(c): c for c in opponent.claims if c.kind in ("edge", "effect")}
        out: list[Dispute] = []
        for claim in report.claims:
            other = theirs.get(_pair_key(claim))
            if other is None:
                continue
            if claim.kind == "effect" and claim.estimate is not None and other.estimate is not None:
                p = opponent_p(claim, other)
                if p < ALPHA:
                    out.append(Dispute(claim, 1 - p, f"opponent measured {other.estimate:.3f}"))
            elif claim.kind == "edge":
                mine, its = claim.probability or 0.0, other.probability or 0.0
                if (mine >= 0.5) != (its >= 0.5):
                    out.append(Dispute(claim, abs(mine - its), f"opponent gives p={its:.2f}"))
        return out

    def questionable(self, report: Report) -> list[Claim]:
        return [
            c
            for c in report.claims
            if (c.kind == "effect" and c.estimate is not None) or c.kind == "edge"
        ]

    def retest(
        self, claim: Claim, report: Report, ctx: ReviewContext, budget: float, *, cited: bool
    ) -> Finding:
        """A fresh two-arm experiment at the brief's contrast, or (`cited`) at the contrast
        the claim's cited interventions ran (the brief's when it cites none)."""
        s, t = str(claim.content["source"]), str(claim.content["target"])
        contrast = Contrast(s, t, 0.0, 1.0)
        if cited:
            contrast = cited_contrast(claim, report) or contrast
        return check_causal(ctx.lab, claim, contrast, claimed_edges(report), budget)
