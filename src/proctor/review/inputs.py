"""Range-checked numeric inputs of the review app, and the one-line 422 that refuses the rest.

Every int or float a route takes (path parameter, query parameter or form field) is declared
with one of the types below, or another ``Annotated[int | float, Ge(lo), Le(hi)]``, so that
FastAPI's validation refuses a huge, negative, non-numeric or non-finite value before any
handler (or SQLite, whose INTEGER is 64-bit signed) sees it. :func:`check_routes` runs when
the app is built and refuses a route with an unbounded number, so a new route cannot forget
it; :func:`reason` turns a validation error into one line naming the input and its allowed
range, which the app shows as a 422 (an HTML page, or JSON for clients that ask for it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import fastapi.routing
from annotated_types import Ge, Gt, Le, Lt
from fastapi import params
from fastapi.exceptions import RequestValidationError
from pydantic import AllowInfNan

__all__ = [
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "SQLITE_MAX",
    "SQLITE_MIN",
    "BenchIndex",
    "NumericInput",
    "Page",
    "PerPage",
    "RowId",
    "UnboundedInput",
    "api_routes",
    "check_routes",
    "numeric_inputs",
    "reason",
]

SQLITE_MAX = 2**63 - 1
"""Largest SQLite INTEGER (and SQLAlchemy Integer on SQLite): a bigger Python int overflows."""
SQLITE_MIN = -(2**63)
"""Smallest SQLite INTEGER."""
MAX_PAGE = 1_000_000
"""Highest page number of a paged list."""
MAX_PER_PAGE = 1_000
"""Most rows on one page of a paged list."""

RowId = Annotated[int, Ge(1), Le(SQLITE_MAX)]
"""A database row id (a report's id): SQLite row ids start at 1."""
BenchIndex = Annotated[int, Ge(0), Le(SQLITE_MAX)]
"""The position of a bench run in the settings' list."""
Page = Annotated[int, Ge(1), Le(MAX_PAGE)]
"""A page number, from 1."""
PerPage = Annotated[int, Ge(1), Le(MAX_PER_PAGE)]
"""Rows per page."""

_WHERE = {params.Path: "path parameter", params.Query: "query parameter", params.Form: "form field"}
_SHOWN = 24
"""Characters of a refused value quoted back in the reason."""


@dataclass(frozen=True)
class NumericInput:
    """One numeric input of a route, with its declared bounds (None where there is none)."""

    where: str
    """``path parameter``, ``query parameter``, ``form field``, ``header`` or ``cookie``."""
    name: str
    """The name the client sends (the alias)."""
    kind: type
    """int or float."""
    low: float | None
    high: float | None
    finite: bool
    """Whether inf and NaN are refused (always true for an int)."""

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``a whole number from 1 to 1000``."""
        what = "a whole number" if self.kind is int else "a finite number"
        low = _num(self.low)
        high = _num(self.high)
        if low is not None and high is not None:
            return f"{what} from {low} to {high}"
        if low is not None:
            return f"{what} of at least {low}"
        if high is not None:
            return f"{what} of at most {high}"
        return what

    def bounded(self) -> bool:
        """Whether every accepted value fits a SQLite INTEGER (int) or is finite (float)."""
        if self.low is None or self.high is None or not self.finite:
            return False
        return self.kind is float or SQLITE_MIN <= self.low <= self.high <= SQLITE_MAX


def _num(x: float | None) -> str | None:
    if x is None:
        return None
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _numeric_kind(annotation: Any) -> type | None:
    """int or float if `annotation` is one (also inside Optional or Annotated), else None."""
    if annotation is int or annotation is float:
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        return _numeric_kind(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        kinds = {_numeric_kind(arg) for arg in get_args(annotation) if arg is not NoneType}
        kinds.discard(None)
        if kinds:
            return float if float in kinds else int
    return None


def _field_input(field: Any) -> NumericInput | None:
    info = field.field_info
    kind = _numeric_kind(info.annotation)
    if kind is None:
        return None
    low: float | None = None
    high: float | None = None
    finite = kind is int
    for m in info.metadata:
        if isinstance(m, Ge):
            low = m.ge  # type: ignore[assignment]
        elif isinstance(m, Gt) and kind is int:
            low = m.gt + 1  # type: ignore[operator]
        elif isinstance(m, Le):
            high = m.le  # type: ignore[assignment]
        elif isinstance(m, Lt) and kind is int:
            high = m.lt - 1  # type: ignore[operator]
        elif isinstance(m, AllowInfNan):
            finite = finite or not m.allow_inf_nan
    if kind is float and low is not None and high is not None:
        # pydantic refuses NaN and the infinities against both bounds anyway
        finite = finite or (math.isfinite(low) and math.isfinite(high))
    where = next((w for cls, w in _WHERE.items() if isinstance(info, cls)), None)
    if where is None:
        where = "header" if isinstance(info, params.Header) else "cookie"
    return NumericInput(where, field.alias, kind, low, high, finite)


def _fields(dependant: Any) -> Iterator[Any]:
    for group in ("path_params", "query_params", "header_params", "cookie_params", "body_params"):
        yield from getattr(dependant, group)
    for sub in dependant.dependencies:
        yield from _fields(sub)


def api_routes(routes: Iterable[Any]) -> list[Any]:
    """`routes` with every included router expanded into its routes. FastAPI 0.165 keeps an
    included router as one entry of ``app.routes`` (its routes are reached through
    ``fastapi.routing.iter_route_contexts``); older versions copy the routes in."""
    expand = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(routes) if expand is None else list(expand(list(routes)))


def numeric_inputs(route: Any) -> list[NumericInput]:
    """The numeric inputs of a FastAPI route (its dependencies' too), or of every route of
    an included router."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        inner = [r for r in api_routes([route]) if getattr(r, "dependant", None) is not None]
        return [found for r in inner for found in numeric_inputs(r)]
    return [found for field in _fields(dependant) if (found := _field_input(field)) is not None]


class UnboundedInput(TypeError):
    """A route takes a number without both bounds in the SQLite INTEGER range (or a float
    that may be inf or NaN)."""


def check_routes(routes: Any) -> None:
    """Raise :class:`UnboundedInput` naming the first route whose numeric input is unbounded."""
    for route in api_routes(routes):
        for found in numeric_inputs(route):
            if not found.bounded():
                raise UnboundedInput(
                    f"route {getattr(route, 'path', route)!r}: {found.where} {found.name} "
                    f"({found.kind.__name__}) needs Ge and Le bounds within the SQLite INTEGER "
                    "range (see proctor.review.inputs), and a float must refuse inf and NaN"
                )


_PLACES = {"path": "path parameter", "query": "query parameter", "body": "form field"}


def _quoted(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _SHOWN:
        text = text[:_SHOWN] + "…"
    return repr(text)


def reason(exc: RequestValidationError, route: Any) -> str:
    """One line saying which input of `route` was refused and what it allows (the first
    error of `exc`; a count of the others)."""
    errors = list(exc.errors())
    if not errors:
        return "the request's input was refused"
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ())]
    place = _PLACES.get(loc[0], loc[0]) if loc else "input"
    name = loc[-1] if len(loc) > 1 else "?"
    known = {(n.where, n.name): n for n in numeric_inputs(route)}
    found = known.get((place, name))
    if first.get("type") == "missing":
        line = f"{place} {name} is missing"
    elif found is not None:
        line = f"{place} {name} must be {found.allowed()}, got {_quoted(first.get('input'))}"
    else:
        msg = " ".join(str(first.get("msg", "is not valid")).split())
        line = f"{place} {name}: {msg}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more refused input{'s' if len(errors) > 2 else ''})"
    return line
