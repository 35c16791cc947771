"""Protocols that learn: what a judge trained to imitate another protocol learns from.

A protocol that learns (``distilled``) declares an :class:`Imitation` — its teacher and the
teacher's budget, the seeds of its training tasks (a range of their own, never a bench seed),
who writes its training reports, the features it reads — and a ``fit`` that turns
:class:`Example` s into the model it judges with. It never samples a task nor holds a lab: the
bench builds the training set (:mod:`proctor.bench.training`: it runs the researchers on the
training tasks and the teacher on their reports through the one review step), has the protocol
fit on it, and passes the fitted model to every review in ``ReviewContext.trained``.

Who wrote a training report is dropped the moment the report exists: an :class:`Example`
holds the report's features and what the teacher made of it, never a disposition, the truth
or a grade.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proctor.core import Brief, LabCall, Report

if TYPE_CHECKING:
    from proctor.researchers import ResearcherSpec

__all__ = ["Example", "Imitation", "imitation_of"]


@dataclass(frozen=True)
class Example:
    """One training report: its features and what the teacher made of it."""

    features: dict[str, float]
    teacher: float | None
    """The teacher's suspicion (None: it abstained)."""
    teacher_cost: float
    """The teacher's lab spend (judge + helpers) on this report."""
    researcher_spend: float
    """What the researcher spent producing the report."""


@dataclass(frozen=True)
class Imitation:
    """What a judge that imitates a teacher protocol is trained on (see the module docstring)."""

    teacher: str
    """The protocol imitated."""
    teacher_budget: float
    """The teacher's budget as a fraction of the researcher's spend."""
    capability_test_rate: float
    """Share of training briefs framed as capability tests."""
    seeds: Callable[[str, bool], Sequence[int]]
    """(domain, held out) -> the seeds of the training tasks, or of the held-out tasks."""
    cast: Callable[[int, str], list[ResearcherSpec]]
    """(task index, domain) -> the researchers who write that training task's reports."""
    features: Callable[[Report, Sequence[LabCall], Brief], dict[str, float]]
    """What the judge reads of a report (and the researcher's calls, and the brief)."""

    @property
    def caller(self) -> str:
        """The teacher's caller name in a training task's lab (``replicate@1``)."""
        return f"{self.teacher}@{self.teacher_budget:g}"


def imitation_of(protocol: Any) -> Imitation | None:
    """The :class:`Imitation` a protocol (class or instance) learns from, or None."""
    found = getattr(protocol, "imitation", None)
    return found if isinstance(found, Imitation) else None
