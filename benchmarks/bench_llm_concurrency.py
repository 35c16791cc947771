"""Requests per second against a model server at 1, 8 and 32 concurrent episodes.

A fake OpenAI-compatible server on 127.0.0.1 (``tests/fake_openai.py``) answers every request
after a fixed latency (default 100 ms, standing in for a model server's time per answer) with
proctor's scripted player; episodes run the model-backed researcher through Inspect AI's
``openai-api`` provider exactly as a sweep does (threads in one process sharing one event
loop). If the harness keeps the server busy, requests/s grows with concurrency up to
concurrency / latency; the figure printed beside each is that ceiling.

    .venv/bin/python benchmarks/bench_llm_concurrency.py [--latency 0.1] [--episodes 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai import FakeOpenAI

from proctor.bench.episode import run_episode
from proctor.bench.spec import EpisodeConfig
from proctor.models import ModelSettings
from proctor.researchers import ResearcherSpec

NAME = "openai-api/fake/fake-model"


def configs(n: int) -> list[EpisodeConfig]:
    models = ModelSettings(researcher=NAME, max_connections=64, player_hints=True)
    return [
        EpisodeConfig(
            domain="forecast",
            level=1,
            seed=2_000_000 + i,
            role="test",
            researcher=ResearcherSpec(backend=f"llm:{NAME}"),
            protocols=[],
            budgets=[0.3],
            capability_test_rate=0.0,
            models=models,
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--episodes", type=int, default=64)
    args = parser.parse_args()
    with FakeOpenAI(latency=args.latency) as server:
        os.environ["FAKE_BASE_URL"] = server.base_url
        os.environ["FAKE_API_KEY"] = "bench"
        run_episode(configs(1)[0], "warm-up")  # imports, model set-up
        print(f"latency {args.latency * 1000:.0f} ms per request, {args.episodes} episodes each")
        print("concurrency  requests  seconds  requests/s  ceiling/s  failed")
        for concurrency in (1, 8, 32):
            before = server.n_requests
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                records = list(pool.map(lambda c: run_episode(c, "bench"), configs(args.episodes)))
            seconds = time.monotonic() - started
            n = server.n_requests - before
            failed = sum(r.error is not None for r in records)
            ceiling = concurrency / args.latency
            rate = n / seconds
            print(
                f"{concurrency:11d}  {n:8d}  {seconds:7.1f}  {rate:10.1f}  {ceiling:9.0f}  "
                f"{failed:6d}"
            )


if __name__ == "__main__":
    main()
