"""Model access through Inspect AI's model API (``inspect_ai.model.get_model``).

This module is the only one that imports Inspect, lazily: the scripted path never loads it.
Calls are made from ordinary (synchronous) episode code; they run on one background event
loop per process, so many episodes running in threads share Inspect's connection limits,
retries and response cache. Messages cross this boundary in OpenAI chat format (plain dicts),
which is what transcripts store and what the fake server in the tests speaks.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from proctor import registry
from proctor.core import Action
from proctor.models.meter import Meter
from proctor.models.settings import ModelSettings, Role

T = TypeVar("T")

INSTALL_HINT = "model-backed roles need Inspect AI: install `proctor[llm]`"


class ModelError(RuntimeError):
    """A model call failed (after Inspect's retries), or the model backend is missing."""


def require_inspect() -> None:
    """Raise :class:`ModelError` with the install hint if Inspect AI is not installed; set up
    offline token counting (:mod:`proctor.models.tokens`) if it is."""
    try:
        import inspect_ai  # noqa: F401
    except ImportError as err:
        raise ModelError(INSTALL_HINT) from err
    from proctor.models.tokens import ensure_offline_encoding

    ensure_offline_encoding()


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The process's model loop, started on first use in a daemon thread."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="proctor-models", daemon=True).start()
            _loop = loop
        return _loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the model loop and wait for its result (from any thread)."""
    return asyncio.run_coroutine_threadsafe(coro, _event_loop()).result()


@dataclass(frozen=True)
class ToolRequest:
    """One tool call the model asked for."""

    id: str
    name: str
    arguments: dict[str, Any]
    parse_error: str | None = None


@dataclass(frozen=True)
class Turn:
    """One model answer: its text and tool calls, in OpenAI form too (for transcripts)."""

    text: str
    tool_calls: list[ToolRequest] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None

    def as_message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": t.id,
                    "type": "function",
                    "function": {"name": t.name, "arguments": json.dumps(t.arguments)},
                }
                for t in self.tool_calls
            ]
        return msg


def describe_cost(action: Action) -> str:
    """An action's price in words, as tool descriptions carry it: ``[cost: 3 + 0.1 per n]``."""
    per = f" + {action.cost_per_unit:g} per {action.unit}" if action.unit else ""
    return f"[cost: {action.cost:g}{per}]"


def _tool_info(action: Action) -> Any:
    from inspect_ai.tool import ToolInfo, ToolParams

    params = dict(action.parameters)
    params.setdefault("properties", {})
    return ToolInfo(
        name=action.name,
        description=f"{action.description} {describe_cost(action)}",
        parameters=ToolParams(**params),
    )


def to_inspect(messages: Sequence[dict[str, Any]]) -> list[Any]:
    """OpenAI-format dicts to Inspect chat messages."""
    from inspect_ai.model import (
        ChatMessageAssistant,
        ChatMessageSystem,
        ChatMessageTool,
        ChatMessageUser,
    )
    from inspect_ai.tool import ToolCall

    out: list[Any] = []
    names: dict[str, str] = {}
    for m in messages:
        role, content = m["role"], m.get("content") or ""
        if role == "system":
            out.append(ChatMessageSystem(content=content))
        elif role == "user":
            out.append(ChatMessageUser(content=content))
        elif role == "assistant":
            calls = []
            for tc in m.get("tool_calls") or []:
                fn = tc["function"]
                names[tc["id"]] = fn["name"]
                calls.append(
                    ToolCall(
                        id=tc["id"], function=fn["name"], arguments=json.loads(fn["arguments"])
                    )
                )
            out.append(ChatMessageAssistant(content=content, tool_calls=calls or None))
        elif role == "tool":
            out.append(
                ChatMessageTool(
                    content=content,
                    tool_call_id=m["tool_call_id"],
                    function=names.get(m["tool_call_id"]),
                )
            )
        else:
            raise ValueError(f"unknown message role {role!r}")
    return out


def from_inspect(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """Inspect chat messages to OpenAI-format dicts (the inverse of :func:`to_inspect`)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        msg: dict[str, Any] = {"role": m.role, "content": m.text}
        if m.role == "assistant" and m.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": tc.id,
                    "type": "function",
                    "function": {"name": tc.function, "arguments": json.dumps(tc.arguments)},
                }
                for tc in m.tool_calls
            ]
        if m.role == "tool":
            msg["tool_call_id"] = m.tool_call_id
        out.append(msg)
    return out


_models: dict[tuple[str, str], Any] = {}

MockOutputs = Callable[[list[Any], list[Any], Any, Any], Any]
"""Inspect's ``custom_outputs`` of ``mockllm/model``: (input, tools, tool_choice, config) →
the model's output."""
_mock_outputs: list[MockOutputs] = []


def answer_mock_with(outputs: MockOutputs) -> None:
    """Have ``mockllm/...`` models answer through `outputs`. proctor's stand-in player
    (:mod:`proctor.researchers.player`), which plays the scripted researchers, registers itself
    here when the researchers load, so that the models layer names nothing above it."""
    _mock_outputs[:] = [outputs]


"""Inspect models of this process, by name, settings and endpoints."""


def generate_config(settings: ModelSettings) -> Any:
    """Inspect's ``GenerateConfig`` for a sweep's model settings: the one mapping from
    :class:`~proctor.models.settings.ModelSettings` to Inspect, used by the models the bench
    calls and by the eval logs that describe them (``proctor export``).

    ``settings.timeout`` bounds one request (Inspect's ``attempt_timeout``, after which the
    request is retried), not Inspect's whole retry loop (its ``timeout``).
    """
    from inspect_ai.model import GenerateConfig

    return GenerateConfig(
        max_retries=settings.max_retries,
        attempt_timeout=settings.timeout,
        max_connections=settings.max_connections,
        temperature=settings.temperature,
        seed=settings.seed,
        max_tokens=settings.max_output_tokens,
    )


def _model(name: str, settings: ModelSettings) -> Any:
    """The Inspect model for `name` under `settings` (one per process and settings)."""
    # Providers read their endpoint from the environment when built: a new endpoint is a new model.
    endpoints = sorted((k, v) for k, v in os.environ.items() if k.endswith("_BASE_URL"))
    key = (name, settings.model_dump_json() + json.dumps(endpoints))
    if key not in _models:
        from inspect_ai.model import get_model

        config = generate_config(settings)
        args: dict[str, Any] = {}
        if name.startswith("mockllm/"):
            if not _mock_outputs:  # the researchers' modules register the player on import
                registry.load()
            args["custom_outputs"] = _mock_outputs[0]

        async def make() -> Any:  # built on the model loop, where its clients will live
            return get_model(name, config=config, memoize=False, **args)

        _models[key] = run(make())
    return _models[key]


class ModelClient:
    """One caller's access to one model within an episode; every answer is metered.

    Like a lab client it exposes what its holder needs and nothing else (``name``, ``role``,
    ``caller``, :meth:`generate`, :meth:`record`, :meth:`tokens`): the episode's meter, which
    holds other callers' transcripts, is out of reach."""

    __slots__ = ("__meter", "__settings", "caller", "name", "role")

    def __init__(
        self, name: str, role: Role, settings: ModelSettings, meter: Meter, caller: str
    ) -> None:
        require_inspect()
        self.name, self.role, self.caller = name, role, caller
        self.__settings, self.__meter = settings, meter

    def record(self, messages: Sequence[dict[str, Any]], error: str | None = None) -> None:
        """Keep a finished conversation (failed ones too) as this caller's transcript."""
        self.__meter.add_transcript(self.caller, self.role, self.name, list(messages), error)

    def tokens(self) -> int:
        """Tokens this caller has used so far in the episode."""
        return self.__meter.tokens(self.caller)

    def generate(
        self,
        messages: Sequence[dict[str, Any]],
        tools: Sequence[Action] = (),
        tool_choice: Literal["auto", "none"] | None = None,
    ) -> Turn:
        """One answer to `messages`, with `tools` offered.

        Raises:
            ModelError: the request failed after Inspect's retries (server error, timeout,
                unparseable response).
        """
        settings = self.__settings
        model = _model(self.name, settings)
        inspect_messages = to_inspect(messages)
        infos = [_tool_info(a) for a in tools]

        async def call() -> Any:
            return await model.generate(
                inspect_messages, tools=infos, tool_choice=tool_choice, cache=settings.cache
            )

        try:
            output = run(call())
        except Exception as err:
            raise ModelError(f"{self.name}: {type(err).__name__}: {err}") from err
        if output.error:
            raise ModelError(f"{self.name}: {output.error}")
        message = output.message
        usage = output.usage
        inp = usage.input_tokens + (usage.input_tokens_cache_read or 0) if usage else 0
        out = usage.output_tokens if usage else 0
        cost = usage.total_cost if usage and usage.total_cost is not None else None
        if cost is None and self.name in settings.prices:
            price = settings.prices[self.name]
            cost = (inp * price.input + out * price.output) / 1e6
        self.__meter.add_usage(self.caller, self.role, self.name, inp, out, cost)
        calls = [
            ToolRequest(tc.id, tc.function, dict(tc.arguments or {}), tc.parse_error)
            for tc in message.tool_calls or []
        ]
        return Turn(message.text, calls, inp, out, cost)
