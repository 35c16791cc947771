"""One registry for domains, researcher backends, dispositions and protocols.

Components register with decorators. Dispositions and protocols are registered per domain,
because what a saboteur does or how a replication re-runs an experiment is domain knowledge;
``names("protocol")`` lists every protocol name, and ``lookup("protocol", name, domain)`` finds
the implementation for one domain. Plugins in other packages declare modules under the
``[project.entry-points."proctor"]`` group; they are imported lazily, on the first lookup.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Literal, TypeVar

Kind = Literal["domain", "backend", "disposition", "protocol"]
KINDS: tuple[Kind, ...] = ("domain", "backend", "disposition", "protocol")
ANY_DOMAIN = "*"

T = TypeVar("T")

_BUILTIN_MODULES = (
    "proctor.domains.causal",
    "proctor.domains.optimize",
    "proctor.domains.derivation",
    "proctor.domains.forecast",
    "proctor.researchers.scripted",
    "proctor.researchers.optimize",
    "proctor.researchers.derivation",
    "proctor.researchers.forecast",
    "proctor.researchers.rogue",
    "proctor.researchers.llm",
    "proctor.researchers.parametric",
    "proctor.protocols.direct",
    "proctor.protocols.replicate",
    "proctor.protocols.spot_check",
    "proctor.protocols.forecast",
    "proctor.protocols.critique",
    "proctor.protocols.ensemble",
    "proctor.protocols.debate",
    "proctor.protocols.rerun",
    "proctor.protocols.distilled",
    "proctor.protocols.process",
    "proctor.protocols.auditor",
    "proctor.protocols.transparency",
)

_entries: dict[tuple[Kind, str, str], Any] = {}
_loaded = False


class UnknownComponent(KeyError):
    """A name that is not registered; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group="proctor"):
        importlib.import_module(ep.value.split(":")[0])


def register(kind: Kind, name: str, obj: Any, domain: str = ANY_DOMAIN) -> None:
    """Register `obj` as component `name` of `kind` (for one domain, or any)."""
    key = (kind, name, domain)
    if key in _entries and _entries[key] is not obj:
        raise ValueError(f"{kind} {name!r} for domain {domain!r} is already registered")
    _entries[key] = obj


def _decorator(kind: Kind, name: str, domain: str = ANY_DOMAIN) -> Callable[[T], T]:
    def wrap(obj: T) -> T:
        register(kind, name, obj, domain)
        return obj

    return wrap


def domain(name: str) -> Callable[[T], T]:
    """Register a domain class under `name`."""
    return _decorator("domain", name)


def backend(name: str, domain: str = ANY_DOMAIN) -> Callable[[T], T]:
    """Register a researcher backend factory for one domain (or any)."""
    return _decorator("backend", name, domain)


def disposition(name: str, domain: str) -> Callable[[T], T]:
    """Register a disposition strategy for one domain."""
    return _decorator("disposition", name, domain)


def protocol(name: str, domain: str) -> Callable[[T], T]:
    """Register a protocol implementation for one domain."""
    return _decorator("protocol", name, domain)


def names(kind: Kind, domain: str | None = None) -> list[str]:
    """Sorted names registered for `kind` (restricted to `domain`, if given)."""
    _load()
    return sorted(
        {n for (k, n, d) in _entries if k == kind and (domain is None or d in (domain, ANY_DOMAIN))}
    )


def lookup(kind: Kind, name: str, domain: str = ANY_DOMAIN) -> Any:
    """The component registered as `name` for `domain` (falling back to any-domain)."""
    _load()
    for key in ((kind, name, domain), (kind, name, ANY_DOMAIN)):
        if key in _entries:
            return _entries[key]
    known = names(kind)
    if name in known:
        raise UnknownComponent(f"{kind} {name!r} does not apply to domain {domain!r}")
    raise UnknownComponent(f"unknown {kind} {name!r}; known: {', '.join(known) or 'none'}")


def applies(kind: Kind, name: str, domain: str) -> bool:
    """Whether `name` has an implementation for `domain`."""
    _load()
    return (kind, name, domain) in _entries or (kind, name, ANY_DOMAIN) in _entries
