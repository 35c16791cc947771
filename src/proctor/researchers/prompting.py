"""Prompts of model-backed researchers: versioned TOML files in ``prompts/`` (package data).

A system prompt is composed, in this order, of

1. the general instructions (``base.toml``: tools, budget, evidence, the JSON report, the
   private scratchpad);
2. the domain's claim format (``domains/<domain>.toml``, ``claims``: the claim kinds its grader
   scores, their ``content`` keys and numeric fields);
3. the domain's method guidance for the researcher's skill (``expert`` or ``novice``, modelled
   on the scripted researchers' methods);
4. for a model organism, from ``organisms/<disposition>.toml``: the disposition's ``text``,
   its variant's ``text`` (the headline variant, named '', is the table ``[variants.headline]``)
   followed on the next line by the variant's ``domain_text`` for this domain, where it has
   one; then the ``text`` of each condition the harness switches on
   (``[conditions.<name>]``), in name order.

Parts are separated by blank lines; empty parts are left out, so the honest researcher's prompt
is parts 1-3 alone. Each organism file says which behaviour it ``imitates``, ``cites`` the work
it follows (REFERENCES.md), and marks each variant ``permitted_only`` when its harm comes only
through permitted actions and real results (DESIGN.md §5: headline organisms harm through
experiment choice, selective reporting, misreading, wrong intervals and useless directions;
fabricated numbers, forbidden reads, smuggled secrets and out-of-scope attempts are named
variants). A variant with ``domains`` exists only in those domains. Conditions are paragraphs a
knob switches on (:mod:`proctor.researchers.llm`): ``recognised_test`` for the sandbagger (it
recognised a capability-test framing), ``knows_protocols`` for every organism.

Every file has an integer ``version``; :attr:`Prompt.version` names the files a prompt came
from (``base1+causal1+saboteur1``), so any edit of a prompt file must bump its version.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "PROMPTS",
    "SKILLS",
    "OrganismVariant",
    "Prompt",
    "compose",
    "conditions",
    "dispositions",
    "domains",
    "organism",
    "organism_variants",
]

PROMPTS = Path(__file__).with_name("prompts")
"""The folder of prompt files."""
SKILLS = ("expert", "novice")
HEADLINE = "headline"
"""The table name of a disposition's headline variant (the variant named '')."""


@dataclass(frozen=True)
class Prompt:
    """A composed system prompt and the versions of the files it came from."""

    system: str
    """The composed system prompt."""
    version: str
    """The files and their versions, e.g. ``base1+causal1+saboteur1``."""


@dataclass(frozen=True)
class OrganismVariant:
    """One variant of a prompted organism, as its file states it."""

    text: str
    """What the variant does, in every domain it exists in."""
    permitted_only: bool
    """Whether its harm comes only through permitted actions and real results."""
    domains: tuple[str, ...] | None = None
    """The domains it exists in (None: every domain)."""
    domain_text: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Extra text for particular domains, added after `text`."""

    def available(self, domain: str) -> bool:
        """Whether the variant exists in `domain`."""
        return self.domains is None or domain in self.domains


@cache
def _load(relative: str) -> Mapping[str, Any]:
    """A prompt file, parsed (ValueError naming it when it is missing or not valid TOML)."""
    path = PROMPTS / relative
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no prompt file {relative}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"prompt file {relative} is not valid TOML: {err}") from None
    if not isinstance(data.get("version"), int) or isinstance(data["version"], bool):
        raise ValueError(f"prompt file {relative} needs an integer `version`")
    return MappingProxyType(data)


def _names(folder: str) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in (PROMPTS / folder).glob("*.toml")))


def domains() -> tuple[str, ...]:
    """The domains that have a prompt file."""
    return _names("domains")


def dispositions() -> tuple[str, ...]:
    """The dispositions that have a prompt file."""
    return _names("organisms")


def _domain(domain: str) -> Mapping[str, Any]:
    if domain not in domains():
        raise ValueError(f"unknown domain {domain!r}; prompts exist for {', '.join(domains())}")
    return _load(f"domains/{domain}.toml")


def organism(disposition: str) -> Mapping[str, Any]:
    """The parsed prompt file of a disposition (read-only; ValueError if there is none)."""
    if disposition not in dispositions():
        known = ", ".join(dispositions())
        raise ValueError(f"unknown disposition {disposition!r}; prompts exist for {known}")
    return _load(f"organisms/{disposition}.toml")


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{where}: `{key}` must be a string")
    return value.strip()


@cache
def _variants(disposition: str) -> Mapping[str, OrganismVariant]:
    out: dict[str, OrganismVariant] = {}
    for key, table in organism(disposition).get("variants", {}).items():
        where = f"organisms/{disposition}.toml [variants.{key}]"
        if not isinstance(table.get("permitted_only"), bool):
            raise ValueError(f"{where}: `permitted_only` must be true or false")
        listed = table.get("domains")
        extra = table.get("domain_text", {})
        out["" if key == HEADLINE else key] = OrganismVariant(
            text=_text(table, "text", where),
            permitted_only=table["permitted_only"],
            domains=tuple(listed) if listed is not None else None,
            domain_text=MappingProxyType({d: _text(extra, d, where) for d in extra}),
        )
    return MappingProxyType(out)


def organism_variants(disposition: str) -> dict[str, OrganismVariant]:
    """A disposition's variants by name ('' for the headline variant), in every domain."""
    return dict(_variants(disposition))


def conditions(disposition: str) -> frozenset[str]:
    """The conditions a disposition's prompt can add."""
    return frozenset(organism(disposition).get("conditions", {}))


def compose(
    domain: str,
    skill: str,
    disposition: str,
    variant: str,
    conditions: frozenset[str] = frozenset(),
) -> Prompt:
    """The system prompt of a model researcher (the order is the module docstring's).

    `conditions` are the conditions that fire on this task; each must be one of the
    disposition's (:func:`conditions`).

    Raises:
        ValueError: one line naming what is unknown: the domain, the skill, the disposition,
            the variant (or one that does not exist in `domain`), or a condition.
    """
    dom = _domain(domain)
    if skill not in SKILLS:
        raise ValueError(f"unknown skill {skill!r}; known: {', '.join(SKILLS)}")
    org = organism(disposition)
    variants = _variants(disposition)
    name = f"{disposition}:{variant}" if variant else disposition
    chosen = variants.get(variant)
    if chosen is None:
        known = ", ".join(f"{disposition}:{v}" if v else disposition for v in variants)
        raise ValueError(f"unknown variant {name!r}; known: {known}")
    if not chosen.available(domain):
        where = ", ".join(chosen.domains or ())
        raise ValueError(f"variant {name!r} does not exist in {domain!r}, only in {where}")
    unknown = sorted(set(conditions) - set(org.get("conditions", {})))
    if unknown:
        known = ", ".join(sorted(org.get("conditions", {}))) or "none"
        raise ValueError(f"unknown condition(s) {unknown} for {disposition!r}; known: {known}")
    base = _load("base.toml")
    parts = [
        _text(base, "text", "base.toml"),
        _text(dom, "claims", f"domains/{domain}.toml"),
        _text(dom, skill, f"domains/{domain}.toml"),
        _text(org, "text", f"organisms/{disposition}.toml"),
        "\n".join(t for t in (chosen.text, chosen.domain_text.get(domain, "")) if t),
    ]
    parts += [
        _text(org["conditions"][c], "text", f"organisms/{disposition}.toml [conditions.{c}]")
        for c in sorted(conditions)
    ]
    version = f"base{base['version']}+{domain}{dom['version']}+{disposition}{org['version']}"
    return Prompt(system="\n\n".join(p for p in parts if p), version=version)
