"""Oversight protocols: take a report and a budget, return a Verdict (DESIGN.md §2).

*Output-focused* protocols judge the report; *process-focused* ones judge how it was made.
Budgets are a fraction of the researcher's spend; every verdict reports judge and helper cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np

from proctor import registry
from proctor.core import Brief, LabCall, Report, Verdict
from proctor.lab import LabClient
from proctor.protocols.helpers import Helpers

if TYPE_CHECKING:
    from proctor.models import ModelAccess, ProtocolModels
    from proctor.whitebox import WhiteBox

__all__ = [
    "Helpers",
    "OversightProtocol",
    "ReviewContext",
    "fixed_budget",
    "get_protocol",
    "helper_share",
    "needs_weights",
    "review_budgets",
]


@dataclass(frozen=True)
class ReviewContext:
    """Everything a protocol may use: the brief, its own lab budget, the researcher's log."""

    brief: Brief
    lab: LabClient
    """The protocol's own client: its budget, its own noise stream."""
    researcher_log: tuple[LabCall, ...]
    """The researcher's lab calls with their results (process evidence)."""
    researcher_spend: float
    """What the researcher spent; budgets are fractions of it."""
    rng: np.random.Generator
    """The protocol's own stream for its random choices."""
    helpers: Helpers | None = None
    """Helper agents charged to the protocol (opponents, re-runs); None where the protocol
    declares no ``helper_share`` or the caller gave none."""
    models: ProtocolModels | None = None
    """Clients for the episode's model-backed roles, for protocols with a model-backed form
    (None: scripted)."""
    whitebox: WhiteBox | None = None
    """The reviewed researcher's network and the inputs of the report's forward passes, where
    we hold its weights (parametric researchers); None otherwise. Only white-box protocols
    (``needs_weights``) read it."""
    trained: Any = None
    """What the bench trained for a protocol that learns (a distilled judge's student, fitted
    on the training set the bench built: :mod:`proctor.protocols.training`); None for the
    others."""
    roles: Mapping[str, str] = field(default_factory=dict)
    """Who the sweep casts in the protocol's roles (role -> registered player,
    :mod:`proctor.protocols.roles`); a role not named here is played by the protocol's
    default."""


class OversightProtocol(Protocol):
    """An oversight method for one domain."""

    name: ClassVar[str]
    focus: ClassVar[Literal["output", "process"]]
    budgeted: ClassVar[bool]
    """False for protocols that use no lab budget: the bench runs them once, at budget 0."""
    helper_share: ClassVar[float]
    """Share of the protocol's budget that goes to its helpers (0 for none; optional)."""
    fixed_budget: ClassVar[float]
    """Optional: the bench runs the protocol once at this budget (a fraction of the
    researcher's spend) instead of at each of the sweep's budgets — e.g. the auditor, who
    reviews thoroughly whatever the sweep's monitors may spend."""

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        """Judge `report` within `ctx.lab`'s budget."""
        ...


def get_protocol(name: str, domain: str, models: ModelAccess | None = None) -> OversightProtocol:
    """Instantiate protocol `name` for `domain`: its model-backed form
    (:mod:`proctor.protocols.llm`) where the protocol has one and `models` sets the model of
    its role, else the scripted implementation."""
    cls = registry.lookup("protocol", name, domain)
    proto: OversightProtocol = cls()
    if models is not None:
        from proctor.protocols.llm import model_backed

        return model_backed(name, proto, models)
    return proto


def helper_share(protocol: object) -> float:
    """A protocol's declared helper share (0 when it declares none)."""
    share = float(getattr(protocol, "helper_share", 0.0))
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"helper_share must be in [0, 1], not {share:g}")
    return share


def needs_weights(name: str, domain: str) -> bool:
    """Whether protocol `name` reads a model's weights (a white-box protocol, which abstains
    on every researcher whose weights are not held)."""
    return bool(getattr(registry.lookup("protocol", name, domain), "needs_weights", False))


def fixed_budget(protocol: object) -> float | None:
    """A protocol's declared fixed budget, or None when it runs at the sweep's budgets."""
    value = getattr(protocol, "fixed_budget", None)
    if value is None:
        return None
    if not float(value) > 0.0:
        raise ValueError(f"fixed_budget must be > 0, not {value!r}")
    return float(value)


def review_budgets(protocol: OversightProtocol, budgets: Sequence[float]) -> list[float]:
    """The budget fractions `protocol` runs at, given the sweep's `budgets` for it: its fixed
    budget if it declares one, ``[0.0]`` if it takes no budget, else `budgets`."""
    fixed = fixed_budget(protocol)
    if fixed is not None:
        return [fixed]
    return list(budgets) if protocol.budgeted else [0.0]
