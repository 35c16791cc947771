"""Throughput of the proctor bench: the quick sweep's episodes per second, the cost of one
episode per domain and level, and the store's write rate.

Three measurements:

1. **Sweep**: ``run_bench(quick_spec(), out=<fresh temp dir>, workers=w)`` for each worker
   count (wall clock). The whole call is timed; then ``report_run`` is timed again on the
   finished store (into a second temp dir), and the episode phase is taken as total minus that.
2. **Per-episode cost**: for each domain and level, single-process ``run_episode`` on
   ``--level-configs`` configs (the quick spec's researchers for that domain, its protocols
   and budgets, on test seeds, all researchers of a seed back to back as in the sweep). The
   same configs are then replayed step by step as ``proctor.bench.episode.run_episode`` does
   them (sample; ``make_researcher(...).investigate``; each protocol's review through
   ``proctor.protocols.review.review_report`` at every budget (its own budgets where the
   sweep gives them, its fixed budget if it declares one),
   or once at budget 0 if it is not ``budgeted``, with its helpers and re-runs; the domain's
   ``grade`` and ``report_features``; then ``count_violations`` on the researcher's log and
   the workspace, copied into the grade, timed as its own phase), with the world's
   ``execute`` and the lab's ``_call`` wrapped on the instance to split the cost between own
   computation and the lab.
   The per-process caches of the domains (causal and forecast worlds and truths per (level,
   seed), optimize's fitted pipelines and test accuracies) are emptied before each pass, so
   both passes see the cache hits a sweep sees. Both passes run under
   ``threadpool_limits(1)``, as ``run_bench`` runs every episode (one BLAS/OpenMP thread per
   worker). These are wall-clock times (``time.perf_counter``), so run this part on an
   otherwise idle machine.
3. **Store write rate**: ``--store-rate N`` real episode records (from ``run_episode`` on a
   few configs of each domain, copied under fresh keys) inserted through
   ``proctor.bench.store.Store.write`` into a fresh SQLite file in batches of 24, as
   ``run_bench`` writes them; reported as rows per second (wall clock, JSON serialisation
   included).

Nothing under ``src/`` is changed. A tiny untimed sweep runs first so that imports are not
charged to the first timed run. Prints Markdown tables to stdout; ``--json PATH`` also writes
the raw figures.

    .venv/bin/python benchmarks/bench_throughput.py --repeat 2 --json /tmp/bt/final3.json
    .venv/bin/python benchmarks/bench_throughput.py --skip-sweep --domains optimize --levels 3
    .venv/bin/python benchmarks/bench_throughput.py --seeds-test 5 --seeds-calibration 10
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from proctor import registry
from proctor.bench import CHUNK, EpisodeRecord, Store, SweepSpec, quick_spec
from proctor.bench.episode import RESEARCHER, _rerun, run_episode
from proctor.bench.spec import EpisodeConfig
from proctor.bench.training import trained_for
from proctor.bench.violations import count_violations
from proctor.core import Task
from proctor.domains import get_domain
from proctor.lab import Lab
from proctor.protocols import get_protocol, review_budgets
from proctor.protocols.features import report_features
from proctor.protocols.review import review_report
from proctor.report import report_run, run_bench
from proctor.researchers import make_researcher

# Per-process caches of the domains (module, attribute): emptied before each timed pass.
_CACHES = (
    ("proctor.domains.causal", "_hidden_model"),
    ("proctor.domains.forecast", "_hidden"),
    ("proctor.domains.optimize", "_FITTED"),
    ("proctor.domains.optimize", "_TEST_ACCURACY"),
)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _name_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return values


def _spec(
    seeds_test: int | None,
    seeds_calibration: int | None,
    levels: list[int] | None = None,
    domains: list[str] | None = None,
) -> SweepSpec:
    """The quick spec with optionally fewer seeds, other levels or other domains (everything
    else, e.g. the organisms' cap on calibration seeds, as the quick spec has it)."""
    base = quick_spec()
    data = base.model_dump()
    if seeds_calibration is not None:
        data["seeds"]["calibration"] = seeds_calibration
    if seeds_test is not None:
        data["seeds"]["test"] = seeds_test
    if levels is not None:
        data["levels"] = levels
    if domains is not None:
        data["domains"] = domains
    return SweepSpec.model_validate(data).check()


def _clear_caches() -> None:
    for module, name in _CACHES:
        cache = getattr(importlib.import_module(module), name, None)
        if hasattr(cache, "cache_clear"):
            cache.cache_clear()
        elif hasattr(cache, "clear"):
            cache.clear()


# --------------------------------------------------------------------------- sweep


def _cpu_seconds() -> float:
    """User + system CPU of this process and its reaped children (the pool's workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bench_sweep(spec: SweepSpec, workers: int) -> dict[str, float]:
    """One run_bench on a fresh store, plus a separate timing of report_run on it."""
    load_before = os.getloadavg()[0]
    _clear_caches()  # each run starts as cold as a fresh `proctor bench` process
    with tempfile.TemporaryDirectory(prefix="proctor-bench-") as tmp:
        out = Path(tmp) / "run"
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        result = run_bench(spec, out=out, workers=workers)
        total = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
        t0 = time.perf_counter()
        report_run(Store(out / "episodes.sqlite"), result.run_id, Path(tmp) / "report")
        report = time.perf_counter() - t0
    episodes = result.n_new
    phase = max(total - report, 1e-9)
    return {
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "workers": workers,
        "episodes": episodes,
        "failed": result.n_failed,
        "total_s": total,
        "report_s": report,
        "episode_s": phase,
        "eps_episode_phase": episodes / phase,
        "eps_end_to_end": episodes / total,
        "cpu_s": cpu,
    }


# --------------------------------------------------------------------------- per level


class _Timer:
    """Accumulates seconds spent inside a wrapped callable."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        return timed


def _phases(cfg: EpisodeConfig) -> dict[str, float]:
    """Replay run_episode's steps on `cfg`, timing each (mirrors proctor.bench.episode)."""
    t = time.perf_counter
    out: dict[str, float] = {}
    t0 = t()
    domain = get_domain(cfg.domain)
    sampled = domain.sample(cfg.level, cfg.seed, capability_test_rate=cfg.capability_test_rate)
    brief = sampled.brief
    lab_timer = _Timer()
    world = sampled.world
    world.execute = lab_timer.wrap(world.execute)  # type: ignore[method-assign]
    lab = Lab(world, cfg.seed)
    call_timer = _Timer()  # the whole lab call: RNG stream, argument checks, execute, logging
    lab._call = call_timer.wrap(lab._call)  # type: ignore[method-assign]
    budget = brief.budget * cfg.researcher.budget
    out["setup"] = t() - t0

    t0 = t()
    researcher = make_researcher(cfg.researcher, cfg.domain)
    report = researcher.investigate(Task(brief, lab.client(RESEARCHER, budget)))
    out["researcher"] = t() - t0
    out["researcher_lab"] = lab_timer.seconds
    out["researcher_labcall"] = call_timer.seconds

    calls = tuple(lab.calls_by(RESEARCHER))
    spend = lab.spent(RESEARCHER)
    lab_before, call_before = lab_timer.seconds, call_timer.seconds
    out["protocols"] = 0.0
    for name in cfg.protocols:
        t0 = t()
        protocol = get_protocol(name, cfg.domain)
        for frac in review_budgets(protocol, cfg.protocol_budgets.get(name, cfg.budgets)):
            caller = f"{name}@{frac:g}"
            # a raising protocol is a failed verdict in run_episode; timed all the same
            review_report(
                report,
                protocol,
                frac,
                lab=lab,
                brief=brief,
                researcher_log=calls,
                researcher_spend=spend,
                caller=caller,
                seed=cfg.seed,
                rerun=_rerun(cfg, cfg.researcher, brief, caller),
                train=trained_for(protocol, cfg.domain, cfg.level),
            )
        dt = t() - t0
        out[f"protocol:{name}"] = dt
        out["protocols"] += dt
    out["protocols_lab"] = lab_timer.seconds - lab_before
    out["protocols_labcall"] = call_timer.seconds - call_before

    t0 = t()
    grade = domain.grade(report, sampled.truth)
    report_features(report, calls, budget)
    out["grade"] = t() - t0

    t0 = t()
    violations = count_violations(report, calls, sampled.world.workspace)
    grade.model_copy(update={"violations": violations})
    out["violations"] = t() - t0
    return out


def _level_configs(domain: str, level: int, n_configs: int) -> list[EpisodeConfig]:
    """The first `n_configs` test episodes of the quick spec at one domain and level."""
    per_seed = len(quick_spec().researchers(0, domain, level))
    n_seeds = max(1, -(-n_configs // per_seed))
    spec = _spec(seeds_test=n_seeds, seeds_calibration=0, levels=[level], domains=[domain])
    return list(spec.episodes())[:n_configs]


def bench_level(domain: str, level: int, n_configs: int) -> dict[str, Any]:
    """Wall ms per episode of run_episode at one domain and level, and its split by phase."""
    configs = _level_configs(domain, level, n_configs)
    sums: dict[str, float] = {}
    with threadpool_limits(1):  # as run_bench runs every episode
        run_episode(configs[0], "warm-up")  # imports outside the timing
        _phases(configs[0])

        _clear_caches()
        t0 = time.perf_counter()
        failed = sum(run_episode(cfg, "bench-throughput").error is not None for cfg in configs)
        total = time.perf_counter() - t0

        _clear_caches()
        for cfg in configs:
            for k, v in _phases(cfg).items():
                sums[k] = sums.get(k, 0.0) + v
    n = len(configs)
    ms = {k: 1000 * v / n for k, v in sums.items()}
    ms_total = 1000 * total / n
    accounted = sum(ms[k] for k in ("setup", "researcher", "protocols", "grade", "violations"))
    return {
        "domain": domain,
        "level": level,
        "configs": n,
        "seeds": len({cfg.seed for cfg in configs}),
        "failed": failed,
        "ms_per_episode": ms_total,
        "ms": ms,
        "ms_other": ms_total - accounted,
    }


# --------------------------------------------------------------------------- store


def bench_store(domains: list[str], rows: int, per_domain: int = 12) -> dict[str, Any]:
    """Rows/s of Store.write for `rows` real records (copied under fresh keys), batches of 24."""
    spec = _spec(seeds_test=2, seeds_calibration=0, levels=[1], domains=domains)
    by_domain: dict[str, list[EpisodeConfig]] = {}
    for cfg in spec.episodes():
        by_domain.setdefault(cfg.domain, []).append(cfg)
    samples = [
        run_episode(cfg, "store-rate") for cfgs in by_domain.values() for cfg in cfgs[:per_domain]
    ]
    records: list[EpisodeRecord] = [
        rec.model_copy(update={"key": f"store-rate-{i:08d}"})
        for i, rec in zip(range(rows), itertools.cycle(samples), strict=False)
    ]
    batches = [records[i : i + CHUNK] for i in range(0, len(records), CHUNK)]
    with tempfile.TemporaryDirectory(prefix="proctor-store-") as tmp:
        store = Store(Path(tmp) / "episodes.sqlite")
        store.write(
            [samples[0].model_copy(update={"key": "store-rate-warm-up"})]
        )  # table creation and first connection outside the timing
        t0 = time.perf_counter()
        written = sum(store.write(batch) for batch in batches)
        seconds = time.perf_counter() - t0
        size = (Path(tmp) / "episodes.sqlite").stat().st_size
    t0 = time.perf_counter()
    json_bytes = sum(len(r.model_dump_json()) for r in records)
    json_s = time.perf_counter() - t0
    return {
        "rows": written,
        "batch": CHUNK,
        "batches": len(batches),
        "seconds": seconds,
        "rows_per_s": written / seconds,
        "ms_per_batch": 1000 * seconds / len(batches),
        "json_s": json_s,
        "mean_record_bytes": json_bytes / max(written, 1),
        "db_bytes": size,
        "distinct_source_records": len(samples),
    }


# --------------------------------------------------------------------------- output


def _sweep_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| workers | episodes | total s (all runs) | episode phase s | report phase s "
        "| episodes/s (episode phase) | episodes/s (end to end) | CPU s (all processes) "
        "| 1-min load before/after |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        all_runs = ", ".join(f"{t:.1f}" for t in r["all_total_s"])
        lines.append(
            f"| {r['workers']} | {r['episodes']} | {r['total_s']:.1f} ({all_runs}) "
            f"| {r['episode_s']:.1f} "
            f"| {r['report_s']:.1f} | {r['eps_episode_phase']:.1f} | {r['eps_end_to_end']:.1f} "
            f"| {r['cpu_s']:.1f} | {r['load_before']:.1f} / {r['load_after']:.1f} |"
        )
    return "\n".join(lines)


def _level_table(rows: list[dict[str, Any]]) -> str:
    protocols = sorted({k.split(":", 1)[1] for r in rows for k in r["ms"] if ":" in k})
    per_protocol = " | ".join(f"{p} ms" for p in protocols)
    head = (
        "| domain | level | configs | run_episode ms | sample ms "
        "| researcher ms (lab call / world) | protocols ms (lab call / world) "
        f"| {per_protocol} | grade ms | violations ms | other ms |"
    )
    lines = [head, "| :--- | " + " | ".join(["---:"] * (9 + len(protocols))) + " |"]
    for r in rows:
        m = r["ms"]
        cells = [
            r["domain"],
            str(r["level"]),
            str(r["configs"]),
            f"{r['ms_per_episode']:.1f}",
            f"{m['setup']:.2f}",
            f"{m['researcher']:.1f} ({m['researcher_labcall']:.1f} / {m['researcher_lab']:.1f})",
            f"{m['protocols']:.1f} ({m['protocols_labcall']:.1f} / {m['protocols_lab']:.1f})",
            *(f"{m.get(f'protocol:{p}', 0.0):.1f}" for p in protocols),
            f"{m['grade']:.2f}",
            f"{m['violations']:.2f}",
            f"{r['ms_other']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _best_row(runs: list[dict[str, float]]) -> dict[str, Any]:
    """The fastest of the repeats (other processes only ever slow a run down), with the
    wall times of all of them."""
    row: dict[str, Any] = dict(min(runs, key=lambda r: r["total_s"]))
    row["all_total_s"] = [r["total_s"] for r in runs]
    return row


def main(argv: list[str] | None = None) -> int:
    q = quick_spec()
    parser = argparse.ArgumentParser(
        description="Throughput of the proctor bench: (1) episodes per second of the quick "
        f"sweep ({', '.join(q.domains)}, levels {', '.join(map(str, q.levels))}) with 1 vs 2 "
        "workers, wall clock; (2) the single-process cost (wall ms) of one episode for each domain "
        "and level, split into task sampling, researcher, protocols, grade and violation "
        "count; (3) the "
        "store's write rate (rows/s of Store.write in batches of 24). Prints Markdown tables.",
        epilog="Example: .venv/bin/python benchmarks/bench_throughput.py --repeat 2 "
        "--json /tmp/bt/final3.json",
    )
    sweep = parser.add_argument_group("sweep (1)")
    sweep.add_argument(
        "--seeds-test",
        type=int,
        default=None,
        help=f"test seeds per domain and level (default: the quick spec's, {q.seeds.test})",
    )
    sweep.add_argument(
        "--seeds-calibration",
        type=int,
        default=None,
        help="calibration seeds per domain and level (default: the quick spec's, "
        f"{q.seeds.calibration}; organisms run on the first {q.seeds.organism_calibration})",
    )
    sweep.add_argument(
        "--workers", type=_int_list, default=[1, 2], help="worker counts (default: 1,2)"
    )
    sweep.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="sweep runs per worker count; the fastest is shown (default: 1)",
    )
    sweep.add_argument("--skip-sweep", action="store_true", help="do not run the sweep")
    cost = parser.add_argument_group("per-episode cost (2)")
    cost.add_argument(
        "--domains",
        type=_name_list,
        default=list(q.domains),
        help=f"domains to cost, comma-separated (default: the quick spec's, {','.join(q.domains)})",
    )
    cost.add_argument(
        "--levels",
        type=_int_list,
        default=list(q.levels),
        help=f"levels to cost (default: the quick spec's, {','.join(map(str, q.levels))})",
    )
    cost.add_argument(
        "--level-configs",
        type=int,
        default=50,
        help="episodes per domain and level (default: 50)",
    )
    cost.add_argument("--skip-levels", action="store_true", help="do not cost episodes")
    store = parser.add_argument_group("store (3)")
    store.add_argument(
        "--store-rate",
        type=int,
        default=2400,
        metavar="N",
        help="rows to insert for the write rate (default: 2400; 0 skips it)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write raw figures here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.level_configs < 1:
        parser.error("--level-configs must be >= 1")
    if args.store_rate < 0:
        parser.error("--store-rate must be >= 0")
    for name in ("seeds_test", "seeds_calibration"):
        value = getattr(args, name)
        if value is not None and value < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0")
    known = registry.names("domain")
    for d in args.domains:
        if d not in known:
            parser.error(f"--domains: unknown domain {d!r}; known: {', '.join(known)}")
        missing = [lv for lv in args.levels if lv not in get_domain(d).levels]
        if missing:
            parser.error(f"--levels: {d} has levels {list(get_domain(d).levels)}, not {missing}")

    machine = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    print(
        f"machine: {machine['cpu_count']} CPUs, Python {machine['python']}, "
        f"{machine['platform']}, {machine['date']}, 1-min load {os.getloadavg()[0]:.2f} "
        "(other processes compete for the CPUs when it is high)\n"
    )
    result: dict[str, Any] = {"machine": machine, "argv": sys.argv[1:]}

    if not args.skip_sweep:
        spec = _spec(args.seeds_test, args.seeds_calibration)
        print(
            f"## Sweep: {spec.name}, domains {spec.domains}, levels {spec.levels}, seeds "
            f"calibration {spec.seeds.calibration} (organisms on "
            f"{spec.seeds.organism_calibration}) / test {spec.seeds.test}, "
            f"{sum(1 for _ in spec.episodes())} episodes\n",
            flush=True,
        )
        # warm-up: imports, registry and report templates, so the first timed run pays none
        with tempfile.TemporaryDirectory(prefix="proctor-warmup-") as tmp:
            run_bench(_spec(1, 1), out=Path(tmp), workers=1)
        rows, raw = [], {}
        for w in args.workers:
            runs = [bench_sweep(spec, w) for _ in range(args.repeat)]
            raw[w] = runs
            rows.append(_best_row(runs))
        print(_sweep_table(rows))
        by_w = {r["workers"]: r for r in rows}
        speedups = {}
        if 1 in by_w:
            for w, r in sorted(by_w.items()):
                if w != 1:
                    speedups[w] = {
                        "episode_phase": r["eps_episode_phase"] / by_w[1]["eps_episode_phase"],
                        "end_to_end": r["eps_end_to_end"] / by_w[1]["eps_end_to_end"],
                    }
                    print(
                        f"\nspeed-up 1 -> {w} workers: "
                        f"{speedups[w]['episode_phase']:.2f}x episode phase, "
                        f"{speedups[w]['end_to_end']:.2f}x end to end"
                    )
        print()
        result["sweep"] = {"rows": rows, "runs": raw, "speedup": speedups}

    if not args.skip_levels:
        print(
            f"## Per-episode cost, 1 process, {args.level_configs} test episodes per domain "
            "and level, one BLAS/OpenMP thread (wall ms per episode; lab call = whole Lab._call "
            "incl. RNG stream, checks and logging; world = the world's execute: causal and "
            "forecast simulation and serialisation, optimize fit (cached per process) and "
            "predict, derivation's steps and checks; other = run_episode minus the replayed "
            "phases, i.e. building the records)\n",
            flush=True,
        )
        levels = [
            bench_level(d, level, args.level_configs) for d in args.domains for level in args.levels
        ]
        print(_level_table(levels))
        print()
        result["levels"] = levels

    if args.store_rate:
        print(f"## Store write rate: {args.store_rate} rows, batches of {CHUNK}\n", flush=True)
        rate = bench_store(args.domains, args.store_rate)
        print(
            f"{rate['rows']} rows in {rate['seconds']:.2f} s: **{rate['rows_per_s']:.0f} rows/s** "
            f"({rate['ms_per_batch']:.1f} ms per batch of {rate['batch']}; "
            f"{rate['mean_record_bytes'] / 1024:.1f} KiB of JSON per record, whose "
            f"serialisation alone takes {rate['json_s']:.2f} s of it)\n"
        )
        result["store"] = rate

    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
