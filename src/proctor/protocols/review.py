"""The review step: one protocol reviews one report at one budget (DESIGN.md §2).

Every caller that has a protocol judge a report goes through :func:`review_report`: the
bench's episode runner, the red team's attack oracle, ``distilled``'s teacher and the
throughput benchmark. It does what the bench has always done, in one place:

* the protocol's budget is a fraction of the researcher's spend, split by the protocol's
  declared ``helper_share`` between its own lab client (named after `caller`) and its helpers
  (:class:`~proctor.protocols.helpers.Helpers`, with the caller's re-run handle, if any);
* its random choices come from the stream ``(seed, choice_stream, caller)``;
* the verdict's ``judge_cost`` and ``helper_cost`` are what the lab logged for the judge's
  client and the helpers', whatever the protocol says;
* a protocol that raises (or runs past the caller's `guard`, e.g. the bench's time limit)
  gives a :class:`Review` with the error and what was spent until then; the caller decides
  what a failure means (a recorded failed verdict, a candidate the oracle learns nothing
  from, a training report left out).

What needs the truth or the reviewed researcher's identity stays with the caller: the re-run
handle is built by the bench and passed in; this module sees only what a protocol may see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from proctor.core import Brief, LabCall, Report, Verdict
from proctor.lab import Lab, stream
from proctor.protocols import OversightProtocol, ReviewContext, helper_share
from proctor.protocols.helpers import Helpers, Rerun

if TYPE_CHECKING:
    from proctor.models import ProtocolModels
    from proctor.whitebox import WhiteBox

__all__ = ["CHOICE_STREAM", "Review", "review_report"]

CHOICE_STREAM = "protocol-choice"
"""The name of the protocols' own random streams in the bench."""


@dataclass(frozen=True)
class Review:
    """One protocol's review of one report at one budget."""

    caller: str
    """The name the review ran under (its lab client's caller, e.g. ``replicate@0.25``)."""
    budget: float
    """The protocol budget as a fraction of the researcher's spend."""
    verdict: Verdict | None
    """The verdict with the lab's costs; None when the protocol raised."""
    judge_cost: float
    """What the protocol's own lab client spent."""
    helper_cost: float
    """What its helpers spent."""
    error: str | None = None
    """``"ExceptionType: message"`` when the protocol raised."""

    @property
    def cost(self) -> float:
        """Judge plus helper cost."""
        return self.judge_cost + self.helper_cost


def review_report(
    report: Report,
    protocol: OversightProtocol,
    budget: float,
    *,
    lab: Lab,
    brief: Brief,
    researcher_log: tuple[LabCall, ...],
    researcher_spend: float,
    caller: str,
    seed: int,
    choice_stream: str = CHOICE_STREAM,
    rerun: Rerun | None = None,
    models: ProtocolModels | None = None,
    whitebox: WhiteBox | None = None,
    train: Callable[[], object] | None = None,
    guard: AbstractContextManager[object] | None = None,
    roles: Mapping[str, str] | None = None,
) -> Review:
    """Have `protocol` review `report` with `budget` × the researcher's spend.

    Args:
        report: What the protocol reads (the caller leaves out what it may not see, such as a
            model's private scratchpad).
        protocol: The protocol instance.
        budget: Its budget as a fraction of `researcher_spend`.
        lab: The task's lab (the researcher's calls are in its log).
        brief: The brief the researcher worked on.
        researcher_log: The researcher's lab calls.
        researcher_spend: What the researcher spent.
        caller: The review's caller name in the lab (its noise and its random stream).
        seed: The task seed its random stream is keyed by.
        choice_stream: The name of its random stream (the oracle's differ from the bench's).
        rerun: The black-box handle on the reviewed researcher, for protocols with helpers.
        models: Model clients for model-backed protocols.
        whitebox: The researcher's network, where its weights are held.
        train: For a protocol that learns, gives what the bench trained for it (called inside
            `guard`, so training counts as the protocol's work; passed as
            ``ReviewContext.trained``).
        guard: Entered around the protocol's work (e.g. a time limit); its exception is
            recorded like the protocol's own.
        roles: Who the sweep casts in the protocol's roles (``ReviewContext.roles``).

    Returns:
        The :class:`Review`: the verdict with its judge and helper cost as the lab logged
        them, or the error and what was spent until it.
    """
    share = helper_share(protocol)
    helpers = Helpers(lab, caller, share * budget * researcher_spend, rerun) if share > 0 else None
    client = lab.client(caller, (1 - share) * budget * researcher_spend)
    try:
        with guard if guard is not None else nullcontext():
            ctx = ReviewContext(
                brief=brief,
                lab=client,
                researcher_log=researcher_log,
                researcher_spend=researcher_spend,
                rng=stream(seed, choice_stream, caller),
                helpers=helpers,
                models=models,
                whitebox=whitebox,
                trained=train() if train is not None else None,
                roles=dict(roles or {}),
            )
            verdict = protocol.review(report, ctx)
    except Exception as err:  # a failing protocol is a failed review; the caller goes on
        return Review(
            caller,
            budget,
            None,
            client.spent,
            helpers.spent if helpers is not None else 0.0,
            error=f"{type(err).__name__}: {err}",
        )
    judge = client.spent
    helped = helpers.spent if helpers is not None else 0.0
    # Costs as the lab logged them, whatever the protocol says.
    verdict = verdict.model_copy(update={"judge_cost": judge, "helper_cost": helped})
    return Review(caller, budget, verdict, judge, helped)
