"""The model under evaluation, behind proctor's model client interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from inspect_ai.model import Model, ModelOutput, get_model

from proctor.core import Action
from proctor.models import Meter, ModelAccess, ModelSettings
from proctor.models.client import ToolRequest, Turn, _tool_info, require_inspect, to_inspect
from proctor.models.settings import Role


class EvalClient:
    """proctor's :class:`~proctor.models.client.ModelClient` interface over the Inspect model
    under evaluation, called from a worker thread (the model runs on Inspect's event loop, in
    the sample's context, so its calls are the sample's model events and usage)."""

    def __init__(
        self, model: Model, name: str, role: Role, meter: Meter, caller: str, cache: bool
    ) -> None:
        require_inspect()  # and Inspect's token counting offline (proctor.models.tokens)
        self.model, self.name, self.role, self.caller = model, name, role, caller
        self._meter, self._cache = meter, cache
        self.messages: list[dict[str, Any]] = []
        self.output: ModelOutput | None = None

    def record(self, messages: Sequence[dict[str, Any]], error: str | None = None) -> None:
        self.messages = list(messages)
        self._meter.add_transcript(self.caller, self.role, self.name, list(messages), error)

    def tokens(self) -> int:
        return self._meter.tokens(self.caller)

    def generate(
        self,
        messages: Sequence[dict[str, Any]],
        tools: Sequence[Action] = (),
        tool_choice: Literal["auto", "none"] | None = None,
    ) -> Turn:
        from proctor.models.client import ModelError

        infos = [_tool_info(a) for a in tools]
        inspect_messages = to_inspect(messages)

        async def call() -> ModelOutput:
            return await self.model.generate(
                inspect_messages, tools=infos, tool_choice=tool_choice, cache=self._cache
            )

        try:
            output = anyio.from_thread.run(call)
        except Exception as err:
            raise ModelError(f"{self.name}: {type(err).__name__}: {err}") from err
        if output.error:
            raise ModelError(f"{self.name}: {output.error}")
        self.output = output
        usage = output.usage
        inp = usage.input_tokens + (usage.input_tokens_cache_read or 0) if usage else 0
        out = usage.output_tokens if usage else 0
        cost = usage.total_cost if usage and usage.total_cost is not None else None
        self._meter.add_usage(self.caller, self.role, self.name, inp, out, cost)
        message = output.message
        calls = [
            ToolRequest(tc.id, tc.function, dict(tc.arguments or {}), tc.parse_error)
            for tc in message.tool_calls or []
        ]
        return Turn(message.text, calls, inp, out, cost)


@dataclass(frozen=True)
class EvalModels(ModelAccess):
    """An episode's model access whose researcher is the Inspect model under evaluation; no
    other role is model-backed, so protocols run their scripted forms."""

    model: Any = None
    clients: list[EvalClient] = field(default_factory=list)

    def client(self, role: Role, caller: str | None = None) -> Any:
        from proctor.models.client import ModelError

        name = self.settings.model_for(role)
        if name is None or role != "researcher":
            raise ModelError(f"no model is set for the {role} role")
        made = EvalClient(
            self.model, name, role, self.meter, caller or self.caller, self.settings.cache
        )
        self.clients.append(made)
        return made


def player_or(model: Model, name: str) -> Model:
    """The model under evaluation, except a plain ``mockllm/model``, which proctor's scripted
    researchers play (:mod:`proctor.researchers.player`), as they do in ``proctor bench``. A mock
    given a callable as its ``custom_outputs`` is used as it is."""
    if not name.startswith("mockllm/") or callable(getattr(model.api, "outputs", None)):
        return model
    from proctor.researchers.player import mock_outputs

    return get_model(name, memoize=False, custom_outputs=mock_outputs)


def model_settings(name: str, max_steps: int, scratchpad_visible: bool = False) -> ModelSettings:
    return ModelSettings(
        researcher=name, max_steps=max_steps, scratchpad_visible=scratchpad_visible
    )
