"""proctor's command line: a thin layer over the Python API (``proctor.report.run_bench``...).

User mistakes (unknown names, malformed TOML, negative budgets, a missing run) end with a
one-line ``error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from proctor import __version__

EXIT_USAGE = 2


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise click.BadParameter("expected a comma-separated list")
    return items


def _numbers(value: str | None, kind: type, what: str) -> list[Any] | None:
    items = _csv(value)
    if items is None:
        return None
    try:
        return [kind(v) for v in items]
    except ValueError:
        _fail(f"{what}: expected comma-separated {kind.__name__}s, got {value!r}")


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


@main.command()
@click.option(
    "--quick",
    is_flag=True,
    help="The quick sweep (all four domains at levels 1-2, every protocol, no adaptive "
    "attacker; what `make bench` runs; under 5 minutes on 2 cores).",
)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    help="Sweep file (TOML); flags given as well override its fields.",
)
@click.option("--domains", help="Comma-separated domains, e.g. causal.")
@click.option("--levels", help="Comma-separated levels, e.g. 1,2.")
@click.option(
    "--dispositions",
    help="Comma-separated organisms, e.g. saboteur:misread,sandbagger "
    "(the honest population always runs).",
)
@click.option("--protocols", help="Comma-separated protocols, e.g. direct,replicate.")
@click.option(
    "--budgets", help="Comma-separated protocol budgets as fractions of the researcher's spend."
)
@click.option(
    "--adaptive/--no-adaptive",
    default=None,
    help="Add (or leave out) the adaptive attacker saboteur:adaptive, which searches its "
    "attacks against the frozen protocols (costly: ~1-3 s per episode) [default: on in the "
    "full sweep, off in --quick and with --researcher-model, which it cannot run with].",
)
@click.option("--seeds", type=int, help="Test seeds per level (calibration seeds stay as set).")
@click.option("--calibration-seeds", type=int, help="Calibration seeds per level.")
@click.option(
    "--researcher-model",
    help="Model of every researcher (honest and organisms), by Inspect AI name: "
    "openai/gpt-4o, anthropic/..., vllm/..., ollama/..., openai-api/<provider>/<model>, or "
    "mockllm/model (offline: plays the scripted researchers through the tool-calling path). "
    "Needs `pip install proctor[llm]`.",
)
@click.option(
    "--judge-model",
    help="Model of the reading judges: direct, critique, consultancy and debate (whose "
    "debaters use it too unless the sweep file sets models.debater).",
)
@click.option("--monitor-model", help="Model of the trace monitor.")
@click.option(
    "--concurrency",
    type=int,
    default=8,
    show_default=True,
    help="Model-backed episodes run at once in each worker.",
)
@click.option(
    "--max-tokens",
    type=int,
    help="Stop cleanly once the sweep's model calls used this many tokens (rerun to go on).",
)
@click.option(
    "--max-cost",
    type=float,
    help="Stop cleanly once the sweep's model calls cost this many dollars (rerun to go on).",
)
@click.option(
    "--workers",
    type=int,
    default=2,
    show_default=True,
    help="Local processes (with --executor ray and no --address: the CPUs of the Ray "
    "started on this machine).",
)
@click.option(
    "--executor",
    default="local",
    show_default=True,
    metavar="[local|ray]",
    help="Where episodes run: local (this machine's processes) or ray (Ray tasks, on a Ray "
    "started on this machine for the sweep, or on the cluster at --address; needs "
    "`pip install 'proctor[ray]'`). Both give the same episodes.",
)
@click.option(
    "--address",
    help="Ray cluster to run on, as ray.init takes it: HOST:PORT of the head, "
    "ray://HOST:10001 (Ray Client) or auto; only with --executor ray (its nodes need "
    "proctor installed) [default: a Ray on this machine only].",
)
@click.option(
    "--plugin",
    multiple=True,
    metavar="MODULE_OR_FILE",
    help="Load a plug-in (module or .py file) here and in every worker; repeatable.",
)
@click.option("--store", help="SQLAlchemy URL or SQLite path [default: OUT/episodes.sqlite].")
@click.option(
    "--resume",
    "resume",
    metavar="RUN",
    help="Finish a stopped or killed sweep: RUN is its output folder (or a run id in "
    "--store); its stored sweep is run again, skipping every episode already stored. Takes "
    "no sweep flags.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("runs/bench"),
    show_default=True,
    help="Output folder [with --resume RUN: the folder RUN].",
)
@click.pass_context
def bench(
    ctx: click.Context,
    quick: bool,
    config: Path | None,
    domains: str | None,
    levels: str | None,
    dispositions: str | None,
    protocols: str | None,
    budgets: str | None,
    adaptive: bool | None,
    seeds: int | None,
    calibration_seeds: int | None,
    researcher_model: str | None,
    judge_model: str | None,
    monitor_model: str | None,
    concurrency: int,
    max_tokens: int | None,
    max_cost: float | None,
    workers: int,
    executor: str,
    address: str | None,
    plugin: tuple[str, ...],
    store: str | None,
    resume: str | None,
    out: Path,
) -> None:
    """Run a sweep: every researcher on every task, every protocol on every report.

    Episodes already in the store are skipped, so rerunning a killed sweep finishes it.
    Writes OUT/summary.json, OUT/summary.md and OUT/report.html, and prints the AUROC and
    catch-rate tables.
    """
    from proctor.bench import SpecError, StoreError
    from proctor.bench.spec import merge_spec
    from proctor.registry import UnknownComponent
    from proctor.report.console import print_summary

    fields: dict[str, Any] = {
        "domains": _csv(domains),
        "levels": _numbers(levels, int, "--levels"),
        "organisms": _csv(dispositions),
        "protocols": _csv(protocols),
        "budgets": _numbers(budgets, float, "--budgets"),
        "adaptive": adaptive,
        "plugins": list(plugin) or None,
    }
    for flag, value in (
        ("--seeds", seeds),
        ("--calibration-seeds", calibration_seeds),
        ("--workers", workers),
    ):
        if value is not None and value < (1 if flag == "--workers" else 0):
            _fail(f"{flag} must be {'>= 1' if flag == '--workers' else '>= 0'}, got {value}")
    _check_executor(executor, address)
    if resume is not None:
        spec, store, out = _resumed(ctx, resume, store, out)
    else:
        try:
            spec = merge_spec(
                quick=quick,
                config=config,
                **fields,
                seeds=seeds,
                calibration_seeds=calibration_seeds,
                models={
                    "researcher": researcher_model,
                    "judge": judge_model,
                    "monitor": monitor_model,
                },
            )
        except (SpecError, UnknownComponent) as err:
            _fail(str(err))
    started = time.monotonic()
    try:
        result = _with_progress(
            spec,
            out,
            store=store,
            workers=workers,
            concurrency=concurrency,
            max_tokens=max_tokens,
            max_cost=max_cost,
            executor=executor,
            address=address,
        )
    except (SpecError, StoreError, UnknownComponent) as err:
        _fail(str(err))
    print_summary(result.rows, result.trust)
    click.echo(
        f"\n{result.n_episodes} episodes ({result.n_new} new, {result.n_failed} failed) "
        f"in {time.monotonic() - started:.0f} s; run {result.run_id}"
    )
    if note := spec.skip_note():
        click.echo(note)
    click.echo(f"report: {out / 'report.html'}\nsummary: {out / 'summary.md'}")
    if result.stopped:
        click.echo(f"stopped early: {result.stopped}; run the same command again to go on")


SWEEP_FLAGS = (
    "quick",
    "config",
    "domains",
    "levels",
    "dispositions",
    "protocols",
    "budgets",
    "adaptive",
    "seeds",
    "calibration_seeds",
    "researcher_model",
    "judge_model",
    "monitor_model",
    "plugin",
)
"""``proctor bench`` flags that change the sweep (none may come with ``--resume``)."""


def _check_executor(executor: str, address: str | None) -> None:
    """``--executor`` and ``--address`` make sense together, and Ray is there if asked for."""
    if executor not in ("local", "ray"):
        _fail(f"--executor must be local or ray, got {executor!r}")
    if address is not None and executor != "ray":
        _fail("--address is for --executor ray only")
    if executor == "ray":
        from proctor.bench import SpecError
        from proctor.bench.executors import require_ray

        try:
            require_ray()
        except SpecError as err:
            _fail(str(err))


def _resumed(
    ctx: click.Context, resume: str, store: str | None, out: Path
) -> tuple[Any, str | None, Path]:
    """(the stored sweep, its store, the output folder) for ``--resume RUN``."""
    from click.core import ParameterSource

    from proctor.bench import StoreError

    given = [
        f"--{n.replace('_', '-')}"
        for n in SWEEP_FLAGS
        if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE
    ]
    if given:
        _fail(f"--resume runs the stored sweep as it was; drop {', '.join(given)}")
    try:
        db, run_id, folder = _open_run(resume, store)
    except StoreError as err:
        _fail(str(err))
    spec = db.spec(run_id)
    if spec is None:
        _fail(f"no run {run_id!r} in the store")
    if folder is not None:
        store = str(folder / "episodes.sqlite")
        if ctx.get_parameter_source("out") != ParameterSource.COMMANDLINE:
            out = folder
    return spec, store, out


def _with_progress(spec: Any, out: Path, **options: Any) -> Any:
    """``proctor.report.run_bench`` under a progress bar on stderr (hidden on an error, so the
    error stands alone rather than beside a bar stopped at 0/N)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from proctor.report import run_bench

    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        job = bar.add_task(f"{spec.run_id}: episodes", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total)

        try:
            return run_bench(spec, out, progress=progress, **options)
        except Exception:
            bar.update(job, visible=False)
            raise


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
        db, run_id, folder = _open_run(run, store)
        out = out or folder or Path("runs") / run
        result = report_run(db, run_id, out)
    except StoreError as err:
        _fail(str(err))
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
        db, run_id, _ = _open_run(run, store)
        paths = export_inspect(db, run_id, inspect_dir)
    except (StoreError, ExportError) as err:
        _fail(str(err))
    for path in paths:
        click.echo(str(path))


def _open_run(run: str, store: str | None) -> tuple[Any, str, Path | None]:
    """The store and run id RUN names: a bench output folder (its newest run; the folder is
    returned too) or, with --store, a run id. User mistakes end in `_fail`.

    Raises:
        StoreError: the store cannot be opened.
    """
    from proctor.bench import Store

    folder = Path(run)
    if store is None and folder.is_dir():
        if not (folder / "episodes.sqlite").exists():
            _fail(f"{folder} holds no episodes.sqlite; pass --store")
        db = Store(folder / "episodes.sqlite")
        ids = db.runs()
        if not ids:
            _fail(f"no runs in {folder / 'episodes.sqlite'}")
        return db, ids[0][0], folder
    if store is not None:
        return Store(store), run, None
    _fail(f"{run!r} is not a bench output folder; pass --store URL to name a run id")


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
        _fail(f"--limit must be >= 0, got {limit}")
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
        _fail(str(err))
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
        _fail(f"the review app needs its extra: pip install 'proctor[review]' ({err.name})")
    if hash_password:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
        click.echo(make_hash(password))
        return
    if config is None:
        _fail("--config is required (the loop file whose database to serve)")
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
        _fail(f"review.{first_error(err, 'review')}")
    except (ConfigError, ValueError) as err:
        _fail(str(err).splitlines()[0])
    click.echo(f"proctor review on http://{settings.host}:{settings.port}/ (Ctrl-C stops)")
    serve(settings)


@main.command()
@click.option(
    "--store",
    help="A store URL to check as well (SQLAlchemy URL or SQLite path; passwords are hidden).",
)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    help="A loop file whose database to check as well.",
)
def doctor(store: str | None, config: Path | None) -> None:
    """Say which extras, services and model credentials are present, and what each enables.

    Stores checked: PROCTOR_TEST_POSTGRES, --store and the loop file's database; Chromium at
    /usr/bin/chromium; the kernel's sandbox (Landlock, seccomp) for run_python; credentials by
    name only (values are never shown). Always exits 0.
    """
    import os
    import platform

    from proctor import doctor as doc
    from proctor.bench.store import store_url

    targets: list[tuple[str, str]] = []
    if os.environ.get("PROCTOR_TEST_POSTGRES"):
        targets.append(("PROCTOR_TEST_POSTGRES", os.environ["PROCTOR_TEST_POSTGRES"]))
    if store is not None:
        targets.append(("--store", store_url(store)))
    if config is not None:
        from proctor.live.config import ConfigError, load_loop

        try:
            targets.append(("--config", store_url(load_loop(config).database_target)))
        except ConfigError as err:
            _fail(str(err).splitlines()[0])
    checks = doc.check_extras()
    if targets:
        checks += [doc.check_store(url, source) for source, url in targets]
    else:
        checks.append(
            doc.Check(
                "services",
                "store",
                True,
                "SQLite files (built in); no other store named: set PROCTOR_TEST_POSTGRES or "
                "pass --store URL to check one",
                "the bench's and the live loop's stores",
            )
        )
    checks.append(doc.check_chromium())
    checks.append(doc.check_sandbox())
    checks += doc.check_credentials(os.environ)
    click.echo(f"proctor {__version__} · Python {platform.python_version()} · {sys.executable}")
    click.echo()
    for line in doc.render(checks):
        click.echo(line)


@main.command(name="list")
@click.argument("what", type=click.Choice(["domains", "researchers", "protocols"]))
def list_(what: str) -> None:
    """List registered domains, researchers (backends and dispositions) or protocols."""
    from proctor import registry
    from proctor.domains import get_domain
    from proctor.researchers.strategy import variant_levels, variant_names

    def shown(domain: str, name: str) -> str:
        levels = variant_levels(domain, name)
        return f"{name} (level {','.join(map(str, levels))} only)" if levels is not None else name

    if what == "domains":
        for name in registry.names("domain"):
            d = get_domain(name)
            levels = ",".join(map(str, d.levels))
            click.echo(f"{name:12} {d.evaluability:15} levels {levels:6} {d.description}")
    elif what == "researchers":
        for domain in registry.names("domain"):
            backends = ", ".join(registry.names("backend", domain))
            click.echo(f"{domain}: backends {backends}")
            listed = ", ".join(shown(domain, n) for n in variant_names(domain))
            click.echo(f"{domain}: dispositions {listed}")
            for backend in registry.names("backend", domain):
                own = getattr(registry.lookup("backend", backend, domain), "organisms", None)
                if own is not None:
                    click.echo(f"{domain}: {backend} dispositions {', '.join(own)}")
    else:
        names = registry.names("protocol")
        width = max(map(len, names), default=0)
        for name in names:
            domains = [d for d in registry.names("domain") if registry.applies("protocol", name, d)]
            cls = registry.lookup("protocol", name, domains[0]) if domains else None
            focus = f"{getattr(cls, 'focus', '?')}-focused"
            weights = (
                "  (white-box: reads the researcher's weights)"
                if getattr(cls, "needs_weights", False)
                else ""
            )
            click.echo(f"{name:{width}}  {focus:15} domains: {', '.join(domains)}{weights}")


if __name__ == "__main__":
    main()
