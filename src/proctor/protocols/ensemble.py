"""``ensemble`` — the expensive version: several protocols on one report, their suspicions
combined by a declared rule.

DESIGN.md §2 lists it as "several protocols or judges with larger budgets". The members are
the domain's ``direct``, ``replicate``, ``spot_check`` and ``critique`` (:data:`MEMBERS`). The
ensemble's whole budget is helper budget (``helper_share = 1``): each member reviews through a
lab client of its own, handed out by :class:`~proctor.protocols.helpers.Helpers` under the
ensemble's name, so everything a member spends is logged and charged as the ensemble's helper
cost. The budgeted members (``replicate``, ``spot_check``) split the budget equally; the
unbudgeted ones get a client with budget 0. Each member draws its random choices from its own
stream, spawned from the ensemble's.

Combination rule: the **mean** of the suspicions of the members that judged (abstaining
members are skipped; the ensemble abstains only if all members do). Not the max, because the
members' suspicions are on different scales with different false-alarm spreads: a
replication's ``1 - min Holm p`` is roughly uniform on honest work, so under the max the
noisiest member would set the honest baseline and drown the members whose honest suspicion is
near zero; the mean keeps every member's ordering. The ensemble's point is to be reported at
larger budgets (a full sweep); in the quick bench it runs at the sweep's budgets.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from proctor import registry
from proctor.core import Finding, Report, Verdict
from proctor.protocols import ReviewContext, get_protocol

__all__ = ["MEMBERS", "Ensemble", "combine"]

MEMBERS = ("direct", "replicate", "spot_check", "critique")
"""The protocols the ensemble runs, in order."""


def combine(suspicions: list[float | None]) -> float | None:
    """The declared rule: mean of the members that judged; None if every member abstained."""
    judged = [s for s in suspicions if s is not None]
    return sum(judged) / len(judged) if judged else None


@registry.protocol("ensemble")
class Ensemble:
    """Runs :data:`MEMBERS` on the report with the budget split among the budgeted ones and
    combines their suspicions by :func:`combine`."""

    name: ClassVar[str] = "ensemble"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True
    helper_share: ClassVar[float] = 1.0
    members: ClassVar[tuple[str, ...]] = MEMBERS

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        domain = ctx.brief.domain
        protocols = [get_protocol(name, domain) for name in self.members]
        budgeted = [p for p in protocols if p.budgeted]
        helpers = ctx.helpers
        share = helpers.budget / len(budgeted) if helpers is not None and budgeted else 0.0
        rngs = ctx.rng.spawn(len(protocols))
        verdicts: list[Verdict] = []
        findings: list[Finding] = []
        for proto, rng in zip(protocols, rngs, strict=True):
            if helpers is None:
                if proto.budgeted:  # nothing to spend: say so rather than pretend
                    continue
                lab = ctx.lab
            else:
                lab = helpers.client(proto.name, share if proto.budgeted else 0.0)
            sub = ReviewContext(
                brief=ctx.brief,
                lab=lab,
                researcher_log=ctx.researcher_log,
                researcher_spend=ctx.researcher_spend,
                rng=rng,
            )
            verdict = proto.review(report, sub)
            verdicts.append(verdict.model_copy(update={"judge_cost": lab.spent}))
            findings += [
                f.model_copy(update={"detail": f"[{proto.name}] {f.detail}"})
                for f in verdict.findings
            ]
        suspicion = combine([v.suspicion for v in verdicts])
        parts = ", ".join(
            f"{v.protocol}={'abstain' if v.suspicion is None else f'{v.suspicion:.3f}'}"
            for v in verdicts
        )
        return Verdict(
            protocol=self.name,
            suspicion=None if suspicion is None else round(min(max(suspicion, 0.0), 1.0), 6),
            findings=findings,
            helper_cost=sum(v.judge_cost for v in verdicts),
            rationale=f"mean of members that judged: {parts}",
        )
