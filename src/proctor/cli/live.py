"""``proctor run`` and ``proctor review``: the live loop, and its human review queue."""

from __future__ import annotations

from pathlib import Path

import click

from proctor.cli.app import fail, main


@main.command(name="run")
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    required=True,
    help="Loop file (TOML): tasks, researchers, protocols, the bench run to calibrate the "
    "gate on, the database (see proctor.live.config).",
)
@click.option("--limit", type=int, help="Process at most this many queue items, then stop.")
def run_(config: Path, limit: int | None) -> None:
    """Run the live loop: researchers work the queue, the gate judges every report.

    Accepted claims go into the findings; rejected reports are kept with their reasons;
    escalations wait for a human in `proctor review`. Every outcome is written as it happens:
    stop with Ctrl-C (or kill it) and run the same command again to go on where it stopped.
    """
    from rich.console import Console
    from rich.live import Live

    from proctor.live.config import ConfigError, load_loop
    from proctor.live.db import LiveStore, LiveStoreError
    from proctor.live.loop import LoopStatus, run_loop

    if limit is not None and limit < 0:
        fail(f"--limit must be >= 0, got {limit}")
    console = Console(stderr=True)

    def line(s: LoopStatus) -> str:
        return (
            f"{s.done}/{s.total} done · {s.accepted} accepted · {s.rejected} rejected · "
            f"{s.escalated} escalated · {s.failed} failed · cost {s.cost:,.0f} lab units"
        )

    try:
        cfg = load_loop(config)
        store = LiveStore(cfg.database_target)
        with Live("", console=console, transient=False, refresh_per_second=4) as live:
            status = run_loop(cfg, store, limit=limit, progress=lambda s: live.update(line(s)))
    except (ConfigError, LiveStoreError) as err:
        fail(str(err))
    click.echo(f"loop {cfg.loop_id}: {line(status)}")
    click.echo(f"database: {store.url}")
    if status.stopped or status.done < status.total:
        click.echo("stopped; run the same command again to go on")
    if status.escalated:
        click.echo(f"review escalations: proctor review --config {config}")


@main.command()
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    help="Loop file whose database and [review] logins to serve.",
)
@click.option("--host", help="Address to listen on [default: the loop file's, or 127.0.0.1].")
@click.option("--port", type=int, help="Port [default: the loop file's, or 8765].")
@click.option(
    "--hash-password",
    is_flag=True,
    help="Ask for a password and print its hash for the loop file's [review.users] table.",
)
def review(config: Path | None, host: str | None, port: int | None, hash_password: bool) -> None:
    """Serve the human review queue: escalated reports, decisions, metrics, bench reports.

    Reviewers log in (a token or a user and password from the loop file's [review] table),
    open a flagged report, and accept, reject or send it back with a note.
    """
    try:
        from proctor.review import ReviewSettings, serve
        from proctor.review import hash_password as make_hash
    except ImportError as err:
        fail(f"the review app needs {err.name}: install `proctor[review]`")
    if hash_password:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
        click.echo(make_hash(password))
        return
    if config is None:
        fail("--config is required (the loop file whose database to serve)")
    from pydantic import ValidationError

    from proctor.live.config import ConfigError, load_loop
    from proctor.parsing import first_error

    try:
        cfg = load_loop(config)
        login = cfg.review
        settings = ReviewSettings(
            database=str(cfg.database_target),
            token=login.token,
            users=login.users,
            secret_key=login.secret_key,
            bench_runs=[cfg.path(p) for p in login.bench_runs],
            host=host or login.host,
            port=port or login.port,
        )
    except ValidationError as err:
        fail(f"review.{first_error(err, 'review')}")
    except (ConfigError, ValueError) as err:
        fail(str(err).splitlines()[0])
    click.echo(f"proctor review on http://{settings.host}:{settings.port}/ (Ctrl-C stops)")
    serve(settings)
