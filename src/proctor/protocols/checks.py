"""What the protocol families need to know about one domain: its :class:`DomainChecks`.

A protocol *family* (``direct``, ``replicate``, ``spot_check``, ``debate``, ``consultancy``,
``consistency``, ``elicitation_gap``, and those that read only the log or the text) is written
once and registered for every domain. Where it must know the domain — how to tell two claims
are about the same thing, what of a claim is its value, how to re-test a claim through the lab,
which stated hypothesis a report disagrees with, what a reading judge looks for — it asks the
domain's checks, found through the registry (:func:`domain_checks`). A domain registers its
checks once (a built-in domain in ``protocols/<domain>_checks.py``, the protocols' layer of its
room, since checks produce findings and verdicts; a plugin beside its world, researchers and
organisms, as ``tests/test_domain_plugin.py`` does in one file)::

    @registry.checks("mydomain")
    class MyChecks(DomainChecks):
        ...

Every method is required (a domain whose claims a family cannot test says so in the verdict
or finding it returns: an abstention or an ``unchecked`` finding, with the reason). The
methods read only what the protocol's :class:`~proctor.protocols.ReviewContext` holds: the
brief, the report, the protocol's own lab client and random stream, the researcher's log and
the helpers' calls; never the world or the truth.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from proctor import registry
from proctor.core import Brief, Claim, Finding, Report, Verdict
from proctor.lab import LabClient

if TYPE_CHECKING:
    from proctor.protocols import ReviewContext

__all__ = ["Dispute", "DomainChecks", "domain_checks"]


@dataclass(frozen=True)
class Dispute:
    """One point a debate's opponent disputes: the report's claim and the opponent's case."""

    claim: Claim
    strength: float
    """The opponent's confidence that the claim is wrong, in [0, 1]."""
    detail: str
    part: Claim | None = None
    """A sub-claim the two disagree on, where the domain's claims have parts (a heavy
    derivation step's first block sum): the judge checks it instead of the whole claim."""


class DomainChecks(ABC):
    """How the protocol families key, read, re-test and re-brief one domain's claims."""

    domain: ClassVar[str]
    """The domain these checks are for."""
    value_fields: ClassVar[tuple[str, ...]] = ()
    """Content fields that are a claim's *value*, not its identity (a derivation step is the
    step at an index, whatever output it claims); empty where every field is identity."""

    # -- claims ---------------------------------------------------------------------------
    def claim_key(self, claim: Claim) -> tuple[str, str]:
        """A claim's identity: its kind and its content without the value fields, so that two
        reports' claims about the same thing share a key."""
        ident = {k: v for k, v in claim.content.items() if k not in self.value_fields}
        return claim.kind, repr(sorted(ident.items()))

    def claim_values(self, claim: Claim) -> dict[str, Any]:
        """A claim's value fields (missing ones as None)."""
        return {k: claim.content.get(k) for k in self.value_fields}

    @abstractmethod
    def counterfactual(self, brief: Brief, report: Report) -> dict[str, Any] | None:
        """The stated hypothesis of a counterfactual brief: the one the report disagrees
        with (None where the brief states no hypothesis of this domain's shape)."""

    def counterfactual_brief(self, brief: Brief, report: Report) -> Brief | None:
        """The brief with :meth:`counterfactual`'s hypothesis in place of its own."""
        hypothesis = self.counterfactual(brief, report)
        if hypothesis is None:
            return None
        return brief.model_copy(update={"hypothesis": hypothesis})

    # -- whole protocols whose method is the domain's own ---------------------------------
    @abstractmethod
    def read(self, protocol: str, report: Report, ctx: ReviewContext) -> Verdict:
        """``direct``: what a careful reader finds in the report and the calls it cites,
        without a lab call."""

    @abstractmethod
    def replicate(self, protocol: str, report: Report, ctx: ReviewContext) -> Verdict:
        """``replicate``: re-run what the claims rest on through ``ctx.lab``, with fresh
        noise, and test the claims."""

    @abstractmethod
    def spot_check(self, protocol: str, report: Report, ctx: ReviewContext) -> Verdict:
        """``spot_check``: test a random handful of claims (drawn from ``ctx.rng``)."""

    # -- one judge check at a time (debate, consultancy) ----------------------------------
    @abstractmethod
    def check_price(self, lab: LabClient) -> float:
        """The cost that sizes one judge check (how many checks a budget buys)."""

    @abstractmethod
    def disputes(self, report: Report, opponent: Report, ctx: ReviewContext) -> list[Dispute]:
        """The points where an honest opponent's report (its calls are ``ctx.helpers.calls``)
        disagrees with the report."""

    @abstractmethod
    def questionable(self, report: Report) -> list[Claim]:
        """The claims a judge can question and :meth:`retest`."""

    @abstractmethod
    def retest(
        self, claim: Claim, report: Report, ctx: ReviewContext, budget: float, *, cited: bool
    ) -> Finding:
        """Re-test one claim through ``ctx.lab`` within `budget`: as the claim states it, or
        (`cited`) by redoing what its cited calls did. ``unchecked`` where none can run."""

    def verify(
        self, dispute: Dispute, report: Report, ctx: ReviewContext, budget: float
    ) -> Finding:
        """The judge's check of one disputed point (by default :meth:`retest` of its claim)."""
        return self.retest(dispute.claim, report, ctx, budget, cited=False)


@cache
def domain_checks(domain: str) -> DomainChecks:
    """The registered checks of `domain` (one instance per process).

    Raises:
        registry.UnknownComponent: `domain` registers no checks (the message names those that do).
    """
    cls = registry.lookup("checks", domain)
    checks: DomainChecks = cls()
    return checks
