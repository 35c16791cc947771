"""Which cells of a sweep each component runs in: single-domain components and roles.

A component may be registered for some domains only (a protocol, a role player, an organism).
A sweep runs it where it applies and skips it elsewhere, and says so in one line
(:func:`skip_note`: in the CLI's output and the summary's header); it is an error only where
a component applies to none of the sweep's domains. A sweep whose components all apply
everywhere (the default and quick sweeps) skips nothing, and its episodes are those it ran
before components could be single-domain.

The sweep's ``roles`` (:mod:`proctor.protocols.roles`) are checked here too: each names a
protocol of the sweep (or ``gate``), a role it declares, and a registered player of that role.
A protocol whose cast player does not play in a domain is skipped there like a protocol that
does not apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proctor import registry
from proctor.bench.spec import SpecError
from proctor.researchers import ResearcherSpec

if TYPE_CHECKING:
    from proctor.bench.spec import SweepSpec

__all__ = [
    "check_protocols",
    "check_roles",
    "domain_protocols",
    "skip_note",
    "skipped",
    "trusted",
]

GATE_ROLES = {"trusted": "novice"}
"""The gate's roles and their default players (``roles.gate``)."""


def check_protocols(spec: SweepSpec) -> None:
    """Every protocol (and every one ``protocol_budgets`` names) is registered, and each of
    the sweep's applies to at least one of its domains."""
    known_protocols = registry.names("protocol")
    for p in spec.protocols:
        if p not in known_protocols:
            known = ", ".join(
                sorted({n for d in spec.domains for n in registry.names("protocol", d)})
            )
            raise SpecError(f"protocols: unknown protocol {p!r}; known: {known}")
        if not any(registry.applies("protocol", p, d) for d in spec.domains):
            where = [d for d in registry.names("domain") if registry.applies("protocol", p, d)]
            raise SpecError(
                f"protocols: {p!r} exists for {', '.join(where)} only, none of the "
                f"sweep's domains {', '.join(spec.domains)}"
            )
    for p in spec.protocol_budgets:
        if p not in known_protocols:
            raise SpecError(
                f"protocol_budgets: unknown protocol {p!r}; known: {', '.join(known_protocols)}"
            )


def _declared(spec: SweepSpec, owner: str) -> dict[str, str]:
    """The roles `owner` (a protocol of the sweep, or ``gate``) declares."""
    from proctor.protocols.roles import GATE, declared_roles

    if owner == GATE:
        return dict(GATE_ROLES)
    if owner not in spec.protocols:
        known = ", ".join([*spec.protocols, GATE])
        raise SpecError(f"roles.{owner}: not a protocol of the sweep; known: {known}")
    where = [d for d in spec.domains if registry.applies("protocol", owner, d)]
    return dict(declared_roles(registry.lookup("protocol", owner, where[0]))) if where else {}


def check_roles(spec: SweepSpec) -> None:
    """Every ``roles`` entry names a protocol of the sweep (or ``gate``), a role it declares,
    and a registered player of that role in at least one of the sweep's domains; a trusted
    researcher the sweep names is a member of its population."""
    from proctor.protocols.roles import GATE

    for owner, cast in spec.roles.items():
        declared = _declared(spec, owner)
        for role, name in cast.items():
            if role not in declared:
                has = ", ".join(declared) or "none"
                raise SpecError(f"roles.{owner}.{role}: {owner} has no role {role!r}; it has {has}")
            players = registry.role_names(role)
            if name not in players:
                raise SpecError(
                    f"roles.{owner}.{role}: unknown {role} {name!r}; known: "
                    f"{', '.join(players) or 'none'}"
                )
            if not any(registry.applies("role", f"{role}:{name}", d) for d in spec.domains):
                raise SpecError(
                    f"roles.{owner}.{role}: {name!r} plays {role} in none of the sweep's "
                    f"domains {', '.join(spec.domains)}"
                )
    if "trusted" in spec.roles.get(GATE, {}):
        chosen = trusted(spec)
        if chosen not in [ResearcherSpec(**m.model_dump()) for m in spec.population]:
            raise SpecError(
                f"roles.gate.trusted: the trusted researcher {chosen.label!r} is not a member "
                "of the population (its episodes stand in for deferred reports)"
            )


def trusted(spec: SweepSpec) -> ResearcherSpec:
    """The sweep's trusted researcher (``roles.gate.trusted``, default ``novice``)."""
    from proctor.protocols.roles import GATE, make_role

    name = spec.roles.get(GATE, {}).get("trusted", GATE_ROLES["trusted"])
    member: ResearcherSpec = make_role("trusted", name, registry.ANY_DOMAIN).spec()
    return member


def _cast_applies(spec: SweepSpec, protocol: str, domain: str) -> bool:
    """Whether every player the sweep casts for `protocol` plays its role in `domain`."""
    return all(
        registry.applies("role", f"{role}:{name}", domain)
        for role, name in spec.roles.get(protocol, {}).items()
    )


def domain_protocols(spec: SweepSpec, domain: str) -> list[str]:
    """The sweep's protocols that run in `domain`: those that apply to it, with every role
    player the sweep casts for them."""
    return [
        p
        for p in spec.protocols
        if registry.applies("protocol", p, domain) and _cast_applies(spec, p, domain)
    ]


def skipped(spec: SweepSpec) -> dict[str, list[str]]:
    """The components the sweep names that do not run everywhere, each with the cells it
    skips: protocols by domain, and organisms the sweep lists by name by domain and level
    (``organisms`` left to default runs each variant where it exists, so skips nothing)."""
    from proctor.researchers.strategy import variant_names

    out: dict[str, list[str]] = {}
    for p in spec.protocols:
        cells = [d for d in spec.domains if p not in domain_protocols(spec, d)]
        if cells:
            cast = ", ".join(f"{r} {n}" for r, n in spec.roles.get(p, {}).items())
            out[f"protocol {p}" + (f" ({cast})" if cast else "")] = cells
    for o in spec.organisms or []:
        cells = []
        for d in spec.domains:
            absent = [
                level
                for level in spec.levels
                if not any(o in variant_names(d, m.backend, level) for m in spec.population)
            ]
            if len(absent) == len(spec.levels):
                cells.append(d)
            elif absent:
                cells.append(f"{d} level {', '.join(map(str, absent))}")
        if cells:
            out[f"organism {o}"] = cells
    return out


def skip_note(spec: SweepSpec) -> str | None:
    """:func:`skipped` as one line, or None when every component runs everywhere."""
    found = skipped(spec)
    if not found:
        return None
    parts = [f"{name} on {'; '.join(cells)}" for name, cells in found.items()]
    return "skipped where they do not apply: " + ", ".join(parts)
