"""Core records of proctor: what flows along domain → task → researcher → report → protocol.

Everything that reaches disk is a pydantic v2 model with a docstring on every field. None of
these records can say who made a report or how its maker was disposed: that lives only on the
episode row in the bench's store (DESIGN.md §2, "what each part may see").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

Evaluability = Literal["number_go_up", "normal_science", "conceptual"]


class Record(BaseModel):
    """Base of every on-disk record: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Action(Record):
    """A declared lab action: the only way anyone reaches a task's hidden world."""

    name: str
    """Name used to call the action."""
    description: str
    """What the action does, as a researcher would read it."""
    parameters: dict[str, Any]
    """JSON schema of the keyword arguments."""
    cost: float = Field(ge=0)
    """Fixed cost of one call, in lab units."""
    cost_per_unit: float = Field(default=0.0, ge=0)
    """Extra cost per unit of the argument named by `unit` (e.g. per sample)."""
    unit: str | None = None
    """Name of the integer argument that `cost_per_unit` multiplies, if any."""

    def price(self, args: dict[str, Any]) -> float:
        """Cost of calling this action with `args`."""
        units = float(args.get(self.unit, 0)) if self.unit else 0.0
        return self.cost + self.cost_per_unit * units


class LabCall(Record):
    """One logged call to the lab."""

    id: str
    """Unique id within the task's lab, e.g. ``researcher-0003``; claims cite these."""
    caller: str
    """Who made the call (``researcher``, ``replicate@0.25``...)."""
    index: int
    """0-based index of this call among the caller's calls."""
    action: str
    """Name of the declared action."""
    args: dict[str, Any]
    """Arguments as passed."""
    cost: float
    """Cost charged (0 for refused calls)."""
    result: Any = None
    """JSON result, or None when refused."""
    error: str | None = None
    """Why the call was refused (over budget, bad arguments), or None."""


class Brief(Record):
    """What a researcher is asked. Holds no truth and nothing about the researcher."""

    task_id: str
    """Stable id of the task (domain, level and seed), e.g. ``causal-L1-1000017``."""
    domain: str
    """Domain name."""
    level: int
    """Difficulty level, from 1."""
    question: str
    """The research question in words."""
    framing: Literal["routine", "capability_test"] = "routine"
    """How the work is framed; some organisms react to a capability-test framing."""
    hypothesis: dict[str, Any] | None = None
    """A stated hypothesis (structured), true about half the time; None if none is stated."""
    fields: dict[str, Any] = Field(default_factory=dict)
    """Domain-specific structured fields (variable names, queries, value ranges...)."""
    budget: float = Field(gt=0)
    """The researcher's lab budget in lab units."""


class Claim(Record):
    """One graded statement with structured content, uncertainty, and the calls it rests on."""

    id: str
    """Id within the report, e.g. ``c3``."""
    kind: str
    """Domain-defined kind, e.g. ``edge`` or ``effect``."""
    content: dict[str, Any]
    """Structured content, e.g. ``{"source": "X0", "target": "X2"}``."""
    estimate: float | None = None
    """Point estimate for quantitative claims."""
    interval: tuple[float, float] | None = None
    """Central interval for quantitative claims, at `coverage`."""
    coverage: float = 0.95
    """Nominal coverage of `interval`."""
    probability: float | None = Field(default=None, ge=0, le=1)
    """Probability that a binary claim holds."""
    evidence: list[str] = Field(default_factory=list)
    """Ids of the lab calls this claim rests on."""
    text: str = ""
    """The claim in words."""


class ActionEvent(Record):
    """Trace event: the researcher called an action."""

    type: Literal["action"] = "action"
    call_id: str
    """Id of the lab call."""
    action: str
    """Action name."""
    args: dict[str, Any]
    """Arguments as passed."""


class ReasoningEvent(Record):
    """Trace event: reasoning text, where the backend has any."""

    type: Literal["reasoning"] = "reasoning"
    text: str
    private: bool = False
    """A model researcher's private scratchpad: kept in the store, shown to protocols only
    where the sweep allows it (``ModelSettings.scratchpad_visible``)."""


TraceEvent = Annotated[ActionEvent | ReasoningEvent, Field(discriminator="type")]


class Report(Record):
    """Claims, evidence and trace handed in for one task. Never says who made it."""

    schema_version: int = SCHEMA_VERSION
    task_id: str
    """Task this report answers."""
    claims: list[Claim]
    """The graded claims."""
    trace: list[TraceEvent] = Field(default_factory=list)
    """What was done, in order."""
    summary: str = ""
    """Free-text summary."""

    def without_private(self) -> Report:
        """This report with private reasoning (scratchpads) left out of the trace."""
        if not any(isinstance(e, ReasoningEvent) and e.private for e in self.trace):
            return self
        kept = [e for e in self.trace if not (isinstance(e, ReasoningEvent) and e.private)]
        return self.model_copy(update={"trace": kept})

    @property
    def evidence(self) -> list[str]:
        """All call ids cited by any claim, in first-cited order."""
        seen: dict[str, None] = {}
        for claim in self.claims:
            for cid in claim.evidence:
                seen.setdefault(cid, None)
        return list(seen)


class Finding(Record):
    """A protocol's finding about one claim."""

    claim_id: str
    status: Literal["supported", "contradicted", "unchecked", "inconsistent"]
    """What the check concluded."""
    p_value: float | None = None
    """P-value of the check's test, where it ran one."""
    detail: str = ""


class Verdict(Record):
    """A protocol's judgement of a report: suspicion in [0, 1], or abstain."""

    protocol: str
    """Protocol name."""
    suspicion: float | None = Field(default=None, ge=0, le=1)
    """Suspicion that the report is bad; None when the protocol abstains."""
    findings: list[Finding] = Field(default_factory=list)
    judge_cost: float = Field(default=0.0, ge=0)
    """Lab spend by the protocol's own checks."""
    helper_cost: float = Field(default=0.0, ge=0)
    """Lab spend by helper agents (re-runs, opponents) charged to the protocol."""
    forward_passes: int = Field(default=0, ge=0)
    """White-box protocols: forward passes through the reviewed model (their cost; 0 for
    protocols that do not run the model)."""
    rationale: str = ""

    @property
    def abstained(self) -> bool:
        """True when the protocol said it cannot judge."""
        return self.suspicion is None


class LabAccess(Protocol):
    """What a task's lab client offers, and all it offers: the declared actions, a budget, and
    logged calls (implemented by :class:`proctor.lab.LabClient`; declared here so that a Task
    names no module above the records)."""

    @property
    def actions(self) -> tuple[Action, ...]:
        """The declared actions of the lab."""
        ...

    @property
    def caller(self) -> str:
        """The name calls are logged under."""
        ...

    @property
    def budget(self) -> float:
        """The client's total budget."""
        ...

    @property
    def spent(self) -> float:
        """Spent so far by the client."""
        ...

    @property
    def remaining(self) -> float:
        """Budget left."""
        ...

    def price(self, action: str, **args: Any) -> float:
        """What a call would cost, without making it."""
        ...

    def call(self, action: str, **args: Any) -> LabCall:
        """Make a declared call (refused calls raise and are logged)."""
        ...

    @property
    def calls(self) -> list[LabCall]:
        """The client's own calls."""
        ...


@dataclass(frozen=True)
class Task:
    """One sampled problem as a researcher receives it: the brief and its lab client.

    There is no path from here to the truth: the hidden world sits behind the lab client's
    declared actions, and the graded answers live with the bench's grader.
    """

    brief: Brief
    lab: LabAccess


class ClaimGrade(Record):
    """The grader's score of one claim against the truth."""

    claim_id: str
    kind: str
    correct: bool
    """Right on its main point (edge present/absent; interval covers the truth)."""
    material: bool
    """Materially wrong: a wrong claim that would mislead (DESIGN.md §4, harm)."""
    brier: float | None = None
    interval_score: float | None = None
    abs_error: float | None = None
    truth: float | None = None


class Grade(Record):
    """The grader's score of a whole report."""

    claims: list[ClaimGrade]
    accuracy: float
    """Share of claims correct."""
    recovered: float
    """Share of the truth recovered (hedging does not earn it)."""
    brier: float | None = None
    """Mean Brier score of binary claims."""
    interval_score: float | None = None
    """Mean interval score of quantitative claims."""
    material_errors: int = 0
    """Number of materially wrong claims."""
    violations: int = Field(default=0, ge=0)
    """Out-of-scope acts, counted by the bench (never by a domain's grader): the researcher's
    attempts to reach outside the lab (paths outside the workspace, network fetches), its
    touches of files the brief forbids, and 1 if the report carries a workspace secret (see
    :mod:`proctor.bench.violations`)."""
    extras: dict[str, float] = Field(default_factory=dict)
    """Domain-specific figures, e.g. ``edge_accuracy``."""
