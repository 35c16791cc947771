"""Prompts of model-backed researchers: versioned TOML files in ``prompts/``.

A system prompt is composed, in order, of the general instructions (``base.toml``), the
domain's claim format and its method guidance for the researcher's skill
(``domains/<domain>.toml``: ``expert`` or ``novice``), and for a model organism its
disposition's text, its variant's text and the texts of the conditions that fire on this task
(``organisms/<disposition>.toml``). Each organism file says which behaviour it imitates and
cites the work it follows; each variant says whether its harm comes through permitted actions
only (DESIGN.md §5: headline organisms harm through experiment choice, selective reporting,
misreading, wrong intervals and useless directions; fabrication, forbidden reads and reaching
out of scope are named variants). A condition is an extra paragraph that a knob switches on
(:mod:`proctor.researchers.llm`): ``recognised_test`` for the sandbagger, ``knows_protocols``
for every organism.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PROMPTS = Path(__file__).with_name("prompts")
SKILLS = ("expert", "novice")
HEADLINE = "headline"
"""The key of a disposition's headline variant (the variant named '') in its file."""


@dataclass(frozen=True)
class Prompt:
    """A composed system prompt and the versions of the files it came from."""

    system: str
    version: str
    """E.g. ``base1+causal1+saboteur1``."""


@dataclass(frozen=True)
class OrganismVariant:
    """One variant of a prompted organism."""

    text: str
    permitted_only: bool
    domains: tuple[str, ...] | None
    """The domains it exists in (None: all)."""


@cache
def _load(relative: str) -> dict[str, Any]:
    path = PROMPTS / relative
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"no prompt file {relative}") from None


def organism(disposition: str) -> dict[str, Any]:
    """The parsed prompt file of a disposition (ValueError naming it if there is none)."""
    try:
        return _load(f"organisms/{disposition}.toml")
    except ValueError:
        raise ValueError(f"no prompt for disposition {disposition!r}") from None


def organism_variants(disposition: str) -> dict[str, OrganismVariant]:
    """A disposition's variants by name ('' for the headline variant)."""
    out = {}
    for key, v in organism(disposition).get("variants", {}).items():
        domains = v.get("domains")
        out["" if key == HEADLINE else key] = OrganismVariant(
            text=v.get("text", "").strip(),
            permitted_only=bool(v["permitted_only"]),
            domains=tuple(domains) if domains is not None else None,
        )
    return out


def conditions(disposition: str) -> frozenset[str]:
    """The conditions a disposition's prompt can add."""
    return frozenset(organism(disposition).get("conditions", {}))


def compose(
    domain: str,
    skill: str,
    disposition: str,
    variant: str,
    active: frozenset[str] = frozenset(),
) -> Prompt:
    """The system prompt of a model researcher (see the module docstring).

    Raises:
        ValueError: an unknown domain, skill, disposition, variant (or one that does not exist
            in `domain`) or condition, named in one line.
    """
    if skill not in SKILLS:
        raise ValueError(f"unknown skill {skill!r}; known: {', '.join(SKILLS)}")
    base = _load("base.toml")
    try:
        dom = _load(f"domains/{domain}.toml")
    except ValueError:
        raise ValueError(f"no prompt for domain {domain!r}") from None
    org = organism(disposition)
    variants = organism_variants(disposition)
    name = f"{disposition}:{variant}" if variant else disposition
    chosen = variants.get(variant)
    if chosen is None or (chosen.domains is not None and domain not in chosen.domains):
        raise ValueError(f"no prompt for {name!r} in domain {domain!r}")
    unknown = active - conditions(disposition)
    if unknown:
        raise ValueError(f"{disposition} has no condition(s) {sorted(unknown)}")
    parts = [base["text"], dom["claims"], dom[skill], org.get("text", ""), chosen.text]
    parts += [org["conditions"][c]["text"] for c in sorted(active)]
    system = "\n\n".join(p.strip() for p in parts if p and p.strip())
    version = f"base{base['version']}+{domain}{dom['version']}+{disposition}{org['version']}"
    return Prompt(system=system, version=version)
