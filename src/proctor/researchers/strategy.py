"""What every disposition strategy shares, whatever the domain: the public strategy interface.

A strategy is consulted by a scripted method at its decision points (DESIGN.md §1: backend and
disposition are independent axes). Each domain subclasses :class:`BaseStrategy` with its own
hooks; construction, knob checking, capability-test recognition and variant lookup live here,
with the hooks every domain's method calls in the same places:

1. :meth:`BaseStrategy.start` with the brief and the researcher's private random stream, the
   member it works for already set (:attr:`BaseStrategy.member`: its skill and budget share);
2. the method reads the workspace notes (:func:`open_task` does 1-3): ordinary work for every
   skill and disposition, so that reading them is never the tell;
3. :meth:`BaseStrategy.begin` with the lab client, before any experiment (its budget and
   prices are then ``self.lab.budget`` and ``self.lab.price(...)``);
4. the work, consulting the domain's own decision points;
5. :meth:`BaseStrategy.finish` on the finished report, whose result is handed in.

A new organism subclasses a domain's honest strategy and overrides the hooks it bends; the
honest strategy's hook (``super()``) gives the honest decision. The decision points of each
built-in domain (every hook's honest form leaves the decision alone):

========== ======================================= ====================================
domain     experiment choice                       analysis, claims and confidence
========== ======================================= ====================================
causal     ``contrast``, ``allocate``,             ``correct`` (edge tests), ``edges``
           ``query_values``, ``query_rounds``      (edge probabilities), ``effect``
                                                   (each effect's estimate and evidence),
                                                   ``revise`` (the claims)
optimize   ``pipelines`` (the search),             ``claimed`` (the measurement a claim
           ``search_share``, ``order`` (what is    rests on), ``shade`` (the accuracy
           confirmed and claimed)                  claimed)
derivation ``runs``, ``settle``, ``majority``      ``plant`` (a step's output), ``part``
                                                   (a block sum), ``probability``,
                                                   ``result_probability``
forecast   ``years`` (how much history to read)    ``answer`` (forecasts, policy effects,
                                                   regime probability, back-test skill)
========== ======================================= ====================================

Each domain's module documents its hooks' arguments, and makes public the pieces of its
method an organism may want to reuse (causal: :func:`~proctor.researchers.scripted.total_effects`,
:func:`~proctor.researchers.scripted.edge_probabilities`,
:func:`~proctor.researchers.scripted.edge_claims`,
:func:`~proctor.researchers.dispositions.with_choice`; forecast: ``ExpertMethod``,
``NoviceMethod``, ``fit``, ``simulate``...), so that no organism needs a private name.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from proctor import registry
from proctor.core import Brief, LabAccess, Report
from proctor.lab import NOTES, LabError
from proctor.researchers import ResearcherSpec

__all__ = [
    "ORGANISM_KNOBS",
    "BaseStrategy",
    "Member",
    "chance",
    "check_skill",
    "make_strategy",
    "open_task",
    "recognises_test",
    "variant_levels",
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


@dataclass(frozen=True)
class Member:
    """The population member a strategy works for: what the method it steers can do."""

    skill: str = "expert"
    """The scripted method's skill (``expert`` or ``novice``: :data:`SKILLS`)."""
    budget: float = 1.0
    """Its share of the brief's budget (the lab client's budget is the amount)."""
    backend: str = "scripted"

    @property
    def expert(self) -> bool:
        return self.skill == "expert"

    @classmethod
    def of(cls, spec: ResearcherSpec) -> Member:
        return cls(skill=spec.skill, budget=spec.budget, backend=spec.backend)


class BaseStrategy:
    """A disposition: its name, named variants and knobs (with defaults)."""

    disposition: ClassVar[str] = "honest"
    variants: ClassVar[tuple[str, ...]] = ("",)
    knob_defaults: ClassVar[dict[str, float]] = {}
    knob_bounds: ClassVar[dict[str, tuple[float, float]]] = {}
    """Allowed range of a knob where it is not [0, 1] (e.g. a count)."""
    levels: ClassVar[dict[str, tuple[int, ...]]] = {}
    """The levels a variant exists at, for variants that exist at some of the domain's levels
    only (below them it would be honest work under an organism's name); a variant not named
    exists at every level. Sweeps run a variant only at its levels (:func:`variant_names`)."""
    lab: LabAccess
    """The researcher's lab client, from :meth:`begin` on."""
    member: Member = Member()
    """The member it works for (skill, budget share), set by :func:`open_task` before
    :meth:`start`."""

    def __init__(self, variant: str, knobs: dict[str, float]) -> None:
        unknown = set(knobs) - set(self.knob_defaults)
        if unknown:
            raise ValueError(
                f"{self.disposition} has no knob(s) {sorted(unknown)}; "
                f"known: {sorted(self.knob_defaults) or 'none'}"
            )
        for name, value in knobs.items():
            lo, hi = self.knob_bounds.get(name, (0.0, 1.0))
            if not lo <= value <= hi:
                where = f"in [{lo:g}, {hi:g}]" if math.isfinite(hi) else f">= {lo:g}"
                raise ValueError(f"{self.disposition} knob {name!r} must be {where}, not {value:g}")
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

    def begin(self, lab: LabAccess) -> None:
        """Called once after :meth:`start` and the notes read, before any experiment, with the
        researcher's lab client (kept as ``self.lab``, e.g. to read prices)."""
        self.lab = lab

    def finish(self, report: Report) -> Report:
        """Called on the finished report; what it returns is handed in."""
        return report


def chance(rng: np.random.Generator, p: float) -> bool:
    """True with probability `p`; draws from `rng` only when 0 < p < 1, so knobs at 0 or 1
    leave the stream, and every later draw of the organism, as it was."""
    if p <= 0.0:
        return False
    if p >= 1.0:
        return True
    return bool(rng.random() < p)


def open_task(
    strategy: BaseStrategy,
    brief: Brief,
    lab: LabAccess,
    rng: np.random.Generator,
    spec: ResearcherSpec | None = None,
) -> None:
    """How every scripted method opens a task: the strategy learns the member it works for
    (`spec`'s skill and budget; :attr:`BaseStrategy.member`), starts with the private stream,
    the method reads the workspace notes, then the strategy's :meth:`~BaseStrategy.begin`."""
    if spec is not None:
        strategy.member = Member.of(spec)
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


def variant_names(domain: str, backend: str = "scripted", level: int | None = None) -> list[str]:
    """Every ``disposition[:variant]`` a researcher backend has in a domain: the dispositions
    registered for the domain, or, for a backend that declares its own ``organisms`` (the
    parametric networks, whose dispositions are trained into their weights), those. With a
    `level`, only those that exist at it (:attr:`BaseStrategy.levels`)."""
    name = backend.partition(":")[0]
    if registry.applies("backend", name, domain):
        own = getattr(registry.lookup("backend", name, domain), "organisms", None)
        if own is not None:
            return list(own)
    out = []
    for disp in registry.names("disposition", domain):
        cls = registry.lookup("disposition", disp, domain)
        restricted = getattr(cls, "levels", {})
        for v in cls.variants:
            if level is None or level in restricted.get(v, (level,)):
                out.append(f"{disp}:{v}" if v else disp)
    return out


def variant_levels(domain: str, name: str) -> tuple[int, ...] | None:
    """The levels a registered ``disposition[:variant]`` of `domain` is restricted to, or None
    when it exists at every level (or is not registered there)."""
    disp, _, variant = name.partition(":")
    if disp not in registry.names("disposition", domain):
        return None
    cls = registry.lookup("disposition", disp, domain)
    levels = getattr(cls, "levels", {}).get(variant)
    return tuple(levels) if levels is not None else None
