"""The fake OpenAI-compatible server (tests/fake_openai.py) through Inspect AI's real HTTP path:
the ``openai-api`` provider, the openai SDK and httpx, against 127.0.0.1 only.

What Inspect 0.3.285 does with the fake's faults (pinned here, so a change shows up):

- a 5xx is retried twice by the openai SDK itself, whatever ``GenerateConfig.max_retries``
  says (pass ``max_retries=0`` to ``get_model`` to turn that off); after that, Inspect's own
  loop retries it with a back-off of 3 to 6 s; when both give up, ``tenacity.RetryError``
  whose last attempt raised ``openai.InternalServerError``. A 400 is not retried: Inspect
  raises ``ModelGenerateError`` (from ``openai.BadRequestError``).
- ``GenerateConfig.timeout`` is the budget of Inspect's retry loop, not a limit on one request:
  a slow answer still arrives. A request is cut short by ``attempt_timeout`` (``RetryError`` of
  ``AttemptTimeoutError``) or by the model arg ``client_timeout`` (``RetryError`` of
  ``openai.APITimeoutError``).
- a 200 whose body is not JSON raises ``json.JSONDecodeError`` and is retried by no one.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("inspect_ai")
pytest.importorskip("openai")

import openai
import tenacity
from fake_openai import FakeOpenAI, Fault, tokens
from inspect_ai.model import (
    ChatMessage,
    ChatMessageTool,
    ChatMessageUser,
    GenerateConfig,
    ModelOutput,
    get_model,
)
from inspect_ai.model._model import AttemptTimeoutError, ModelGenerateError
from inspect_ai.tool import ToolInfo, ToolParam, ToolParams

NAME = "openai-api/fake/fake-model"
ADD = ToolInfo(
    name="add",
    description="Add two integers.",
    parameters=ToolParams(
        properties={"a": ToolParam(type="integer"), "b": ToolParam(type="integer")},
        required=["a", "b"],
    ),
)


def echo(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "assistant", "content": f"you said: {messages[-1]['content']}"}


def adder(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """Calls `add` first; once the tool answered, reports its result."""
    if messages[-1]["role"] == "tool":
        return {"role": "assistant", "content": f"the sum is {messages[-1]['content']}"}
    call = {"name": "add", "arguments": json.dumps({"a": 2, "b": 3})}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_add_1", "function": call}],
    }


@pytest.fixture(autouse=True)
def no_cached_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty tiktoken cache: if Inspect counted tokens itself, offline it would fail."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeOpenAI]]:
    """Start a fake server (args as FakeOpenAI's); each is stopped, and checked, at the end."""
    servers: list[FakeOpenAI] = []

    def start(play: Any = echo, **kwargs: Any) -> FakeOpenAI:
        servers.append(FakeOpenAI(play, **kwargs).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
        assert not server.errors


def generate(
    server: FakeOpenAI,
    input: list[ChatMessage] | str = "hello",
    tools: list[ToolInfo] | None = None,
    config: GenerateConfig | None = None,
    **model_args: Any,
) -> ModelOutput:
    """One call through Inspect's openai-api provider, in a fresh event loop."""

    async def call() -> ModelOutput:
        model = get_model(
            NAME,
            base_url=server.base_url,
            api_key="test",
            config=config or GenerateConfig(max_retries=0),
            memoize=False,
            **model_args,
        )
        async with model:
            return await model.generate(input, tools=tools or [])

    return asyncio.run(call())


def http(method: str, url: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_models_endpoint_unknown_paths_and_a_failing_play(serve: Callable[..., FakeOpenAI]) -> None:
    def broken(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        raise KeyError("no script for this")

    server = serve(broken, model="m-1")
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    status, body = http("GET", f"{server.base_url}/models")
    assert status == 200 and [m["id"] for m in body["data"]] == ["m-1"]
    for method, path in [("GET", "/nope"), ("POST", "/completions"), ("POST", "/embeddings")]:
        status, body = http(method, server.base_url + path, None if method == "GET" else {})
        assert status == 404 and "no route" in body["error"]["message"]
    assert server.n_requests == 0
    status, body = http("POST", f"{server.base_url}/chat/completions", {"messages": []})
    assert status == 500 and "KeyError" in body["error"]["message"]
    assert "no script for this" in body["error"]["message"]
    assert server.n_requests == 1 and server.requests == [{"messages": []}]


@pytest.mark.parametrize("stream", [False, True])
def test_a_text_answer_and_its_usage_round_trip(
    serve: Callable[..., FakeOpenAI], stream: bool
) -> None:
    server = serve()
    output = generate(server, "hello", stream=stream)
    assert output.completion == "you said: hello" and output.stop_reason == "stop"
    (request,) = server.requests
    assert request["messages"] == [{"role": "user", "content": "hello"}]
    assert bool(request.get("stream")) is stream
    (reply,) = server.responses
    usage = reply["usage"]
    assert usage["prompt_tokens"] == tokens(request["messages"])
    assert usage["completion_tokens"] == tokens(reply["choices"][0]["message"])
    assert output.usage is not None
    assert output.usage.input_tokens == usage["prompt_tokens"]
    assert output.usage.output_tokens == usage["completion_tokens"]
    assert output.usage.total_tokens == usage["total_tokens"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_call_and_the_tool_result_round_trip(
    serve: Callable[..., FakeOpenAI], stream: bool
) -> None:
    server = serve(adder)
    question: list[ChatMessage] = [ChatMessageUser(content="what is 2 + 3?")]
    output = generate(server, question, tools=[ADD], stream=stream)
    (offered,) = server.requests[0]["tools"]
    assert offered["function"]["name"] == "add"
    assert set(offered["function"]["parameters"]["properties"]) == {"a", "b"}
    assert output.stop_reason == "tool_calls"
    (call,) = output.message.tool_calls or []
    assert (call.id, call.function, call.arguments) == ("call_add_1", "add", {"a": 2, "b": 3})

    result = ChatMessageTool(content="5", tool_call_id=call.id, function=call.function)
    final = generate(server, [*question, output.message, result], tools=[ADD], stream=stream)
    assert final.completion == "the sum is 5"
    *_, assistant, tool = server.requests[1]["messages"]
    assert assistant["tool_calls"][0]["id"] == "call_add_1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"a": 2, "b": 3}
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_add_1"
    assert tool["content"] == "5"


def test_the_openai_sdk_retries_a_server_error_by_itself(serve: Callable[..., FakeOpenAI]) -> None:
    server = serve(faults={1: Fault("error")})
    output = generate(server, config=GenerateConfig(max_retries=0))
    assert output.completion == "you said: hello" and server.n_requests == 2


def test_inspect_retries_a_server_error(serve: Callable[..., FakeOpenAI]) -> None:
    server = serve(faults={1: Fault("error", status=503)})
    output = generate(server, config=GenerateConfig(max_retries=2), max_retries=0)  # SDK's off
    assert output.completion == "you said: hello" and server.n_requests == 2


def test_with_no_retries_a_server_error_surfaces(serve: Callable[..., FakeOpenAI]) -> None:
    server = serve(faults={1: Fault("error"), 2: Fault("error", status=400)})
    with pytest.raises(tenacity.RetryError) as caught:
        generate(server, config=GenerateConfig(max_retries=0), max_retries=0)
    error = caught.value.last_attempt.exception()
    assert isinstance(error, openai.InternalServerError) and error.status_code == 500
    assert "scripted fault on request 1" in str(error)
    with pytest.raises(ModelGenerateError) as bad:  # a 4xx is not retried at all
        generate(server, config=GenerateConfig(max_retries=2))
    assert isinstance(bad.value.__cause__, openai.BadRequestError)
    assert server.n_requests == 2


def test_a_hung_request_times_out(serve: Callable[..., FakeOpenAI]) -> None:
    server = serve(faults={1: Fault("timeout", delay=5), 2: Fault("timeout", delay=5)})
    with pytest.raises(tenacity.RetryError) as caught:
        generate(server, config=GenerateConfig(attempt_timeout=1, max_retries=0))
    assert isinstance(caught.value.last_attempt.exception(), AttemptTimeoutError)
    with pytest.raises(tenacity.RetryError) as caught:
        generate(server, config=GenerateConfig(max_retries=0), client_timeout=1, max_retries=0)
    assert isinstance(caught.value.last_attempt.exception(), openai.APITimeoutError)
    assert server.n_requests == 2  # each hang cut short (the error types say by what)


def test_generate_config_timeout_does_not_cut_a_slow_answer(
    serve: Callable[..., FakeOpenAI],
) -> None:
    server = serve(faults={1: Fault("timeout", delay=1.5)})
    started = time.monotonic()
    output = generate(server, config=GenerateConfig(timeout=1, max_retries=0))
    assert output.completion == "you said: hello" and time.monotonic() - started >= 1.5


def test_a_body_that_is_not_json_raises_and_is_not_retried(
    serve: Callable[..., FakeOpenAI],
) -> None:
    server = serve(faults={1: Fault("garbage")})
    with pytest.raises(json.JSONDecodeError):
        generate(server, config=GenerateConfig(max_retries=2))
    assert server.n_requests == 1


def test_concurrent_requests_overlap(serve: Callable[..., FakeOpenAI]) -> None:
    latency, n = 0.3, 8
    server = serve(latency=latency)

    async def many() -> list[ModelOutput]:
        model = get_model(
            NAME,
            base_url=server.base_url,
            api_key="test",
            config=GenerateConfig(max_retries=0),
            memoize=False,
        )
        async with model:
            return await asyncio.gather(*(model.generate(f"q{i}") for i in range(n)))

    outputs = asyncio.run(many())
    assert sorted(o.completion for o in outputs) == sorted(f"you said: q{i}" for i in range(n))
    assert server.n_requests == n
    # overlap is shown by requests in flight together, not by wall time (which load skews)
    assert server.max_in_flight > 1, "requests were served one at a time"
