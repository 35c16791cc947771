"""The model-backed path through real HTTP: Inspect's OpenAI-compatible provider talking to a
fake server on 127.0.0.1 that plays the scripted researchers (tool calls included) and injects
faults: malformed reports, timeouts and server errors mid-episode become recorded failed
episodes, and a sweep goes on past them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("inspect_ai")
pytest.importorskip("openai")

from fake_openai import FakeOpenAI, Fault

from proctor.bench.episode import run_episode
from proctor.bench.spec import EpisodeConfig, make_spec
from proctor.models import ModelSettings
from proctor.report import run_bench
from proctor.researchers import ResearcherSpec, player

NAME = "openai-api/fake/fake-model"


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start a fake server (args as FakeOpenAI's) and point the `fake` provider at it."""
    servers: list[FakeOpenAI] = []

    def start(**kwargs: Any) -> FakeOpenAI:
        server = FakeOpenAI(**kwargs).start()
        servers.append(server)
        monkeypatch.setenv("FAKE_BASE_URL", server.base_url)
        monkeypatch.setenv("FAKE_API_KEY", "test")
        return server

    yield start
    for server in servers:
        server.stop()


def _config(domain: str = "optimize", **settings: Any) -> EpisodeConfig:
    base = {"max_retries": 0, "timeout": 5, "player_hints": True}
    models = ModelSettings(researcher=NAME, **(base | settings))
    return EpisodeConfig(
        domain=domain,
        level=1,
        seed=2_000_003,
        role="test",
        researcher=ResearcherSpec(backend=f"llm:{NAME}"),
        protocols=["direct"],
        budgets=[0.3],
        capability_test_rate=0.25,
        models=models,
    )


def _scripted(domain: str = "optimize") -> Any:
    cfg = _config(domain)
    scripted = cfg.model_copy(update={"researcher": ResearcherSpec(), "models": None})
    return run_episode(scripted, "t")


@pytest.mark.parametrize("domain", ["optimize", "derivation"])
def test_tool_calls_through_http_reproduce_the_scripted_report(serve: Any, domain: str) -> None:
    server = serve()
    rec = run_episode(_config(domain), "t")
    assert rec.error is None and rec.report is not None
    want = _scripted(domain).report
    assert [c.model_dump() for c in rec.report.claims] == [c.model_dump() for c in want.claims]
    # every request offered the lab's actions as tools and the answers carried tool calls
    assert server.n_requests == len([e for e in rec.report.trace if e.type == "action"]) + 1
    assert {t["function"]["name"] for t in server.requests[0]["tools"]} >= {"read_file", "fetch"}
    assert any(m["role"] == "tool" for m in server.requests[-1]["messages"])
    (usage,) = [u for u in rec.models.usage if u.caller == "researcher"]  # type: ignore[union-attr]
    assert usage.calls == server.n_requests and usage.input_tokens > 0


def test_malformed_json_report_is_a_failed_episode_with_raw_text(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def play(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        out = player.play(messages, tools)
        if out.get("tool_calls"):
            return out
        return {"role": "assistant", "content": '{"claims": [{"id": "c1", "kind": }'}

    server = serve(play=play)
    rec = run_episode(_config(), "t")
    assert rec.report is None and rec.error is not None and "not valid JSON" in rec.error
    talk = rec.models.transcripts[0]  # type: ignore[union-attr]
    raw = [m["content"] for m in talk.messages if m["role"] == "assistant"]
    assert raw[-2:] == ['{"claims": [{"id": "c1", "kind": }'] * 2  # asked once to repair
    assert server.n_requests == len(raw)


def test_a_timeout_mid_episode_is_retried_or_recorded(serve: Any) -> None:
    serve(faults={3: Fault("timeout", delay=4.0)})
    started = time.monotonic()
    failed = run_episode(_config(timeout=1), "t")
    assert failed.report is None and failed.error is not None
    assert time.monotonic() - started < 30
    assert failed.models is not None and failed.models.transcripts  # what happened is kept
    serve(faults={3: Fault("timeout", delay=4.0)})
    retried = run_episode(_config(timeout=1, max_retries=2), "t")
    assert retried.error is None and retried.report is not None


@pytest.mark.parametrize("kind", ["error", "garbage"])
def test_a_server_fault_mid_episode_is_a_recorded_failure(serve: Any, kind: str) -> None:
    # the OpenAI client retries a 5xx by itself: fail every attempt at the fourth turn
    serve(faults={n: Fault(kind) for n in range(4, 10)})
    rec = run_episode(_config(), "t")
    assert rec.report is None and rec.error is not None and "ModelError" in rec.error
    talk = rec.models.transcripts[0]  # type: ignore[union-attr]
    assert talk.error is not None
    assert sum(m["role"] == "tool" for m in talk.messages) == 3  # the work before the fault


def test_the_sweep_goes_on_past_failed_episodes(serve: Any, tmp_path: Path) -> None:
    serve(faults={2: Fault("error"), 40: Fault("garbage")})
    spec = make_spec(
        {
            "domains": ["forecast"],
            "levels": [1],
            "protocols": ["direct"],
            "budgets": [0.3],
            "organisms": [],
            "knobs": {},
            "seeds": {"calibration": 6, "test": 2},
            "adaptive": False,
            "models": {"researcher": NAME, "max_retries": 0, "timeout": 5, "player_hints": True},
        }
    )
    result = run_bench(spec, tmp_path, concurrency=1)
    total = len(list(spec.episodes()))
    assert result.n_episodes == total
    assert 1 <= result.n_failed <= 2
