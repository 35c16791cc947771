"""Executors: the one scheduling loop (bounded, streamed, stoppable), the Ray executor giving
the same episodes as the local pool, and the CLI's errors for --executor and --address.

The Ray tests need ``pip install 'proctor[ray]'``; they are skipped without it, unless
``PROCTOR_REQUIRE_SERVICES`` is set (CI), when a missing Ray fails them. They start one
local Ray (2 CPUs) for the module; it contacts nothing outside this machine, so they pass
inside a network namespace holding only ``lo``::

    unshare -n sh -c 'ip link set lo up && .venv/bin/python -m pytest tests/test_ray.py -q'
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner

from proctor.bench import Store
from proctor.bench.executors import Chunk, Executor, RayExecutor, open_executor, stream
from proctor.bench.records import EpisodeRecord
from proctor.bench.spec import SpecError, make_spec
from proctor.cli import main
from proctor.report import run_bench

REQUIRED = bool(os.environ.get("PROCTOR_REQUIRE_SERVICES"))
SWEEP = {
    "name": "ray-small",
    "domains": ["causal", "derivation"],
    "levels": [1],
    "organisms": ["saboteur:misread", "sandbagger"],
    "budgets": [0.25],
    "seeds": {"calibration": 2, "test": 2},
    "knobs": {},
    "protocols": ["direct", "replicate"],
    "adaptive": False,
}


# ---- the scheduling loop, with no workers at all ------------------------------------------


class _Fake(Executor[int]):
    """Chunks "finish" in the order given by `order` (indices into what was submitted)."""

    def __init__(self, slots: int, last_first: bool = False) -> None:
        self.slots = slots
        self.last_first = last_first
        self.submitted: list[Chunk] = []
        self.most = 0
        self.cancelled: list[int] = []

    def submit(self, chunk: Chunk) -> int:
        self.submitted.append(chunk)
        return len(self.submitted) - 1

    def wait_any(self, running: Sequence[int]) -> int:
        self.most = max(self.most, len(running))
        return running[-1] if self.last_first else running[0]

    def result(self, handle: int) -> list[EpisodeRecord]:
        if self.submitted[handle][1] == "boom":
            raise RuntimeError("chunk failed")
        return [cast(EpisodeRecord, handle)]  # a stand-in record

    def cancel(self, running: Sequence[int]) -> None:
        self.cancelled = list(running)


def _chunks(n: int, run: str = "r") -> list[Chunk]:
    return [([], run, 1) for _ in range(n)]


def test_stream_bounds_what_is_in_flight_and_lands_everything() -> None:
    fake = _Fake(slots=3, last_first=True)
    landed: list[Any] = []

    def land(batch: list[Any]) -> bool:
        landed.extend(batch)
        return True

    stream(fake, _chunks(10), land)
    assert sorted(landed) == list(range(10)) and fake.most == 3
    assert landed[:3] == [2, 3, 4]  # landed in the order they finished, not submitted


def test_stream_stops_submitting_but_lands_what_runs() -> None:
    fake = _Fake(slots=2)
    landed: list[Any] = []

    def land(batch: list[Any]) -> bool:
        landed.extend(batch)
        return len(landed) < 3

    stream(fake, _chunks(10), land)
    assert len(fake.submitted) == 4 and landed == [0, 1, 2, 3]


def test_stream_cancels_what_runs_on_error() -> None:
    fake = _Fake(slots=2)
    with pytest.raises(RuntimeError, match="chunk failed"):
        stream(fake, [([], "boom", 1), *_chunks(5)], lambda batch: True)
    assert fake.cancelled == [1]


def test_unknown_executor_and_stray_address() -> None:
    with pytest.raises(SpecError, match="executor must be one of local, ray"):
        open_executor("dask")
    with pytest.raises(SpecError, match="address is for the ray executor only"):
        open_executor("local", 2, address="127.0.0.1:6379")
    spec = make_spec(SWEEP)
    with pytest.raises(SpecError, match="executor"):
        run_bench(spec, Path("/nonexistent/never-written"), executor="spark")


# ---- the CLI -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--executor", "dask"], "--executor must be local or ray, got 'dask'"),
        (["--address", "127.0.0.1:6379"], "--address is for --executor ray only"),
        (["--executor", "local", "--address", "auto"], "--address is for --executor ray only"),
    ],
)
def test_cli_executor_errors_are_one_line(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"error: {needle}"], result.output


def test_cli_help_documents_the_executors() -> None:
    out = CliRunner().invoke(main, ["bench", "--help"]).output
    assert "--executor [local|ray]" in out and "--address" in out


def test_missing_ray_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(SpecError, match=r"install `proctor\[ray\]`"):
        run_bench(make_spec(SWEEP), Path("/nonexistent/never-written"), executor="ray")
    result = CliRunner().invoke(main, ["bench", "--executor", "ray", "--out", "/nonexistent/x"])
    assert result.exit_code == 2
    assert result.output.strip() == ("error: the ray executor needs Ray: install `proctor[ray]`")


# ---- Ray ---------------------------------------------------------------------------------


def _need_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        if REQUIRED:
            pytest.fail("ray is not installed (pip install 'proctor[ray]'); required here")
        pytest.skip("ray is not installed (pip install 'proctor[ray]')")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray (2 CPUs) for the module."""
    _need_ray()
    from proctor.bench.executors import shutdown_local_ray, start_local_ray

    start_local_ray(2)
    try:
        yield
    finally:
        shutdown_local_ray()


def test_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    """Ray itself retries an address nothing answers on for minutes; we say so at once."""
    _need_ray()
    args = ["--domains", "causal", "--levels", "1", "--protocols", "direct", "--no-adaptive"]
    args += ["--executor", "ray", "--address", "127.0.0.1:1", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: cannot reach the Ray cluster at '127.0.0.1:1'"), lines


def _records(out: Path, run_id: str) -> dict[str, str]:
    return {e.key: e.model_dump_json() for e in Store(out / "episodes.sqlite").episodes(run_id)}


def test_ray_gives_the_same_episodes_as_the_local_pool(
    local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    monkeypatch.setattr("proctor.bench.CHUNK", 4)  # 12 chunks: more than the 4 slots
    in_flight: list[int] = []
    wait_any = RayExecutor.wait_any

    def counted_wait(self: RayExecutor, running: Sequence[Any]) -> Any:
        in_flight.append(len(running))
        return wait_any(self, running)

    monkeypatch.setattr(RayExecutor, "wait_any", counted_wait)
    spec = make_spec(SWEEP)
    seen: list[tuple[int, int]] = []
    local = run_bench(spec, tmp_path / "local", workers=2)
    on_ray = run_bench(
        spec,
        tmp_path / "ray",
        workers=2,
        executor="ray",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert local.n_episodes == on_ray.n_episodes == on_ray.n_new == 48
    assert on_ray.n_failed == 0
    mine = _records(tmp_path / "local", local.run_id)
    theirs = _records(tmp_path / "ray", on_ray.run_id)
    assert mine.keys() == theirs.keys() and len(mine) == 48
    assert all(mine[key] == theirs[key] for key in mine)
    assert (tmp_path / "local" / "summary.json").read_text() == (
        tmp_path / "ray" / "summary.json"
    ).read_text()
    # streamed: progress after every chunk; bounded: never more than 2 chunks per CPU
    assert [done for done, _ in seen] == list(range(0, 49, 4))
    assert len(in_flight) == 12 and max(in_flight) == 4
    assert ray.is_initialized()  # a Ray the sweep did not start is left running


def _worker_setup(restore: dict[str, str | None]) -> tuple[Any, Any, set[int]]:
    """In a Ray worker: the chunk set-up, then what it left behind."""
    from threadpoolctl import threadpool_info

    from proctor.bench.executors import _ray_chunk

    assert _ray_chunk(([], "none", 1), restore) == []
    threads = {lib["num_threads"] for lib in threadpool_info()}
    return os.environ.get("http_proxy"), os.environ.get("no_proxy"), threads


def test_ray_tasks_get_the_pools_setup_and_this_process_environment(local_ray: None) -> None:
    """Ray's processes keep the environment they started in (with http_proxy pointed at a
    closed loopback port, to stop the dashboard's cloud probes); each task puts this
    process's own values back first, and has one BLAS/OpenMP thread, as in the local pool."""
    import ray
    import ray.cloudpickle

    from proctor.bench import executors

    assert executors._started is not None
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        probe = ray.remote(num_cpus=1)(_worker_setup)
        results = ray.get([probe.remote(executors._started) for _ in range(4)])
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    for http_proxy, no_proxy, threads in results:
        assert http_proxy == executors._started["http_proxy"] != "http://127.0.0.1:9"
        assert no_proxy == executors._started["no_proxy"]
        assert threads == {1}


def test_cli_starts_and_stops_its_own_ray(tmp_path: Path) -> None:
    """`proctor bench --executor ray` in a fresh process: it starts a local Ray, runs the sweep
    on it and shuts it down (the process exits)."""
    _need_ray()
    args = ["--domains", "causal", "--levels", "1", "--dispositions", "sandbagger"]
    args += ["--protocols", "direct", "--seeds", "1", "--calibration-seeds", "1"]
    args += ["--no-adaptive", "--executor", "ray", "--workers", "2", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-c", "from proctor.cli import main; main()", "bench", *args],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"\b([1-9]\d*) episodes \(\1 new, 0 failed\)", done.stdout), done.stdout
    assert (tmp_path / "report.html").stat().st_size > 0
