"""``proctor bench``: run a sweep (its spec merged by :func:`proctor.bench.spec.merge_spec`
from a base and the flags given), or finish a stopped one (``--resume``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from proctor.cli.app import csv_list, fail, main, numbers
from proctor.cli.runs import open_run

F = TypeVar("F", bound=Callable[..., Any])

BENCH_OPTIONS = (
    click.option(
        "--quick",
        is_flag=True,
        help="The quick sweep (all four domains at levels 1-2, every protocol, no adaptive "
        "attacker; what `make bench` runs; under 5 minutes on 2 cores).",
    ),
    click.option(
        "--config",
        "config",
        type=click.Path(path_type=Path),
        help="Sweep file (TOML); flags given as well override its fields.",
    ),
    click.option("--domains", help="Comma-separated domains, e.g. causal."),
    click.option("--levels", help="Comma-separated levels, e.g. 1,2."),
    click.option(
        "--dispositions",
        help="Comma-separated organisms, e.g. saboteur:misread,sandbagger "
        "(the honest population always runs).",
    ),
    click.option("--protocols", help="Comma-separated protocols, e.g. direct,replicate."),
    click.option(
        "--budgets", help="Comma-separated protocol budgets as fractions of the researcher's spend."
    ),
    click.option(
        "--adaptive/--no-adaptive",
        default=None,
        help="Add (or leave out) the adaptive attacker saboteur:adaptive, which searches its "
        "attacks against the frozen protocols (costly: ~1-3 s per episode) [default: on in the "
        "full sweep, off in --quick and with --researcher-model, which it cannot run with].",
    ),
    click.option("--seeds", type=int, help="Test seeds per level (calibration seeds stay as set)."),
    click.option("--calibration-seeds", type=int, help="Calibration seeds per level."),
    click.option(
        "--researcher-model",
        help="Model of every researcher (honest and organisms), by Inspect AI name: "
        "openai/gpt-4o, anthropic/..., vllm/..., ollama/..., openai-api/<provider>/<model>, or "
        "mockllm/model (offline: plays the scripted researchers through the tool-calling path). "
        "Needs `pip install proctor[llm]`.",
    ),
    click.option(
        "--judge-model",
        help="Model of the reading judges: direct, critique, consultancy and debate (whose "
        "debaters use it too unless the sweep file sets models.debater).",
    ),
    click.option("--monitor-model", help="Model of the trace monitor."),
    click.option(
        "--concurrency",
        type=int,
        default=8,
        show_default=True,
        help="Model-backed episodes run at once in each worker.",
    ),
    click.option(
        "--max-tokens",
        type=int,
        help="Stop cleanly once the sweep's model calls used this many tokens (rerun to go on).",
    ),
    click.option(
        "--max-cost",
        type=float,
        help="Stop cleanly once the sweep's model calls cost this many dollars (rerun to go on).",
    ),
    click.option(
        "--workers",
        type=int,
        default=2,
        show_default=True,
        help="Local processes (with --executor ray and no --address: the CPUs of the Ray "
        "started on this machine).",
    ),
    click.option(
        "--executor",
        default="local",
        show_default=True,
        metavar="[local|ray]",
        help="Where episodes run: local (this machine's processes) or ray (Ray tasks, on a Ray "
        "started on this machine for the sweep, or on the cluster at --address; needs "
        "`pip install 'proctor[ray]'`). Both give the same episodes.",
    ),
    click.option(
        "--address",
        help="Ray cluster to run on, as ray.init takes it: HOST:PORT of the head, "
        "ray://HOST:10001 (Ray Client) or auto; only with --executor ray (its nodes need "
        "proctor installed) [default: a Ray on this machine only].",
    ),
    click.option(
        "--plugin",
        multiple=True,
        metavar="MODULE_OR_FILE",
        help="Load a plug-in (module or .py file) here and in every worker; repeatable.",
    ),
    click.option("--store", help="SQLAlchemy URL or SQLite path [default: OUT/episodes.sqlite]."),
    click.option(
        "--resume",
        "resume",
        metavar="RUN",
        help="Finish a stopped or killed sweep: RUN is its output folder (or a run id in "
        "--store); its stored sweep is run again, skipping every episode already stored. Takes "
        "no sweep flags.",
    ),
    click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=Path("runs/bench"),
        show_default=True,
        help="Output folder [with --resume RUN: the folder RUN].",
    ),
)
"""``proctor bench``'s options, in the order ``--help`` lists them."""


def _options(f: F) -> F:
    """`f` with :data:`BENCH_OPTIONS`, as if each were a decorator above it in that order."""
    for option in reversed(BENCH_OPTIONS):
        f = option(f)
    return f


@main.command()
@_options
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
    from proctor.registry import UnknownComponent

    fields = _sweep_fields(domains, levels, dispositions, protocols, budgets, adaptive, plugin)
    for flag, value in (
        ("--seeds", seeds),
        ("--calibration-seeds", calibration_seeds),
        ("--workers", workers),
    ):
        if value is not None and value < (1 if flag == "--workers" else 0):
            fail(f"{flag} must be {'>= 1' if flag == '--workers' else '>= 0'}, got {value}")
    _check_executor(executor, address)
    if resume is not None:
        spec, store, out = _resumed(ctx, resume, store, out)
    else:
        models = {"researcher": researcher_model, "judge": judge_model, "monitor": monitor_model}
        spec = _merged(quick, config, fields, seeds, calibration_seeds, models)
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
        fail(str(err))
    _print_result(result, spec, out, started)


def _sweep_fields(
    domains: str | None,
    levels: str | None,
    dispositions: str | None,
    protocols: str | None,
    budgets: str | None,
    adaptive: bool | None,
    plugin: tuple[str, ...],
) -> dict[str, Any]:
    """The sweep fields the flags give (None: not given), as :func:`merge_spec` takes them; a
    malformed list ends in :func:`fail`."""
    return {
        "domains": csv_list(domains),
        "levels": numbers(levels, int, "--levels"),
        "organisms": csv_list(dispositions),
        "protocols": csv_list(protocols),
        "budgets": numbers(budgets, float, "--budgets"),
        "adaptive": adaptive,
        "plugins": list(plugin) or None,
    }


def _merged(
    quick: bool,
    config: Path | None,
    fields: dict[str, Any],
    seeds: int | None,
    calibration_seeds: int | None,
    models: dict[str, str | None],
) -> Any:
    """The sweep :func:`proctor.bench.spec.merge_spec` makes of the flags; a spec it refuses
    ends in :func:`fail`."""
    from proctor.bench import SpecError
    from proctor.bench.spec import merge_spec
    from proctor.registry import UnknownComponent

    try:
        return merge_spec(
            quick=quick,
            config=config,
            **fields,
            seeds=seeds,
            calibration_seeds=calibration_seeds,
            models=models,
        )
    except (SpecError, UnknownComponent) as err:
        fail(str(err))


def _print_result(result: Any, spec: Any, out: Path, started: float) -> None:
    """The summary tables, the time since `started` and where the run and its report are."""
    from proctor.report.console import print_summary

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
        fail(f"--executor must be local or ray, got {executor!r}")
    if address is not None and executor != "ray":
        fail("--address is for --executor ray only")
    if executor == "ray":
        from proctor.bench import SpecError
        from proctor.bench.executors import require_ray

        try:
            require_ray()
        except SpecError as err:
            fail(str(err))


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
        fail(f"--resume runs the stored sweep as it was; drop {', '.join(given)}")
    try:
        db, run_id, folder = open_run(resume, store)
    except StoreError as err:
        fail(str(err))
    spec = db.spec(run_id)
    if spec is None:
        fail(f"no run {run_id!r} in the store")
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
