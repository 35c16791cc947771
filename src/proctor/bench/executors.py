"""Where a sweep's episodes run: the executors behind ``proctor bench --executor``.

A sweep is cut into chunks of episodes (``run_bench`` does that); an executor runs chunks
somewhere and hands back each chunk's records. :func:`stream` is the one copy of the
scheduling for every backend: it keeps at most ``executor.slots`` chunks in flight (so memory
stays flat however long the sweep), hands each finished batch to a callback as it lands (the
bench writes it to the store there), and stops submitting once the callback says so (the
``--max-tokens``/``--max-cost`` limits); chunks already running then finish and land too.

Backends:

- ``local``: this process (``workers=1``) or a process pool of ``workers`` processes, two
  chunks per worker in flight, each worker with one BLAS/OpenMP thread
  (:func:`_one_thread_each`).
- ``ray``: each chunk is a Ray task (one CPU), results streamed with
  ``ray.wait(..., num_returns=1)``, two chunks per CPU of the cluster in flight, each task
  with the same one-thread set-up. With no address a Ray is started on this machine with
  ``workers`` CPUs and shut down at the end; with an address (``HOST:PORT`` of a head, ``auto``,
  or ``ray://HOST:10001``) the sweep runs on that cluster, whose nodes need proctor (and any
  plugin, found through its entry point) installed. A Ray already initialised in this process
  is used as it is and left running. Ray's workers' logs stay in its session folder
  (``/tmp/ray/session_*/logs``).

The sweep's plug-ins (``--plugin``, :mod:`proctor.plugins`) are loaded in every worker before
it runs an episode: by the pool's initializer, and by each Ray task (once per worker process;
later tasks find them loaded), so the two executors give the same episodes whether or not the
pool forks. Components registered at run time by other means (a ``registry.register`` call in
the driver) exist in forked pool workers only: make them a plug-in.

**A local Ray contacts nothing outside this machine.** Measured with
``strace -f -e trace=connect`` on Ray 2.60 (``ray.init`` as in :func:`start_local_ray`, usage
stats off, no dashboard), a plain local Ray still reaches out twice:

1. *Its own address*: ``ray.init`` turns the node address ``127.0.0.1`` into "a remotely
   reachable IP" (``services.resolve_ip_for_localhost``), found by a UDP ``connect`` to
   8.8.8.8:53 (``node_ip_address_from_perspective``), and the GCS, raylet and workers then
   ran on the machine's network interface, not on loopback. So ``_node_ip_address`` alone
   does not keep Ray on loopback. What does: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which makes
   ``services.get_node_ip_address`` answer the loopback address without probing (it is read
   when ray is imported, so for a ray already imported the same switch,
   ``ray._private.ray_constants.ENABLE_RAY_CLUSTER``, is turned off while Ray starts).
2. *The cloud metadata service*: even with ``include_dashboard=False`` Ray starts a dashboard
   process with one module, ``UsageStatsHead``, which on start-up guesses the cloud provider
   with HTTP requests to 169.254.169.254 (Azure, AWS) and to ``metadata.google.internal`` (a
   DNS look-up first), whether or not usage stats are enabled
   (``usage_lib.get_cluster_config_to_report``); no Ray option or variable turns it off. Those
   requests go through ``requests``, which honours ``http_proxy``: while Ray starts,
   ``http_proxy`` points at a closed loopback port (``127.0.0.1:9``) and ``no_proxy`` is
   ``127.0.0.1,localhost``, so each probe fails at once on loopback, with no DNS look-up.
   Ray's own gRPC ignores ``http_proxy`` (``RAY_grpc_enable_http_proxy`` is off by default).
   Ray's processes keep the environment they were started with, so each task first puts this
   process's own ``http_proxy``/``no_proxy`` back (model clients in episodes may need them).

With these (and ``RAY_USAGE_STATS_ENABLED=0``, and no dashboard, which would add an HTTP
server and more modules), ``strace`` shows connections to 127.0.0.1 (and its IPv4-mapped IPv6
form) and unix sockets only, every Ray process listens on loopback only (``ss -ltnp``), and the
Ray tests pass inside a network namespace holding only ``lo`` (``unshare -n``). This process's
environment is changed only while Ray starts, and put back after. Both work-arounds rest on
Ray's code as it is in 2.60: after upgrading Ray, check again with
``strace -f -e trace=connect -o /tmp/ray.strace .venv/bin/python -m pytest tests/test_ray.py``.
A cluster given by address is left as its owner set it up; before connecting, a plain
``HOST:PORT`` is tried once (Ray would retry an unreachable head for minutes).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, Generic, TypeVar

from proctor.bench.episode import run_episode
from proctor.bench.records import EpisodeRecord
from proctor.bench.spec import EpisodeConfig, SpecError

__all__ = [
    "EXECUTORS",
    "Chunk",
    "Executor",
    "InProcess",
    "LocalPool",
    "RayExecutor",
    "open_executor",
    "require_ray",
    "shutdown_local_ray",
    "start_local_ray",
    "stream",
]

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
RAY_MISSING = "the ray executor needs Ray: install `proctor[ray]`"
PER_SLOT = 2
"""Chunks in flight per worker process or Ray CPU: one running, one waiting to start."""

Chunk = tuple[list[EpisodeConfig], str, int]
"""(episode configs, run id, model-backed episodes run at once)."""

H = TypeVar("H")


def _worker_init(plugins: Sequence[str] = ()) -> None:
    """A worker's set-up: the sweep's plug-ins loaded, one BLAS/OpenMP thread."""
    if plugins:
        from proctor.plugins import load_plugins

        load_plugins(plugins)
    _one_thread_each()


def _one_thread_each() -> None:
    """Worker set-up: one BLAS/OpenMP thread per worker. Left at their defaults, numpy's
    and scikit-learn's thread pools put two busy threads on each core and two workers run no
    faster than one (measured in benchmarks/RESULTS.md)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _run_chunk(args: Chunk) -> list[EpisodeRecord]:
    """Run a chunk of episodes; model-backed ones `concurrency` at a time, in threads (they
    wait on model servers; the model calls share one event loop per process)."""
    configs, run_id, concurrency = args
    if concurrency <= 1 or not any(cfg.models is not None for cfg in configs):
        return [run_episode(cfg, run_id) for cfg in configs]
    with ThreadPoolExecutor(max_workers=concurrency) as threads:
        return list(threads.map(lambda cfg: run_episode(cfg, run_id), configs))


class Executor(ABC, Generic[H]):
    """Runs chunks somewhere. ``submit`` starts one and returns a handle; ``wait_any`` blocks
    until one of the running handles has finished and returns it; ``result`` gives its
    records (or raises what the chunk raised). Used as a context manager: set-up on entry,
    everything released on exit (chunks still running after an error are cancelled)."""

    slots: int
    """How many chunks may be in flight at once."""

    @abstractmethod
    def submit(self, chunk: Chunk) -> H: ...

    @abstractmethod
    def wait_any(self, running: Sequence[H]) -> H: ...

    @abstractmethod
    def result(self, handle: H) -> list[EpisodeRecord]: ...

    def cancel(self, running: Sequence[H]) -> None:
        """Give up chunks still in flight (after an error or an interrupt)."""

    def close(self) -> None:
        """Release the workers."""

    def __enter__(self) -> Executor[H]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def stream(
    executor: Executor[Any],
    chunks: Iterable[Chunk],
    land: Callable[[list[EpisodeRecord]], bool],
) -> None:
    """Run every chunk on `executor`, at most ``executor.slots`` at once, and hand each
    finished batch to `land` as it lands (in the order they finish). Once `land` returns
    False nothing more is submitted; chunks already running finish and land."""
    pending = iter(chunks)
    running: list[Any] = []
    go_on = True

    def fill() -> None:
        while len(running) < executor.slots:
            chunk = next(pending, None)
            if chunk is None:
                return
            running.append(executor.submit(chunk))

    try:
        fill()
        while running:
            handle = executor.wait_any(running)
            running.remove(handle)
            go_on = land(executor.result(handle)) and go_on
            if go_on:
                fill()
    except BaseException:
        executor.cancel(running)
        raise


class InProcess(Executor[Chunk]):
    """Runs each chunk in this process when its result is asked for, one BLAS thread
    (as in the pool: spare BLAS threads only add overhead)."""

    slots = 1

    def __enter__(self) -> InProcess:
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(1)
        return self

    def close(self) -> None:
        limits = getattr(self, "_limits", None)
        if limits is not None:
            limits.restore_original_limits()

    def submit(self, chunk: Chunk) -> Chunk:
        return chunk

    def wait_any(self, running: Sequence[Chunk]) -> Chunk:
        return running[0]

    def result(self, handle: Chunk) -> list[EpisodeRecord]:
        return _run_chunk(handle)


class LocalPool(Executor[Future[list[EpisodeRecord]]]):
    """A process pool on this machine, two chunks per worker in flight."""

    def __init__(self, workers: int, plugins: Sequence[str] = ()) -> None:
        self.pool = ProcessPoolExecutor(
            max_workers=workers, initializer=_worker_init, initargs=(tuple(plugins),)
        )
        self.slots = PER_SLOT * workers

    def submit(self, chunk: Chunk) -> Future[list[EpisodeRecord]]:
        return self.pool.submit(_run_chunk, chunk)

    def wait_any(
        self, running: Sequence[Future[list[EpisodeRecord]]]
    ) -> Future[list[EpisodeRecord]]:
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        return next(iter(done))

    def result(self, handle: Future[list[EpisodeRecord]]) -> list[EpisodeRecord]:
        return handle.result()

    def cancel(self, running: Sequence[Future[list[EpisodeRecord]]]) -> None:
        for future in running:
            future.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


# ---- Ray ------------------------------------------------------------------------------------

_LOCAL_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # the node address is loopback, not probed
    "http_proxy": "http://127.0.0.1:9",  # the dashboard's cloud-metadata probes fail on loopback
    "no_proxy": "127.0.0.1,localhost",
}
"""The environment while a local Ray starts (see the module docstring)."""
_WORKER_ENV = ("http_proxy", "no_proxy")
"""Put back in Ray's workers to this process's own values before a chunk runs."""

_started: dict[str, str | None] | None = None
"""Set while a Ray started by :func:`start_local_ray` runs: this process's own values of
``_WORKER_ENV``, for the workers."""
_worker_ready = False


def require_ray() -> None:
    """Raise SpecError when Ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise SpecError(RAY_MISSING)


def _import_ray() -> Any:
    require_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as err:  # installed but broken
        raise SpecError(f"{RAY_MISSING} ({err})") from None
    return ray


@contextmanager
def _env(values: dict[str, str]) -> Iterator[dict[str, str | None]]:
    """Set environment variables for the block; yield their previous values; put them back."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield before
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_local_ray(cpus: int) -> None:
    """Start a Ray on this machine only, with `cpus` CPUs: loopback addresses, no dashboard,
    no usage stats, no outside contact (module docstring); stop it with
    :func:`shutdown_local_ray`."""
    global _started
    if cpus < 1:
        raise SpecError(f"workers must be >= 1, got {cpus}")
    with _env(_LOCAL_ENV) as before:
        ray = _import_ray()
        # for a ray imported before, as the variable does for a fresh import
        constants: Any = getattr(getattr(ray, "_private", None), "ray_constants", None)
        cluster = getattr(constants, "ENABLE_RAY_CLUSTER", None)
        if cluster is not None:
            constants.ENABLE_RAY_CLUSTER = False
        try:
            ray.init(
                num_cpus=cpus,
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                log_to_driver=False,
                configure_logging=False,
            )
        finally:
            if cluster is not None:
                constants.ENABLE_RAY_CLUSTER = cluster
    _started = {name: before[name] for name in _WORKER_ENV}


def shutdown_local_ray() -> None:
    """Stop the Ray that :func:`start_local_ray` started (if it runs)."""
    global _started
    if _started is not None:
        import ray

        ray.shutdown()
        _started = None


def _check_reachable(address: str) -> None:
    """Fail fast on a ``HOST:PORT`` or ``ray://HOST:PORT`` that nothing answers on: Ray itself
    retries an unreachable head for minutes, logging each try."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or "://" in target:
        return  # "auto", "local" or a form left to Ray
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as err:
        raise SpecError(f"cannot reach the Ray cluster at {address!r}: {err}") from None


def _ray_chunk(
    chunk: Chunk, restore: dict[str, str | None], plugins: Sequence[str] = ()
) -> list[EpisodeRecord]:
    """A chunk as a Ray task: the pool's worker set-up, then the chunk."""
    global _worker_ready
    if not _worker_ready:
        for name, value in restore.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _worker_ready = True
    # every time: plug-ins load once per process (a no-op after), and libraries that the
    # previous chunk loaded get one thread too (cheap)
    _worker_init(plugins)
    return _run_chunk(chunk)


class RayExecutor(Executor[Any]):
    """Chunks as Ray tasks, two per CPU of the cluster in flight."""

    def __init__(
        self, workers: int, address: str | None = None, plugins: Sequence[str] = ()
    ) -> None:
        ray = _import_ray()
        self.ray = ray
        self.plugins = tuple(plugins)
        self.ours = False
        if ray.is_initialized():
            if address is not None:
                log.warning("using the Ray already initialised here, not %r", address)
        elif address is None:
            start_local_ray(workers)
            self.ours = True
        else:
            _check_reachable(address)
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as err:
                text = str(err).strip()
                first = text.splitlines()[0] if text else type(err).__name__
                raise SpecError(f"cannot connect to Ray at {address!r}: {first}") from None
        try:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            if cpus < 1:
                raise SpecError("the Ray cluster has no CPUs to run episodes on")
            self.slots = PER_SLOT * cpus
            self.restore = dict(_started) if _started is not None else {}
            self.task = ray.remote(num_cpus=1)(_ray_chunk)
        except BaseException:
            self.close()
            raise

    def submit(self, chunk: Chunk) -> Any:
        return self.task.remote(chunk, self.restore, self.plugins)

    def wait_any(self, running: Sequence[Any]) -> Any:
        ready, _ = self.ray.wait(list(running), num_returns=1)
        return ready[0]

    def result(self, handle: Any) -> list[EpisodeRecord]:
        records: list[EpisodeRecord] = self.ray.get(handle)
        return records

    def cancel(self, running: Sequence[Any]) -> None:
        for ref in running:
            with suppress(Exception):  # already finished, or the cluster is gone
                self.ray.cancel(ref)

    def close(self) -> None:
        if self.ours:
            shutdown_local_ray()
            self.ours = False


def open_executor(
    kind: str, workers: int = 1, address: str | None = None, plugins: Sequence[str] = ()
) -> Executor[Any]:
    """The executor `kind` ("local" or "ray") for `workers` (local processes, or the local
    Ray's CPUs) or the Ray cluster at `address`, each worker with `plugins` loaded (this
    process loads them itself: :func:`proctor.bench.run_bench` does)."""
    if kind not in EXECUTORS:
        raise SpecError(f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    if address is not None and kind != "ray":
        raise SpecError("address is for the ray executor only")
    if workers < 1:
        raise SpecError(f"workers must be >= 1, got {workers}")
    if kind == "ray":
        return RayExecutor(workers, address, plugins)
    return InProcess() if workers == 1 else LocalPool(workers, plugins)
