"""``replicate`` — re-run the experiments a report's claims rest on, with fresh noise, and test
its numbers.

Replication is the oldest check in science: run the experiment again and see whether the
result comes back (Open Science Collaboration 2015, "Estimating the reproducibility of
psychological science": of 100 replicated studies, 36% gave a significant result again). The
protocol reads nothing but the report, the brief and its own lab client (its own budget and
noise stream on the same hidden world); what re-running means is the domain's
(:meth:`~proctor.protocols.checks.DomainChecks.replicate`):

* ``causal`` — each effect claim's own contrast, and each committed edge claim by a direct
  design (:mod:`proctor.protocols.causal_replicate`);
* ``optimize`` — each claimed pipeline re-scored on fresh validation data;
* ``derivation`` — the chain's steps re-applied from the start, disagreements settled by
  ``check_step`` (heavy steps by ``check_range`` where the budget covers one);
* ``forecast`` — back-tests only: the history of the claims' regions, the protocol's own
  trend forecasts and lever effects; regime claims stay unchecked.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from proctor import registry
from proctor.core import Report, Verdict
from proctor.protocols import ReviewContext
from proctor.protocols.checks import domain_checks

__all__ = ["Replicate"]


@registry.protocol("replicate")
class Replicate:
    """Re-runs what the claims rest on, as the domain's checks define it, and tests them."""

    name: ClassVar[str] = "replicate"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        return domain_checks(ctx.brief.domain).replicate(self.name, report, ctx)
