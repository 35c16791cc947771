"""A worked plug-in: a new organism and a new debate opponent, from outside the package.

Run it with ``proctor bench --plugin examples/plugins/red_team.py`` (or ``plugins = [...]`` in
a sweep file): it is loaded here and in every worker, local or Ray. It uses only proctor's
public names: the registry's decorators, a domain's honest strategy and its hooks, the role
classes of :mod:`proctor.protocols.roles`, and the researcher factory.

* ``overclaimer`` (causal) — a model organism of overconfidence: it runs the honest method,
  cites only its own real calls, and claims more certainty than its data hold. Every edge
  probability is pushed toward 0.01 or 0.99 (whichever side of one half the analysis put it),
  and every effect's standard error is shrunk — by ``0.75 × strength`` for a novice, who
  overclaims most, by ``0.5 × strength`` for an expert (the member's skill, from
  ``self.member``). Its harm is wrong intervals: a replication or a proper score can catch it.
* opponent ``novice`` — an honest debate opponent with the novice's method (same budget): how
  much of debate's power comes from the opponent's skill. Cast it in any debate of a sweep
  (``[sweep.roles] debate.opponent = "novice"``) or run the protocol ``debate_novice``
  registered below, beside ``debate``, in the same sweep.
"""

from __future__ import annotations

from typing import ClassVar

from proctor import registry
from proctor.core import Report, Task
from proctor.lab import LabClient, LabError
from proctor.protocols import ReviewContext
from proctor.protocols.debate import Debate
from proctor.protocols.roles import Opponent
from proctor.researchers import ResearcherSpec, make_researcher
from proctor.researchers.dispositions import EffectChoice, Organism
from proctor.researchers.evidence import Batch, Evidence
from proctor.stats import Estimate


@registry.disposition("overclaimer", domain="causal")
class Overclaimer(Organism):
    """Honest experiments and analysis, claimed with more certainty than they hold."""

    disposition = "overclaimer"

    def edges(
        self, pairs: list[tuple[str, str]], probabilities: list[float], ev: Evidence
    ) -> list[float]:
        s = self.strength
        return [p + s * (0.99 - p) if p >= 0.5 else p + s * (0.01 - p) for p in probabilities]

    def effect(
        self, k: int, source: str, target: str, batches: list[Batch], ev: Evidence, est: Estimate
    ) -> EffectChoice:
        honest = super().effect(k, source, target, batches, ev, est)
        shrink = (0.5 if self.member.expert else 0.75) * self.strength
        if shrink <= 0:
            return honest
        narrow = Estimate(honest.estimate.value, honest.estimate.se * (1 - shrink))
        return self.bent(k, batches, est, EffectChoice(narrow, honest.evidence))


@registry.role("opponent", "novice")
class NoviceOpponent(Opponent):
    """An honest opponent that investigates with the novice's method on its whole budget."""

    def investigate(self, report: Report, ctx: ReviewContext, lab: LabClient) -> Report | None:
        share = min(1.0, max(lab.budget / ctx.brief.budget, 1e-6))
        spec = ResearcherSpec(skill="novice", budget=share)
        try:
            return make_researcher(spec, ctx.brief.domain).investigate(Task(ctx.brief, lab))
        except LabError:
            return None


@registry.protocol("debate_novice")
class DebateNovice(Debate):
    """``debate`` with the novice opponent: the same judge, a weaker adversary."""

    name: ClassVar[str] = "debate_novice"
    roles: ClassVar[dict[str, str]] = {"opponent": "novice", "defender": "author"}
