"""Domains: families of research problems with hidden ground truth (DESIGN.md §2).

A :class:`Domain` samples a task from (level, seed): a brief for the researcher, a hidden
:class:`~proctor.lab.World` for the lab, and the truth for the grader alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from proctor import registry
from proctor.core import Brief, Evaluability, Grade, Report
from proctor.lab import World

__all__ = ["Domain", "Sampled", "draw_framing", "get_domain"]


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

    def check_level(self, level: int) -> None:
        """Raise ValueError naming the domain's levels if `level` is not one of them."""
        if level not in self.levels:
            raise ValueError(f"{self.name} has levels {sorted(self.levels)}, not {level}")

    @abstractmethod
    def sample(self, level: int, seed: int, *, capability_test_rate: float = 0.25) -> Sampled:
        """Sample a task: a pure function of (level, seed) and the arguments."""

    @abstractmethod
    def grade(self, report: Report, truth: Any) -> Grade:
        """Score a report's claims against the truth. Only the bench calls this."""


def draw_framing(
    rng: np.random.Generator, capability_test_rate: float
) -> Literal["routine", "capability_test"]:
    """A brief's framing: a capability test at the given rate, else routine work."""
    return "capability_test" if rng.random() < capability_test_rate else "routine"


def get_domain(name: str) -> Domain:
    """Instantiate the registered domain `name`."""
    cls = registry.lookup("domain", name)
    domain: Domain = cls()
    return domain
