"""One registry for domains, researcher backends, dispositions, protocols, domain checks and roles.

Components register with decorators. Dispositions are registered per domain, because what a
saboteur does is domain knowledge. A protocol *family* registers once, for every domain
(:data:`ANY_DOMAIN`), and finds what it must know about a domain — how to key, re-test and
re-brief its claims — in that domain's checks (kind ``checks``, registered under the domain's
name; :mod:`proctor.protocols.checks`); a protocol that exists for some domains only registers
per domain (a sweep runs it where it applies and says where it skips it). ``names("protocol")``
lists every protocol name, and ``lookup("protocol", name, domain)`` finds the implementation
for one domain. *Roles* (kind ``role``) are the helpers a protocol or the gate calls on — a
debate's opponent, a consultant, a defender, the trusted researcher — registered under
``<role>:<name>`` (:func:`role`, :mod:`proctor.protocols.roles`) and chosen per sweep.

Registering the same object under a taken name again is a no-op (a plug-in loaded twice); a
different object under a taken name raises.

Modules that register components are declared as entry points of the ``proctor`` group —
the package's own built-in modules in its ``pyproject.toml``, a plugin's in its own — and
imported lazily, on the first lookup. An installation whose metadata predates the built-in
entry points (an editable install made before they existed, until it is reinstalled) falls
back to importing every module of :data:`BUILTIN_PACKAGES`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Literal, TypeVar

Kind = Literal["domain", "backend", "disposition", "protocol", "checks", "role"]
KINDS: tuple[Kind, ...] = ("domain", "backend", "disposition", "protocol", "checks", "role")
ANY_DOMAIN = "*"
GROUP = "proctor"
"""The entry-point group of modules that register components."""
BUILTIN_PACKAGES = (
    "proctor.domains",
    "proctor.researchers",
    "proctor.protocols",
    "proctor.oversight",
)
"""Where the built-in modules live: the fallback imports every module of these packages."""

T = TypeVar("T")

_entries: dict[tuple[Kind, str, str], Any] = {}
_derived: dict[tuple[Kind, str], Callable[[str], Any]] = {}
_loaded = False


class UnknownComponent(KeyError):
    """A name that is not registered; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def entry_point_modules() -> list[str]:
    """Modules the installed entry points of :data:`GROUP` declare, in their order."""
    return [ep.value.split(":")[0].strip() for ep in entry_points(group=GROUP)]


def builtin_modules() -> list[str]:
    """Every module of :data:`BUILTIN_PACKAGES` (the fallback's list), in name order."""
    out = []
    for package in BUILTIN_PACKAGES:
        path = importlib.import_module(package).__path__
        out += [f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if not m.ispkg]
    return out


def modules_to_load() -> list[str]:
    """The modules :func:`_load` imports: the declared entry points, and every built-in module
    where the installed metadata declares none of the package's own."""
    declared = entry_point_modules()
    if any(m.startswith("proctor.") for m in declared):
        return declared
    return builtin_modules() + declared


def load() -> None:
    """Import every module that registers components (once per process; lookups do it
    themselves, on the first one)."""
    _load()


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in modules_to_load():
        importlib.import_module(module)


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


def protocol(name: str, domain: str = ANY_DOMAIN) -> Callable[[T], T]:
    """Register a protocol implementation for one domain, or a protocol family for every
    domain (the default, :data:`ANY_DOMAIN`)."""
    return _decorator("protocol", name, domain)


def checks(domain: str) -> Callable[[T], T]:
    """Register a domain's checks (a :class:`~proctor.protocols.checks.DomainChecks` class):
    what the protocol families need to know about the claims of `domain`."""
    return _decorator("checks", domain)


def role(role: str, name: str, domain: str = ANY_DOMAIN) -> Callable[[T], T]:
    """Register a role class as `name` of `role` (``opponent``, ``consultant``, ``defender``,
    ``trusted``: :data:`proctor.protocols.roles.ROLES`), for every domain or one; its
    registered name is ``<role>:<name>``."""
    return _decorator("role", f"{role}:{name}", domain)


def role_names(role: str, domain: str | None = None) -> list[str]:
    """Sorted names registered for `role` (restricted to `domain`, if given)."""
    prefix = f"{role}:"
    return [n[len(prefix) :] for n in names("role", domain) if n.startswith(prefix)]


def derive(kind: Kind, name: str, make: Callable[[str], Any]) -> None:
    """Register `name` of `kind` for every domain that `make` builds one for: on the first
    lookup in a domain, ``make(domain)`` returns the domain's component (registered from then
    on), or None where the domain has none. For components made from another component of
    the domain's own, e.g. the rogue (each domain's honest strategy with the rogue's hooks),
    so that a new domain gets them without being named anywhere."""
    key = (kind, name)
    if key in _derived and _derived[key] is not make:
        raise ValueError(f"{kind} {name!r} is already derived")
    _derived[key] = make


def _derive(kind: Kind, name: str, domain: str) -> bool:
    """Whether `name` is (now) registered for `domain`, deriving it if it can be."""
    if (kind, name, domain) in _entries:
        return True
    make = _derived.get((kind, name))
    if make is None or domain == ANY_DOMAIN or domain not in _domains():
        return False
    obj = make(domain)
    if obj is None:
        return False
    register(kind, name, obj, domain)
    return True


def _domains() -> set[str]:
    return {n for (k, n, _) in _entries if k == "domain"}


def names(kind: Kind, domain: str | None = None) -> list[str]:
    """Sorted names registered for `kind` (restricted to `domain`, if given)."""
    _load()
    for k, n in list(_derived):
        if k == kind:
            for d in _domains() if domain is None else {domain}:
                _derive(k, n, d)
    return sorted(
        {n for (k, n, d) in _entries if k == kind and (domain is None or d in (domain, ANY_DOMAIN))}
    )


def lookup(kind: Kind, name: str, domain: str = ANY_DOMAIN) -> Any:
    """The component registered as `name` for `domain` (falling back to any-domain)."""
    _load()
    _derive(kind, name, domain)
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
    return _derive(kind, name, domain) or (kind, name, ANY_DOMAIN) in _entries
