"""The bench: sweep spec, executors, store and episodes (DESIGN.md §2 "Bench").

``run_sweep(spec, out)`` runs every episode of the sweep that the store does not already hold
(in this process, a local process pool or on Ray: :mod:`proctor.bench.executors`) and writes
each batch to the store as it lands. What the stored episodes show is the analysis package's
(:mod:`proctor.analysis`: metrics, trust map, frontier, transfer, giveaway audit), and the
report's (:mod:`proctor.report`); ``proctor.report.run_bench`` is the whole of
``proctor bench`` in Python: this sweep, then its summary and report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from proctor.bench.executors import EXECUTORS, Chunk, open_executor, require_ray, stream
from proctor.bench.records import EpisodeRecord
from proctor.bench.spec import EpisodeConfig, SpecError, SweepSpec, load_spec, quick_spec
from proctor.bench.store import Store, StoreError

__all__ = [
    "CHUNK",
    "EpisodeRecord",
    "SpecError",
    "Store",
    "StoreError",
    "SweepResult",
    "SweepSpec",
    "load_spec",
    "quick_spec",
    "run_sweep",
]

log = logging.getLogger(__name__)
CHUNK = 24


@dataclass(frozen=True)
class SweepResult:
    """What a sweep left in its store."""

    run_id: str
    store: Store
    """The store holding the run's episodes."""
    out: Path
    n_new: int
    """Episodes this invocation ran and stored."""
    stopped: str | None = None
    """Why the sweep stopped before its end (``--max-tokens``/``--max-cost``), or None."""


@dataclass
class _Limits:
    """Stop a sweep cleanly once its model use passes a limit (counted as episodes land)."""

    max_tokens: int | None = None
    max_cost: float | None = None
    tokens: int = 0
    cost: float = 0.0

    def add(self, batch: Sequence[EpisodeRecord]) -> str | None:
        for record in batch:
            if record.models is not None:
                self.tokens += record.models.tokens
                self.cost += record.models.cost
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return f"--max-tokens reached: {self.tokens:,} tokens used (limit {self.max_tokens:,})"
        if self.max_cost is not None and self.cost >= self.max_cost:
            return f"--max-cost reached: ${self.cost:.4f} spent (limit ${self.max_cost:g})"
        return None


def _chunks(items: Sequence[EpisodeConfig], size: int) -> Iterator[list[EpisodeConfig]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def run_sweep(
    spec: SweepSpec,
    out: Path,
    store: str | Path | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    concurrency: int = 8,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    executor: str = "local",
    address: str | None = None,
) -> SweepResult:
    """Run (or finish) a sweep into its store.

    Args:
        spec: the sweep; checked against the registry first.
        out: output folder (the default store's, and the report's).
        store: SQLAlchemy URL or SQLite path; default ``out/episodes.sqlite``.
        workers: local processes (1 = run in this process); with ``executor="ray"`` and no
            `address`, the CPUs of the Ray started on this machine.
        progress: called with (episodes done, episodes total) as work finishes.
        concurrency: model-backed episodes run at once in each worker (threads).
        max_tokens: stop cleanly once this invocation's episodes used this many model tokens.
        max_cost: the same in dollars (models need a price: Inspect's, or the sweep's
            ``models.prices``).
        executor: where episodes run: "local" (this process, or a pool of `workers`
            processes) or "ray" (Ray tasks; needs ``pip install 'proctor[ray]'``); see
            :mod:`proctor.bench.executors`. Both give the same records.
        address: the Ray cluster to run on (``ray.init(address=...)``); None starts a Ray on
            this machine with `workers` CPUs (loopback only) and stops it at the end.

    A sweep stopped at a limit keeps every finished episode (and the report that
    ``proctor.report.run_bench`` makes reports on them); running it again (with a higher
    limit) goes on where it stopped. Episodes already running when the limit is reached
    finish and are kept, so the limit can be passed by what they use.
    """
    _load_plugins(spec)
    spec.check()
    if workers < 1:
        raise SpecError(f"workers must be >= 1, got {workers}")
    if executor not in EXECUTORS:
        raise SpecError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if address is not None and executor != "ray":
        raise SpecError("address is for the ray executor only")
    if executor == "ray":
        require_ray()
    if concurrency < 1:
        raise SpecError(f"concurrency must be >= 1, got {concurrency}")
    for flag, limit in (("max_tokens", max_tokens), ("max_cost", max_cost)):
        if limit is not None and not limit > 0:
            raise SpecError(f"{flag} must be > 0, got {limit}")
    if spec.models is not None and spec.models.any:
        from proctor.models.client import ModelError, require_inspect

        try:
            require_inspect()
        except ModelError as err:
            raise SpecError(str(err)) from None
        if max_cost is not None:
            _check_prices(spec)
    out.mkdir(parents=True, exist_ok=True)
    db = Store(store if store is not None else out / "episodes.sqlite")
    run_id = db.begin_run(spec)
    done = db.done_keys(run_id)
    todo = [cfg for cfg in spec.episodes() if cfg.key not in done]
    total = len(done) + len(todo)
    finished = len(done)
    if progress:
        progress(finished, total)
    modelled = spec.models is not None and spec.models.any
    size = max(CHUNK, 2 * concurrency) if modelled else CHUNK
    chunks: list[Chunk] = [(chunk, run_id, concurrency) for chunk in _chunks(todo, size)]
    limits = _Limits(max_tokens, max_cost)
    stopped: str | None = None
    new = 0

    def land(batch: list[EpisodeRecord]) -> bool:
        """Store a finished batch as it lands; False once a limit is reached."""
        nonlocal finished, new, stopped
        written = db.write(batch)
        finished, new = finished + written, new + written
        if progress:
            progress(finished, total)
        stopped = stopped or limits.add(batch)
        return stopped is None

    if chunks:
        with open_executor(executor, workers, address, spec.plugins) as runner:
            stream(runner, chunks, land)
    return SweepResult(run_id, db, out, new, stopped)


def _load_plugins(spec: SweepSpec) -> None:
    """Load the sweep's plug-ins in this process (a stored sweep's too, on resume)."""
    from proctor.plugins import PluginError, load_plugins

    try:
        load_plugins(spec.plugins)
    except PluginError as err:
        raise SpecError(str(err)) from None


def _check_prices(spec: SweepSpec) -> None:
    """Every model of the sweep needs a price for ``--max-cost``: Inspect's or the sweep's."""
    assert spec.models is not None
    for name in spec.models.names:
        if name in spec.models.prices or name.startswith("mockllm/"):
            continue
        try:
            from inspect_ai.model._model_info import get_model_info

            info = get_model_info(name)
        except Exception:
            info = None
        if info is None or getattr(info, "cost", None) is None:
            raise SpecError(
                f"models.prices: no price known for {name!r}; give one in the sweep file "
                f'([models.prices."{name}"] input = ..., output = ... dollars per million '
                "tokens) to use --max-cost"
            )
