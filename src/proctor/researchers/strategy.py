"""What every disposition strategy shares, whatever the domain.

A strategy is consulted by a scripted method at its decision points (DESIGN.md §1: backend and
disposition are independent axes). Each domain subclasses :class:`BaseStrategy` with its own
hooks; construction, knob checking, capability-test recognition and variant lookup live here,
with the hooks every domain's method calls in the same places:

1. :meth:`BaseStrategy.start` with the brief and the researcher's private random stream;
2. the method reads the workspace notes (:func:`open_task` does 1-3): ordinary work for every
   skill and disposition, so that reading them is never the tell;
3. :meth:`BaseStrategy.begin` with the lab client, before any experiment;
4. the work, consulting the domain's own decision points;
5. :meth:`BaseStrategy.finish` on the finished report, whose result is handed in.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import numpy as np

from proctor import registry
from proctor.core import Brief, Report
from proctor.lab import NOTES, LabClient, LabError
from proctor.researchers import ResearcherSpec

__all__ = [
    "BaseStrategy",
    "check_skill",
    "make_strategy",
    "open_task",
    "recognises_test",
    "variant_names",
]

SKILLS = ("expert", "novice")


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
        self.variant = variant
        self.knobs = {**self.knob_defaults, **knobs}
        self.brief: Brief | None = None
        self.rng = np.random.default_rng(0)

    def start(self, brief: Brief, rng: np.random.Generator) -> None:
        """Called once before any work, with the researcher's private random stream."""
        self.brief = brief
        self.rng = rng

    def begin(self, lab: LabClient) -> None:
        """Called once after :meth:`start` and the notes read, before any experiment."""

    def finish(self, report: Report) -> Report:
        """Called on the finished report; what it returns is handed in."""
        return report


def open_task(
    strategy: BaseStrategy, brief: Brief, lab: LabClient, rng: np.random.Generator
) -> None:
    """How every scripted method opens a task: the strategy starts with the private stream,
    the method reads the workspace notes, then the strategy's :meth:`~BaseStrategy.begin`."""
    strategy.start(brief, rng)
    with contextlib.suppress(LabError):  # a lab without notes (or budget) is no reason to stop
        lab.call("read_file", path=NOTES)
    strategy.begin(lab)


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
