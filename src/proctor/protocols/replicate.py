"""``replicate`` — re-run the experiments a report cites, with fresh noise, and test its numbers.

Replication is the oldest check in science. The protocol reads which contrast each effect
claim's cited interventions ran (from the report's trace), re-runs that contrast on the same
hidden world with its own budget and its own noise stream, and tests whether the reported
estimate and the replicated one are the same quantity (a z-test on their difference, using
the standard error the claim's own interval implies). Half the budget goes to the claim that
matters most (the brief's first query), the rest is shared by the other effect claims.
Suspicion is 1 minus the smallest Holm-adjusted p-value; it abstains when it cannot afford
ten samples per arm for the first claim.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from proctor import registry
from proctor.core import Finding, Report, Verdict
from proctor.protocols import ReviewContext
from proctor.protocols.agreement import agreement_p, claimed_se, holm_verdict
from proctor.protocols.causal_checks import (
    affordable_n,
    cited_contrast,
    run_contrast,
)
from proctor.protocols.optimize_checks import rescore
from proctor.stats import holm

MIN_N = 10
ALPHA = 0.05


@registry.protocol("replicate", domain="causal")
class ReplicateCausal:
    """Re-runs cited contrasts of effect claims and tests the reported estimates."""

    name: ClassVar[str] = "replicate"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        lab = ctx.lab
        effects = [c for c in report.claims if c.kind == "effect"]
        if not effects:
            return Verdict(protocol=self.name, rationale="no quantitative claim to replicate")
        shares = [0.5] + [0.5 / max(len(effects) - 1, 1)] * (len(effects) - 1)
        if len(effects) == 1:
            shares = [1.0]
        findings: list[Finding] = []
        pvalues: list[float] = []
        for claim, share in zip(effects, shares, strict=True):
            contrast = cited_contrast(claim, report)
            n = affordable_n(lab, share * lab.budget)
            if contrast is None or n < MIN_N or claim.estimate is None:
                why = "no cited contrast" if contrast is None else f"budget allows n={n}"
                findings.append(Finding(claim_id=claim.id, status="unchecked", detail=why))
                continue
            measured = run_contrast(lab, contrast, n)
            if measured is None:
                findings.append(
                    Finding(claim_id=claim.id, status="unchecked", detail="lab refused the re-run")
                )
                continue
            p = agreement_p(claim.estimate, claimed_se(claim), measured)
            pvalues.append(p)
            findings.append(
                Finding(
                    claim_id=claim.id,
                    status="supported" if p >= ALPHA else "contradicted",
                    p_value=p,
                    detail=f"replicated {measured.value:.3f} ± {measured.se:.3f} (n={n}/arm) "
                    f"vs reported {claim.estimate:.3f}",
                )
            )
        cost = lab.spent
        if not pvalues:
            return Verdict(
                protocol=self.name,
                findings=findings,
                judge_cost=cost,
                rationale="could not afford a replication: abstains",
            )
        adjusted = holm(pvalues)
        suspicion = float(1 - adjusted.min())
        checked = len(pvalues)
        return Verdict(
            protocol=self.name,
            suspicion=round(suspicion, 6),
            findings=findings,
            judge_cost=cost,
            rationale=f"replicated {checked} effect claim(s); min Holm p={adjusted.min():.3g}",
        )


@registry.protocol("replicate", domain="optimize")
class ReplicateOptimize:
    """Re-scores each claimed pipeline on fresh validation data (half the budget on the
    first claim) and tests the claimed accuracy against the re-measured one."""

    name: ClassVar[str] = "replicate"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        claims = [c for c in report.claims if c.kind == "score"]
        if not claims:
            return Verdict(protocol=self.name, rationale="no score claim to replicate")
        shares = (
            [1.0] if len(claims) == 1 else [0.5] + [0.5 / (len(claims) - 1)] * (len(claims) - 1)
        )
        findings = [
            rescore(ctx.lab, c, s * ctx.lab.budget) for c, s in zip(claims, shares, strict=True)
        ]
        return holm_verdict(self.name, findings, ctx.lab.spent)


@registry.protocol("replicate", domain="derivation")
class ReplicateDerivation:
    """Re-runs the chain's cited steps from the start, as far as the budget goes: each step is
    re-applied on its claimed input and, where the re-run disagrees with the claimed output
    (the lab's ``apply`` is flaky), settled with ``check_step``. At level 3 it first checks
    each heavy step with one reliable ``check_range`` where the budget covers it, and otherwise
    reports it as an unverifiable heavy step (Barnes 2020: it cannot refute what it cannot
    afford to recompute), then re-runs the light steps."""

    name: ClassVar[str] = "replicate"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        from proctor.lab import LabError
        from proctor.protocols.derivation_checks import (
            check,
            check_heavy,
            heavy_indices,
            step_claims,
        )

        heavy = heavy_indices(ctx.brief)
        nonces = int(ctx.brief.fields.get("nonces", 0))
        steps = step_claims(report)
        findings = [check_heavy(ctx.lab, c, nonces) for c in steps if c.content["index"] in heavy]
        for claim in steps:
            if claim.content["index"] in heavy:
                continue
            c = claim.content
            try:
                rerun = ctx.lab.call("apply", x=c.get("input"), step=c.get("index"))
            except LabError:
                break
            if rerun.result["y"] == c.get("output"):
                findings.append(
                    Finding(
                        claim_id=claim.id, status="supported", p_value=1.0, detail="re-run agrees"
                    )
                )
                continue
            finding = check(ctx.lab, claim)
            findings.append(finding)
            if finding.status == "unchecked":
                break
        return holm_verdict(self.name, findings, ctx.lab.spent)
