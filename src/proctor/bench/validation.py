"""The checks of a sweep specification, in the order :meth:`SweepSpec.check` runs them.

Each raises :class:`~proctor.bench.spec.SpecError` with one line naming the field. They check
names against the registry and know no backend: what one backend needs of a sweep is that
backend's own rule (:class:`~proctor.researchers.backends.BackendChecks`, asked through
:func:`check_placement`, :func:`check_population` and :func:`check_running`). The protocols'
and roles' checks are :func:`proctor.bench.cells.check_protocols` and
:func:`~proctor.bench.cells.check_roles`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from proctor import registry
from proctor.bench.spec import SpecError
from proctor.researchers.backends import MemberView, SettingsError, SweepView, backend_checks

if TYPE_CHECKING:
    from proctor.bench.spec import SweepSpec

__all__ = [
    "check_axes",
    "check_domains",
    "check_knobs",
    "check_organisms",
    "check_placement",
    "check_population",
    "check_running",
]


def _ask(
    check: Callable[[SweepView, int, MemberView], None], spec: SweepSpec, i: int, member: MemberView
) -> None:
    """Run one backend check, its refusal as the sweep's error."""
    try:
        check(spec, i, member)
    except SettingsError as err:
        raise SpecError(str(err)) from None


def check_axes(spec: SweepSpec) -> None:
    """At least one domain and one level."""
    if not spec.domains:
        raise SpecError("domains: at least one domain is needed")
    if not spec.levels:
        raise SpecError("levels: at least one level is needed")


def check_placement(spec: SweepSpec) -> None:
    """Each member's backend may run where the sweep does (the backend's own
    :meth:`~proctor.researchers.backends.BackendChecks.check_placement`); checked before the
    protocols, which follow the population's backends."""
    for i, m in enumerate(spec.population):
        for checks in backend_checks(m.backend):
            _ask(checks.check_placement, spec, i, m)


def check_domains(spec: SweepSpec) -> None:
    """Every domain is registered and has every level of the sweep."""
    from proctor.domains import get_domain

    known_domains = registry.names("domain")
    for d in spec.domains:
        if d not in known_domains:
            raise SpecError(f"domains: unknown domain {d!r}; known: {', '.join(known_domains)}")
        levels = get_domain(d).levels
        for level in spec.levels:
            if level not in levels:
                raise SpecError(f"levels: {d} has levels {list(levels)}, not {level}")


def check_organisms(spec: SweepSpec) -> None:
    """Every organism named exists for some member in some domain, at one of the levels."""
    from proctor.researchers.strategy import variant_levels, variant_names

    everywhere = {
        v for d in spec.domains for m in spec.population for v in variant_names(d, m.backend)
    } - {"honest"}
    for o in spec.organisms or []:
        if o not in everywhere:
            known = ", ".join(sorted(everywhere))
            raise SpecError(f"organisms: unknown disposition {o!r}; known: {known}")
        if not any(
            o in variant_names(d, m.backend, level)
            for d in spec.domains
            for level in spec.levels
            for m in spec.population
        ):
            at = sorted({v for d in spec.domains for v in variant_levels(d, o) or ()})
            raise SpecError(
                f"organisms: {o!r} exists at level(s) {', '.join(map(str, at))} only, "
                f"none of the sweep's levels {', '.join(map(str, spec.levels))}"
            )


def check_knobs(spec: SweepSpec) -> None:
    """Every knob belongs to a disposition of the sweep's domains, and each value (or each of
    a list of them, which must not be empty) is within the knob's bounds."""
    for disp, knobs in spec.knobs.items():
        where = [d for d in spec.domains if disp in registry.names("disposition", d)]
        if not where:
            known = ", ".join(
                sorted({n for d in spec.domains for n in registry.names("disposition", d)})
            )
            raise SpecError(f"knobs: unknown disposition {disp!r}; known: {known}")
        for d in where:
            strategy = registry.lookup("disposition", disp, d)
            known_knobs = strategy.knob_defaults
            for name, value in knobs.items():
                if name not in known_knobs:
                    raise SpecError(
                        f"knobs.{disp}: unknown knob {name!r}; known: "
                        f"{', '.join(sorted(known_knobs)) or 'none'}"
                    )
                if isinstance(value, list) and not value:
                    raise SpecError(f"knobs.{disp}.{name}: empty list of values")
                lo, hi = strategy.knob_bounds.get(name, (0.0, 1.0))
                for v in value if isinstance(value, list) else [value]:
                    if not lo <= v <= hi:
                        raise SpecError(
                            f"knobs.{disp}.{name}: must be in [{lo:g}, {hi:g}], not {v:g}"
                        )


def check_population(spec: SweepSpec) -> None:
    """At least one member; each on a registered backend, with a known skill, and within its
    backend's own rules (:meth:`~proctor.researchers.backends.BackendChecks.check_member`)."""
    from proctor.researchers.strategy import SKILLS

    if not spec.population:
        raise SpecError("population: at least one honest researcher is needed")
    backends = registry.names("backend")
    for i, m in enumerate(spec.population):
        if m.backend.partition(":")[0] not in backends:
            raise SpecError(
                f"population.{i}.backend: unknown backend {m.backend!r}; known: {backends}"
            )
        if m.skill not in SKILLS:
            raise SpecError(f"population.{i}.skill: unknown skill {m.skill!r}; known: {SKILLS}")
        for checks in backend_checks(m.backend):
            _ask(checks.check_member, spec, i, m)


def check_running(spec: SweepSpec) -> None:
    """The sweep as a whole within the rules of each backend it runs on
    (:meth:`~proctor.researchers.backends.BackendChecks.check_sweep`; with a researcher model
    every member runs model-backed, :meth:`SweepSpec.running`)."""
    for backend in dict.fromkeys(m.backend.partition(":")[0] for m in spec.running()):
        for checks in backend_checks(backend):
            try:
                checks.check_sweep(spec)
            except SettingsError as err:
                raise SpecError(str(err)) from None
