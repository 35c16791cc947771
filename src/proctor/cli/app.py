"""The ``proctor`` command group and what its commands share: one-line errors, list flags.

User mistakes end with a one-line ``error: ...`` and exit status :data:`EXIT_USAGE`, never a
traceback (:func:`fail`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

import click

from proctor import __version__

__all__ = ["EXIT_USAGE", "csv_list", "fail", "main", "numbers"]

EXIT_USAGE = 2


def fail(message: str) -> NoReturn:
    """End the command with ``error: <message>`` on stderr and exit status :data:`EXIT_USAGE`."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def csv_list(value: str | None) -> list[str] | None:
    """A comma-separated flag as a list (None: not given)."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise click.BadParameter("expected a comma-separated list")
    return items


def numbers(value: str | None, kind: type, what: str) -> list[Any] | None:
    """A comma-separated flag of numbers of `kind` (None: not given); others end in :func:`fail`
    naming the flag `what`."""
    items = csv_list(value)
    if items is None:
        return None
    try:
        return [kind(v) for v in items]
    except ValueError:
        fail(f"{what}: expected comma-separated {kind.__name__}s, got {value!r}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="proctor")
@click.option("-v", "--verbose", is_flag=True, help="Log warnings from episodes as they happen.")
def main(verbose: bool) -> None:
    """proctor: measure how far oversight of AI research can be trusted.

    Research agents (honest ones and model organisms of failure modes) investigate tasks with
    hidden ground truth; oversight protocols judge their reports; the bench measures each
    protocol against each failure mode and writes a trust map.
    """
    logging.basicConfig(
        level=logging.WARNING if verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
