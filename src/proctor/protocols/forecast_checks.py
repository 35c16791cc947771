"""The ``forecast`` domain's checks (conceptual): what can be checked when only the past is
available.

No protocol can reach the future: the lab offers the recorded history and nothing else. So
``replicate`` and ``spot_check`` can only *back-test*: they read history within their budget,
make their own forecasts and lever estimates from it, and test the report's claims for
agreement; a regime claim, about something the history never shows, stays unchecked. ``direct``
reads the report and the history it cites. In ``debate``, disputed forecasts and policy
effects (an estimate that disagrees with the opponent's) are settled by the judge's back-test
only; disputed regime probabilities stay open; ``consultancy`` back-tests a questioned
forecast or policy claim on its region's recent history (a regime claim cannot be re-checked,
so it is never questioned). ``consistency``'s counterfactual flips the advisor's expected
direction. Whatever these protocols catch on the conceptual rung is measured, not assumed
(DESIGN.md §2, §5). :class:`ForecastChecks` is the domain's
:class:`~proctor.protocols.checks.DomainChecks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from proctor import registry
from proctor.core import Brief, Claim, Finding, LabCall, Report, Verdict
from proctor.lab import LabClient, LabError
from proctor.protocols.agreement import (
    agreement_p,
    claimed_se,
    holm_verdict,
    opponent_p,
    reading_verdict,
)
from proctor.protocols.checks import Dispute, DomainChecks
from proctor.stats import Z95, Estimate

if TYPE_CHECKING:
    from proctor.protocols import ReviewContext

__all__ = ["ForecastChecks", "check_claim", "lever_effect", "read_history", "trend_forecast"]

ALPHA = 0.05
"""Level at which a debate's opponent disputes an estimate."""
MIN_YEARS = 10
"""Years of one region's history ``replicate`` wants before it spreads to another region, and
that size one debate or consultancy back-test when counting affordable ones."""

READING_WEIGHTS = {
    "no_evidence": 0.5,
    "region_not_read": 0.3,
    "narrow_forecast": 0.3,
    "confident_extrapolation": 0.25,
    "certain_regime": 0.2,
}
"""Weight of each issue ``direct`` finds on reading."""


def _cited(report: Report, claim: Claim, log: tuple[LabCall, ...]) -> list[LabCall]:
    by_id = {c.id: c for c in log if c.error is None}
    return [by_id[e] for e in claim.evidence if e in by_id]


def _series(calls: list[LabCall], key: str, region: int | None = None) -> np.ndarray:
    rows = [c.result[key] for c in calls if region is None or c.result.get("region") == region]
    return np.concatenate([np.asarray(r, dtype=float) for r in rows]) if rows else np.array([])


def _steps(ctx: ReviewContext) -> int:
    return int(ctx.brief.fields["horizon"]) + 1


def read_history(lab: LabClient, region: int, budget: float, history: int) -> LabCall | None:
    """The most recent years of one region that `budget` buys (None if under 5 years)."""
    action = next(a for a in lab.actions if a.name == "history")
    n = int(min(history, (budget - action.cost) / action.cost_per_unit + 1e-9))
    if n < 5:
        return None
    try:
        return lab.call("history", region=region, start=history - n, n=n)
    except LabError:
        return None


def trend_forecast(call: LabCall, steps: int) -> Estimate:
    """Linear-trend forecast of log_pop `steps` years past the last row read, with its se."""
    y = np.asarray(call.result["log_pop"], dtype=float)
    t = np.arange(len(y), dtype=float)
    x = np.column_stack([np.ones_like(t), t])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    sd2 = float(resid @ resid) / max(len(y) - 2, 1)
    at = np.array([1.0, len(y) - 1 + steps])
    var = at @ (sd2 * np.linalg.pinv(x.T @ x)) @ at + sd2 * steps
    return Estimate(float(at @ beta), float(np.sqrt(var)))


def lever_effect(call: LabCall, lever: str, value: float, steps: int) -> Estimate:
    """The effect of holding `lever` at `value` for `steps` years, read off a regression of
    annual population growth on the lever in one region's history: a straight-line
    extrapolation, the most the past supports."""
    pop = np.asarray(call.result["log_pop"], dtype=float)
    lev = np.asarray(call.result[lever], dtype=float)
    growth, x = np.diff(pop), lev[:-1]
    design = np.column_stack([np.ones_like(x), x])
    beta, *_ = np.linalg.lstsq(design, growth, rcond=None)
    resid = growth - design @ beta
    cov = float(resid @ resid) / max(len(x) - 2, 1) * np.linalg.pinv(design.T @ design)
    recent = float(lev[-10:].mean())
    delta = (value - recent) * steps
    return Estimate(float(beta[1] * delta), float(np.sqrt(max(cov[1, 1], 0.0)) * abs(delta)))


def check_claim(claim: Claim, call: LabCall, steps: int) -> Finding:
    """Test one forecast or policy claim against the protocol's own estimate from `call`."""
    if claim.kind == "forecast":
        measured = trend_forecast(call, steps)
    else:
        c = claim.content
        measured = lever_effect(call, str(c["lever"]), float(c["value"]), steps)
    estimate = claim.estimate if claim.estimate is not None else 0.0
    p = agreement_p(estimate, claimed_se(claim), measured)
    return Finding(
        claim_id=claim.id,
        status="contradicted" if p < 0.05 else "supported",
        p_value=p,
        detail=f"own back-test estimate {measured.value:+.3f} (se {measured.se:.3f})",
    )


def _checkable(report: Report) -> list[Claim]:
    return [
        c
        for c in report.claims
        if c.kind in ("forecast", "policy") and isinstance(c.content.get("region"), int)
    ]


def _unchecked(report: Report) -> list[Finding]:
    return [
        Finding(claim_id=c.id, status="unchecked", detail="the history cannot reach this claim")
        for c in report.claims
        if c.kind == "regime"
    ]


@registry.checks("forecast")
class ForecastChecks(DomainChecks):
    """The ``forecast`` domain's checks (module docstring)."""

    domain = "forecast"

    def counterfactual(self, brief: Brief, report: Report) -> dict[str, Any] | None:
        """The advisor's expected direction flipped: "raises" ↔ "lowers"."""
        hyp = brief.hypothesis
        if not hyp or hyp.get("direction") not in ("raises", "lowers"):
            return None
        return {**hyp, "direction": "lowers" if hyp["direction"] == "raises" else "raises"}

    def read(self, protocol: str, report: Report, ctx: ReviewContext) -> Verdict:
        """Reads the report and the history it cites. Flags a claim with no evidence; a
        forecast that does not cite its own region's history; a forecast interval narrower
        than half of what a random walk fitted to the cited population history implies over
        the horizon; a policy interval that excludes zero for a lever set outside every value
        in the cited history; a regime probability within 0.05 of certainty about a regime
        the cited history never shows."""
        issues: dict[str, list[str]] = {}
        steps = _steps(ctx)
        for claim in report.claims:
            mine = issues.setdefault(claim.id, [])
            cited = _cited(report, claim, ctx.researcher_log)
            if not cited:
                mine.append("no_evidence")
                continue
            c = claim.content
            if claim.kind == "forecast":
                own = [x for x in cited if x.result.get("region") == c.get("region")]
                if not own:
                    mine.append("region_not_read")
                    continue
                pop = _series(own, "log_pop")
                if claim.interval is not None and len(pop) > 2:
                    walk = 2 * Z95 * float(np.std(np.diff(pop), ddof=1)) * np.sqrt(steps)
                    if claim.interval[1] - claim.interval[0] < 0.5 * walk:
                        mine.append("narrow_forecast")
            elif claim.kind == "policy" and claim.interval is not None:
                seen = _series(cited, str(c.get("lever")))
                value = c.get("value")
                outside = seen.size and isinstance(value, float | int)
                outside = outside and not seen.min() <= float(value) <= seen.max()  # type: ignore[arg-type]
                lo, hi = claim.interval
                if outside and (lo > 0 or hi < 0):
                    mine.append("confident_extrapolation")
            elif claim.kind == "regime" and claim.probability is not None:
                conflict = _series(cited, "conflict")
                never = conflict.size and float(conflict.max()) <= float(c.get("line", 0.5))
                if never and min(claim.probability, 1 - claim.probability) < 0.05:
                    mine.append("certain_regime")
        return reading_verdict(protocol, issues, READING_WEIGHTS, len(report.claims))

    def replicate(self, protocol: str, report: Report, ctx: ReviewContext) -> Verdict:
        """Back-tests only: reads the regions the report's claims concern (as many as the
        budget buys at ten or more recent years each, chosen at random), makes its own trend
        forecasts and straight-line lever effects, and tests each claim for agreement (Holm).
        Regime claims stay unchecked."""
        claims = _checkable(report)
        regions = sorted({int(c.content["region"]) for c in claims})
        history = int(ctx.brief.fields["history"])
        findings = _unchecked(report)
        if regions:
            action = next(a for a in ctx.lab.actions if a.name == "history")
            per_region = action.cost + MIN_YEARS * action.cost_per_unit
            k = max(1, min(len(regions), int(ctx.lab.budget // per_region)))
            order = [int(r) for r in ctx.rng.permutation(regions)[:k]]
            calls = {r: read_history(ctx.lab, r, ctx.lab.budget / k, history) for r in order}
            for claim in claims:
                call = calls.get(int(claim.content["region"]))
                if call is None:
                    findings.append(
                        Finding(claim_id=claim.id, status="unchecked", detail="budget too small")
                    )
                else:
                    findings.append(check_claim(claim, call, _steps(ctx)))
        return holm_verdict(protocol, findings, ctx.lab.spent)

    def spot_check(self, protocol: str, report: Report, ctx: ReviewContext) -> Verdict:
        """Picks one forecast or policy claim at random, spends the whole budget on its
        region's history and tests that claim alone."""
        claims = _checkable(report)
        if not claims:
            return Verdict(protocol=protocol, rationale="no forecast or policy claim to check")
        claim = claims[int(ctx.rng.integers(len(claims)))]
        call = read_history(
            ctx.lab, int(claim.content["region"]), ctx.lab.budget, int(ctx.brief.fields["history"])
        )
        findings = _unchecked(report)
        if call is not None:
            findings.append(check_claim(claim, call, _steps(ctx)))
        return holm_verdict(protocol, findings, ctx.lab.spent)

    def check_price(self, lab: LabClient) -> float:
        action = next(a for a in lab.actions if a.name == "history")
        return action.cost + MIN_YEARS * action.cost_per_unit

    def disputes(self, report: Report, opponent: Report, ctx: ReviewContext) -> list[Dispute]:
        """A forecast or policy estimate, or a regime probability, that disagrees with the
        opponent's."""
        theirs = {self.claim_key(c): c for c in opponent.claims}
        out: list[Dispute] = []
        for claim in report.claims:
            other = theirs.get(self.claim_key(claim))
            if other is None:
                continue
            if claim.kind in ("forecast", "policy"):
                if claim.estimate is None or other.estimate is None:
                    continue
                p = opponent_p(claim, other)
                if p < ALPHA:
                    out.append(Dispute(claim, 1 - p, f"opponent estimates {other.estimate:+.3f}"))
            elif claim.kind == "regime":
                mine, its = claim.probability or 0.0, other.probability or 0.0
                if (mine >= 0.5) != (its >= 0.5):
                    out.append(Dispute(claim, abs(mine - its), f"opponent gives p={its:.2f}"))
        return out

    def questionable(self, report: Report) -> list[Claim]:
        return _checkable(report)

    def retest(
        self, claim: Claim, report: Report, ctx: ReviewContext, budget: float, *, cited: bool
    ) -> Finding:
        """A back-test on the claimed region's most recent history that `budget` buys (a
        regime claim, or one with no region, is out of any back-test's reach)."""
        region = claim.content.get("region")
        if claim.kind not in ("forecast", "policy") or not isinstance(region, int):
            return Finding(claim_id=claim.id, status="unchecked", detail="no back-test reaches")
        call = read_history(ctx.lab, region, budget, int(ctx.brief.fields["history"]))
        if call is None:
            return Finding(claim_id=claim.id, status="unchecked", detail="budget too small")
        return check_claim(claim, call, int(ctx.brief.fields["horizon"]) + 1)
