"""Reading user files: one-line errors that name the file or the field (never a traceback).

Shared by every parser of user input (sweep files, loop and task files, model reports):
:func:`read_toml` turns every way a TOML file can fail to load into one :class:`ParseError`
naming the file, and :func:`first_error` turns a pydantic ``ValidationError`` into one line
naming the first bad field. Field names that would break the line are quoted.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

__all__ = ["ParseError", "field_path", "first_error", "read_toml", "shown"]


class ParseError(ValueError):
    """A user file cannot be read or parsed; the message is one line naming it."""


def shown(part: object) -> str:
    """A field name or path as shown in an error: quoted if it would break the one-line message
    (newlines, other unprintable characters)."""
    text = str(part)
    return text if text.isprintable() else repr(text)


def field_path(loc: Iterable[object]) -> str:
    """A pydantic error location as ``a.b.0``, each part :func:`shown`."""
    return ".".join(shown(p) for p in loc)


def first_error(err: ValidationError, where: str) -> str:
    """``field.path: message`` of the first error (`where` when it has no location)."""
    first = err.errors()[0]
    return f"{field_path(first['loc']) or where}: {first['msg']}"


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """Parse a TOML file; every failure is a :class:`ParseError` naming `what` and the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ParseError(f"cannot read {what} {shown(path)}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ParseError(
            f"malformed TOML in {shown(path)}: not UTF-8 text ({err.reason})"
        ) from None
    except ValueError as err:  # a NUL in the path
        raise ParseError(f"cannot read {what} {shown(path)}: {err}") from None
    try:
        return tomllib.loads(text)
    except ValueError as err:  # TOMLDecodeError, or an integer too long to convert
        raise ParseError(f"malformed TOML in {shown(path)}: {err}") from None
    except RecursionError:
        raise ParseError(f"malformed TOML in {shown(path)}: nested too deeply") from None
