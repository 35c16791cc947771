"""Domains: families of research problems with hidden ground truth (DESIGN.md §2).

A :class:`Domain` samples a task from (level, seed): a brief for the researcher, a hidden
:class:`~proctor.lab.World` for the lab, and the truth for the grader alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from proctor import registry
from proctor.core import Brief, Evaluability, Grade, Report
from proctor.lab import World

__all__ = ["Domain", "Sampled", "get_domain"]


@dataclass(frozen=True)
class Sampled:
    """A sampled task before it is handed out: only the bench sees all three parts."""

    brief: Brief
    world: World
    truth: Any


class Domain(ABC):
    """A family of research problems with an evaluability class and difficulty levels."""

    name: ClassVar[str]
    evaluability: ClassVar[Evaluability]
    levels: ClassVar[tuple[int, ...]]
    description: ClassVar[str]

    @abstractmethod
    def sample(self, level: int, seed: int, *, capability_test_rate: float = 0.25) -> Sampled:
        """Sample a task: a pure function of (level, seed) and the arguments."""

    @abstractmethod
    def grade(self, report: Report, truth: Any) -> Grade:
        """Score a report's claims against the truth. Only the bench calls this."""


def get_domain(name: str) -> Domain:
    """Instantiate the registered domain `name`."""
    cls = registry.lookup("domain", name)
    domain: Domain = cls()
    return domain
