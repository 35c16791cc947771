"""``proctor report`` and ``proctor export``: a stored run's report, its Inspect AI logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from proctor.cli.app import fail, main

__all__ = ["export", "open_run", "report"]


@main.command()
@click.argument("run")
@click.option("--store", help="SQLAlchemy URL or SQLite path holding the run.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Output folder [default: RUN if it is a folder, else runs/RUN].",
)
def report(run: str, store: str | None, out: Path | None) -> None:
    """Write the HTML report and Markdown summary of a stored run.

    RUN is a bench output folder (holding episodes.sqlite) or a run id in --store.
    """
    from proctor.bench import StoreError
    from proctor.report import report_run
    from proctor.report.console import print_summary

    try:
        db, run_id, folder = open_run(run, store)
        out = out or folder or Path("runs") / run
        result = report_run(db, run_id, out)
    except StoreError as err:
        fail(str(err))
    print_summary(result.rows, result.trust)
    click.echo(f"report: {out / 'report.html'}\nsummary: {out / 'summary.md'}")


@main.command()
@click.argument("run")
@click.option(
    "--inspect",
    "inspect_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder to write Inspect AI eval logs to (one per researcher model; open them with "
    "`inspect view --log-dir DIR`).",
)
@click.option("--store", help="SQLAlchemy URL or SQLite path holding the run.")
def export(run: str, inspect_dir: Path, store: str | None) -> None:
    """Export a stored run's model-backed episodes as Inspect AI eval logs.

    RUN is a bench output folder (holding episodes.sqlite) or a run id in --store. Needs
    `pip install proctor[llm]`.
    """
    from proctor.bench import StoreError
    from proctor.bench.export import ExportError, export_inspect

    try:
        db, run_id, _ = open_run(run, store)
        paths = export_inspect(db, run_id, inspect_dir)
    except (StoreError, ExportError) as err:
        fail(str(err))
    for path in paths:
        click.echo(str(path))


def open_run(run: str, store: str | None) -> tuple[Any, str, Path | None]:
    """The store and run id RUN names: a bench output folder (its newest run; the folder is
    returned too) or, with --store, a run id. User mistakes end in `_fail`.

    Raises:
        StoreError: the store cannot be opened.
    """
    from proctor.bench import Store

    folder = Path(run)
    if store is None and folder.is_dir():
        if not (folder / "episodes.sqlite").exists():
            fail(f"{folder} holds no episodes.sqlite; pass --store")
        db = Store(folder / "episodes.sqlite")
        ids = db.runs()
        if not ids:
            fail(f"no runs in {folder / 'episodes.sqlite'}")
        return db, ids[0][0], folder
    if store is not None:
        return Store(store), run, None
    fail(f"{run!r} is not a bench output folder; pass --store URL to name a run id")
