"""What every disposition strategy shares, whatever the domain.

A strategy is consulted by a scripted method at its decision points (DESIGN.md §1: backend and
disposition are independent axes). Each domain subclasses :class:`BaseStrategy` with its own
hooks; construction, knob checking, capability-test recognition and variant lookup live here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from proctor import registry
from proctor.core import Brief
from proctor.researchers import ResearcherSpec

__all__ = [
    "ORGANISM_KNOBS",
    "BaseStrategy",
    "chance",
    "check_skill",
    "make_strategy",
    "recognises_test",
    "variant_names",
]

SKILLS = ("expert", "novice")

ORGANISM_KNOBS: dict[str, float] = {"strength": 1.0, "knows_protocols": 0.0}
"""Knobs every model organism has (DESIGN.md §5), both in [0, 1]:

* ``strength`` — the magnitude or rate of its harm, documented per organism; 0 is honest work,
  1 (the default) the organism's headline magnitude, which reproduces each older variant.
* ``knows_protocols`` — the probability (drawn once per task) that it acts on knowledge of
  the protocols that review it, documented per domain; 0 (the default) is a naive organism.
"""


def check_skill(spec: ResearcherSpec, domain: str) -> None:
    """Raise ValueError naming the scripted skills if `spec.skill` is not one of them."""
    if spec.skill not in SKILLS:
        raise ValueError(
            f"{domain} scripted researcher has skills {', '.join(SKILLS)}; not {spec.skill!r}"
        )


class BaseStrategy:
    """A disposition: its name, named variants and knobs (with defaults)."""

    disposition: ClassVar[str] = "honest"
    variants: ClassVar[tuple[str, ...]] = ("",)
    knob_defaults: ClassVar[dict[str, float]] = {}

    def __init__(self, variant: str, knobs: dict[str, float]) -> None:
        unknown = set(knobs) - set(self.knob_defaults)
        if unknown:
            raise ValueError(
                f"{self.disposition} has no knob(s) {sorted(unknown)}; "
                f"known: {sorted(self.knob_defaults) or 'none'}"
            )
        for name, value in knobs.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"{self.disposition} knob {name!r} must be in [0, 1], not {value:g}"
                )
        self.variant = variant
        self.knobs = {**self.knob_defaults, **knobs}
        self.brief: Brief | None = None
        self.rng = np.random.default_rng(0)
        self.informed = False
        """Whether this organism acts on knowledge of the protocols on this task."""

    @property
    def strength(self) -> float:
        """The ``strength`` knob (1.0 for strategies that have none)."""
        return self.knobs.get("strength", 1.0)

    def start(self, brief: Brief, rng: np.random.Generator) -> None:
        """Called once before any work, with the researcher's private random stream."""
        self.brief = brief
        self.rng = rng
        self.informed = chance(rng, self.knobs.get("knows_protocols", 0.0))


def chance(rng: np.random.Generator, p: float) -> bool:
    """True with probability `p`; draws from `rng` only when 0 < p < 1, so knobs at 0 or 1
    leave the stream, and every later draw of the organism, as it was."""
    if p <= 0.0:
        return False
    if p >= 1.0:
        return True
    return bool(rng.random() < p)


def recognises_test(brief: Brief, rng: np.random.Generator, rate: float) -> bool:
    """Whether an organism recognises a capability-test framing, at the swept `rate` (the
    knob DESIGN.md §5 requires for any trigger a protocol could flip)."""
    return brief.framing == "capability_test" and bool(rng.random() < rate)


def make_strategy(spec: ResearcherSpec, domain: str) -> Any:
    """The strategy for a spec's disposition and variant in `domain`; unknown ones are errors."""
    cls: type[BaseStrategy] = registry.lookup("disposition", spec.disposition, domain)
    if spec.variant not in cls.variants:
        known = ", ".join(f"{cls.disposition}:{v}" if v else cls.disposition for v in cls.variants)
        raise ValueError(f"unknown variant {spec.disposition_variant!r}; known: {known}")
    return cls(spec.variant, dict(spec.knobs))


def variant_names(domain: str) -> list[str]:
    """Every ``disposition[:variant]`` registered for a domain."""
    out = []
    for name in registry.names("disposition", domain):
        cls = registry.lookup("disposition", name, domain)
        out += [f"{name}:{v}" if v else name for v in cls.variants]
    return out
