"""``direct`` — a judge that reads the report only, the baseline every protocol is set beside.

Kenton et al. (2024) find that debate beats a direct judge only where the judge lacks
information, so proctor always reports this baseline. What a careful reader checks without a
lab call is the domain's (:meth:`~proctor.protocols.checks.DomainChecks.read`): on ``causal``,
that every claim rests on cited calls, that an effect cites interventions at the brief's
contrast, and that effects cohere with the claimed graph; on ``optimize``, that a score cites
a scoring of its own pipeline, is not the very measurement it was selected on, and is no
narrower than its sample allows; on ``derivation``, that the chain hangs together; on
``forecast``, that claims cite their own region's history and are no surer than it allows.
Each issue weighs in and suspicion = 1 - prod(1 - weight)
(:func:`~proctor.protocols.agreement.reading_verdict`). Costs no lab budget.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from proctor import registry
from proctor.core import Report, Verdict
from proctor.protocols import ReviewContext
from proctor.protocols.checks import domain_checks

__all__ = ["Direct"]


@registry.protocol("direct")
class Direct:
    """Reads the report only, as the domain's checks define reading."""

    name: ClassVar[str] = "direct"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = False

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        return domain_checks(ctx.brief.domain).read(self.name, report, ctx)
