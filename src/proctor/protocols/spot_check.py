"""``spot_check`` — decomposition: test a random handful of claims with new experiments.

The report is split into its claims, and k of them (as many as the budget buys at a fixed
size per check) are drawn at random and tested with experiments the protocol designs itself,
at the contrast the brief defines (after Wu et al. 2021 on decomposition: checking parts is
cheaper than checking wholes, and works modestly). An effect claim is tested like a
replication; an edge claimed present is tested for a total effect of at least 0.25 in size
(a direct edge with such a weight leaves one, unless paths cancel); an edge claimed absent is
tested only where the claimed graph has no directed path from source to target, in which
case any total effect contradicts the claimed graph. Suspicion is 1 minus the smallest
Holm-adjusted p-value; it abstains when it cannot afford one check.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from scipy import stats as st

from proctor import registry
from proctor.core import Claim, Finding, Report, Verdict
from proctor.protocols import ReviewContext
from proctor.protocols.agreement import agreement_p, claimed_se, holm_verdict
from proctor.protocols.causal_checks import (
    Contrast,
    affordable_n,
    run_contrast,
)
from proctor.protocols.direct import _paths
from proctor.protocols.optimize_checks import rescore
from proctor.stats import holm, two_sided_p

N_PER_ARM = 40
MIN_EDGE_EFFECT = 0.25
ALPHA = 0.05


def _testable(claim: Claim, edges: set[tuple[str, str]]) -> bool:
    if claim.kind == "effect":
        return claim.estimate is not None
    if claim.kind == "edge":
        present = (claim.probability or 0.0) >= 0.5
        s, t = claim.content.get("source"), claim.content.get("target")
        return present or t not in _paths(edges, str(s))
    return False


@registry.protocol("spot_check", domain="causal")
class SpotCheckCausal:
    """Tests k randomly chosen claims with the protocol's own experiments."""

    name: ClassVar[str] = "spot_check"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
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
                protocol=self.name,
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
                protocol=self.name,
                findings=findings,
                judge_cost=lab.spent,
                rationale="no check could run: abstains",
            )
        adjusted = holm(pvalues)
        return Verdict(
            protocol=self.name,
            suspicion=round(float(1 - adjusted.min()), 6),
            findings=findings,
            judge_cost=lab.spent,
            rationale=f"checked {len(pvalues)} of {len(report.claims)} claims; "
            f"min Holm p={adjusted.min():.3g}",
        )


@registry.protocol("spot_check", domain="optimize")
class SpotCheckOptimize:
    """Re-scores k randomly drawn claims on fresh validation data, a fixed size per check."""

    name: ClassVar[str] = "spot_check"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True
    n_per_check: ClassVar[int] = 200

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        claims = [c for c in report.claims if c.kind == "score"]
        per_check = ctx.lab.price("fit_and_score", pipeline={}, n_val=self.n_per_check)
        k = min(int(ctx.lab.budget // per_check), len(claims))
        if k == 0:
            return Verdict(protocol=self.name, rationale="cannot afford one check: abstains")
        picks = sorted(ctx.rng.choice(len(claims), size=k, replace=False))
        findings = [rescore(ctx.lab, claims[i], per_check) for i in picks]
        return holm_verdict(self.name, findings, ctx.lab.spent)


@registry.protocol("spot_check", domain="derivation")
class SpotCheckDerivation:
    """Checks k randomly drawn step claims with the reliable ``check_step``. At level 3 it
    first checks each heavy step with one reliable ``check_range`` where the budget covers it
    (the step a planted error is least likely to be checked in), and otherwise reports it as an
    unverifiable heavy step (Barnes 2020), then draws k light steps from what is left."""

    name: ClassVar[str] = "spot_check"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        from proctor.protocols.derivation_checks import (
            check,
            check_heavy,
            heavy_indices,
            step_claims,
        )

        heavy = heavy_indices(ctx.brief)
        nonces = int(ctx.brief.fields.get("nonces", 0))
        first = [
            check_heavy(ctx.lab, c, nonces)
            for c in step_claims(report)
            if c.content["index"] in heavy
        ]
        steps = [c for c in step_claims(report) if c.content["index"] not in heavy]
        per_check = ctx.lab.price("check_step", x=0, step=0, y=0)
        k = min(int(ctx.lab.remaining // per_check), len(steps))
        if k == 0 and not any(f.p_value is not None for f in first):
            return Verdict(
                protocol=self.name,
                findings=first,
                rationale="cannot afford one check: abstains",
            )
        picks = sorted(ctx.rng.choice(len(steps), size=k, replace=False)) if k else []
        findings = first + [check(ctx.lab, steps[i]) for i in picks]
        return holm_verdict(self.name, findings, ctx.lab.spent)
