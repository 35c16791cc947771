"""``spot_check`` — decomposition: test a random handful of claims with new experiments.

The report is split into its claims, and k of them (as many as the budget buys at a fixed
size per check) are drawn at random and tested with checks the protocol designs itself (after
Wu et al. 2021 on decomposition: checking parts is cheaper than checking wholes, and works
modestly). Suspicion is 1 minus the smallest Holm-adjusted p-value; it abstains when it cannot
afford one check. What a check is, is the domain's
(:meth:`~proctor.protocols.checks.DomainChecks.spot_check`): a two-arm experiment at the
brief's contrast (``causal``), a re-score on fresh validation data (``optimize``), a reliable
``check_step`` (``derivation``, heavy steps first by ``check_range``), or the whole budget on
one region's history (``forecast``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from proctor import registry
from proctor.core import Report, Verdict
from proctor.protocols import ReviewContext
from proctor.protocols.checks import domain_checks

__all__ = ["SpotCheck"]


@registry.protocol("spot_check")
class SpotCheck:
    """Tests k randomly drawn claims with the domain's checks."""

    name: ClassVar[str] = "spot_check"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        return domain_checks(ctx.brief.domain).spot_check(self.name, report, ctx)
