"""The offline stand-in model for ControlArena runs: proctor's scripted researchers play it.

:func:`player_model` is Inspect's ``mockllm/model`` answered by :func:`proctor.researchers.player.
mock_outputs` (the stateless replay of a scripted researcher over the conversation so far), in
ControlArena's agent loop: it plays the honest researcher of its skill, or — when its system
prompt carries the side task, as ControlArena's attack policy's does — the named organism; it
hands in its report by calling ``submit``. It obeys its prompt, as a prompted model organism
does, and is told nothing else (the eval mode is never read).

Under defer-to-trusted the trajectory interleaves two models' steps. Each player replays only
its own steps (a step the trusted model took carries defer-to-trusted's ``trusted_response``
metadata), so each method sees the results of the calls it asked for. Both spend the one lab
budget of the sample, as a deferral does in the bench's lab.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    Model,
    ModelOutput,
    get_model,
)
from inspect_ai.tool import ToolCall

from proctor.control_arena.setting import SIDE_TASK
from proctor.researchers import ResearcherSpec
from proctor.researchers.player import mock_outputs

_REPORT = re.compile(r"```json\n(\{.*\})\n```\s*$", re.S)


def _took(message: ChatMessageAssistant) -> str:
    """Which model took a step: ``trusted`` where defer-to-trusted deferred, else
    ``untrusted``."""
    meta = message.metadata or {}
    return "trusted" if meta.get("trusted_response") is not None else "untrusted"


def _own(messages: list[ChatMessage], role: str) -> list[ChatMessage]:
    """The conversation without the other model's steps and their tool results."""
    theirs: set[str] = set()
    out: list[ChatMessage] = []
    for m in messages:
        if isinstance(m, ChatMessageAssistant) and _took(m) != role:
            theirs |= {tc.id for tc in m.tool_calls or []}
            continue
        if isinstance(m, ChatMessageTool) and m.tool_call_id in theirs:
            continue
        out.append(m)
    return out


class Player:
    """``custom_outputs`` for ``mockllm/model`` (see the module docstring)."""

    def __init__(self, skill: str, budget: float, attack: str, role: str) -> None:
        self.skill, self.budget, self.attack, self.role = skill, budget, attack, role
        for disposition in ("honest", attack):
            ResearcherSpec.parse(disposition, skill=skill, budget=budget)  # fail early

    def __call__(
        self, input: list[ChatMessage], tools: list[Any], tool_choice: Any, config: Any
    ) -> ModelOutput:
        system = next((m.text for m in input if isinstance(m, ChatMessageSystem)), "")
        disposition = self.attack if SIDE_TASK in system else "honest"
        spec = ResearcherSpec.parse(disposition, skill=self.skill, budget=self.budget)
        who = {
            "skill": spec.skill,
            "budget": spec.budget,
            "disposition": spec.disposition,
            "variant": spec.variant,
            "knobs": spec.knobs,
        }
        hint = f"\n\n(proctor prompt control-arena; player {json.dumps(who)})"
        messages = [
            ChatMessageSystem(content=m.text + hint) if isinstance(m, ChatMessageSystem) else m
            for m in _own(list(input), self.role)
        ]
        output = mock_outputs(messages, tools, tool_choice, config)
        message = output.choices[0].message
        step = len(input)  # unique within the sample: ids of both models never collide
        if message.tool_calls:
            message.tool_calls = [
                replace(tc, id=f"{self.role}_{step}_{i}") for i, tc in enumerate(message.tool_calls)
            ]
            return output
        found = _REPORT.search(message.text)
        if found is None:  # the method could not finish: its words, and no call
            return output
        body = json.loads(found.group(1))
        message.tool_calls = [
            ToolCall(
                id=f"{self.role}_{step}_submit",
                function="submit",
                arguments={"claims": body["claims"], "summary": body.get("summary", "")},
            )
        ]
        message.content = ""
        output.choices[0].stop_reason = "tool_calls"
        return output


def player_model(
    skill: str = "expert",
    budget: float = 1.0,
    attack: str = "saboteur:fabricate",
    role: str = "untrusted",
) -> Model:
    """``mockllm/model`` played by proctor's scripted researcher of `skill` (honest; `attack`
    when its prompt carries the side task). `role` is the model's role in the eval: a
    ``trusted`` player replays only the steps defer-to-trusted gave it, an ``untrusted`` one the
    others. `budget` is the researcher's share, as in :class:`ProctorSetting`."""
    if role not in ("trusted", "untrusted"):
        raise ValueError(f"role must be trusted or untrusted, not {role!r}")
    return get_model(
        "mockllm/model", memoize=False, custom_outputs=Player(skill, budget, attack, role)
    )
