"""proctor's own stand-in model: plays the scripted researchers through the tool-calling path.

``mockllm/model`` (Inspect's mock) and the fake OpenAI-compatible server in the tests are
answered by :func:`play`, so an offline run exercises every part of the model-backed path —
prompts, tools, the lab, tool results, the JSON report and its parsing, transcripts and token
accounting — with reports that mean something: the researcher's system prompt ends with a
``player`` line naming its skill, budget share and disposition, and :func:`play` runs the
matching *scripted* researcher against the conversation so far. It is stateless: each answer
replays the method from the start on the recorded tool results (a replay client returns them
in order) until the method asks for a call it has no result for; that call is the answer, and
when the method finishes, its report is. So through the model-backed path it hands in exactly
the report the scripted researcher would, which the tests check.

Judges, debaters and monitors are answered with a neutral verdict (suspicion 0.5) and no
arguments: a mock has no opinion, and figures from it are labelled by its model name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from proctor.core import Action, Brief, LabCall, Task
from proctor.lab import BudgetExceeded, LabError, OutOfScope
from proctor.models.client import answer_mock_with, from_inspect

_PLAYER = re.compile(r"\(proctor prompt [^;]*; player (\{.*\})\)\s*$", re.S)
_BRIEF = re.compile(r"```json\n(\{.*?\})\n```", re.S)
_BUDGET = re.compile(r"Your lab budget: ([0-9.eE+-]+) units")
_COST = re.compile(r"\[cost: ([0-9.eE+-]+)(?: \+ ([0-9.eE+-]+) per (\w+))?\]\s*$")
_ERRORS: dict[str, type[LabError]] = {
    "LabError": LabError,
    "BudgetExceeded": BudgetExceeded,
    "OutOfScope": OutOfScope,
}
NEUTRAL = {"suspicion": 0.5, "rationale": "mock model: no opinion"}


class _NeedCall(BaseException):
    """The replayed method asks for a call the conversation has no result for yet."""

    def __init__(self, action: str, args: dict[str, Any]) -> None:
        super().__init__(action)
        self.action, self.arguments = action, args


class ReplayClient:
    """A lab client that answers from a conversation's recorded tool results, in order."""

    def __init__(
        self,
        actions: Sequence[Action],
        budget: float,
        recorded: list[dict[str, Any]],
        final: bool = False,
    ) -> None:
        self._final = final
        self._actions = tuple(actions)
        self._budget = budget
        self._recorded = recorded
        self._calls: list[LabCall] = []

    caller = "researcher"

    @property
    def actions(self) -> tuple[Action, ...]:
        return self._actions

    @property
    def budget(self) -> float:
        return self._budget

    @property
    def spent(self) -> float:
        return sum(c.cost for c in self._calls)

    @property
    def remaining(self) -> float:
        return self._budget - self.spent

    @property
    def calls(self) -> list[LabCall]:
        return list(self._calls)

    def price(self, action: str, **args: Any) -> float:
        for a in self._actions:
            if a.name == action:
                return a.price(args)
        raise LabError(f"unknown action {action!r}")

    def call(self, action: str, **args: Any) -> LabCall:
        index = len(self._calls)
        if index >= len(self._recorded):
            if self._final:  # told to report now: the method finds its budget spent
                raise BudgetExceeded(f"{action}: no budget left, the report is due")
            raise _NeedCall(action, json.loads(json.dumps(args, default=_plain)))
        rec = self._recorded[index]
        body = rec["result"]
        call = LabCall(
            id=body.get("id", f"researcher-{index:04d}"),
            caller="researcher",
            index=index,
            action=rec["action"],
            args=rec["args"],
            cost=float(body.get("cost", 0.0)),
            result=body.get("result"),
            error=body.get("error"),
        )
        self._calls.append(call)
        if call.error is not None:
            raise _ERRORS.get(body.get("error_type", ""), LabError)(call.error)
        return call


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON: {value!r}")


def _action(tool: dict[str, Any]) -> Action:
    fn = tool.get("function", tool)
    desc = fn.get("description", "")
    m = _COST.search(desc)
    cost, per, unit = (float(m.group(1)), float(m.group(2) or 0), m.group(3)) if m else (0, 0, None)
    return Action(
        name=fn["name"],
        description=desc,
        parameters=fn.get("parameters") or {"type": "object", "properties": {}},
        cost=cost,
        cost_per_unit=per,
        unit=unit,
    )


def _recorded(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tool calls of a conversation with their results, in order."""
    results = {m["tool_call_id"]: m.get("content") or "" for m in messages if m["role"] == "tool"}
    out = []
    for m in messages:
        for tc in m.get("tool_calls") or [] if m["role"] == "assistant" else []:
            if tc["id"] not in results:
                continue
            fn = tc["function"]
            args = fn["arguments"]
            out.append(
                {
                    "action": fn["name"],
                    "args": json.loads(args) if isinstance(args, str) else args,
                    "result": json.loads(results[tc["id"]]),
                }
            )
    return out


def play(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The next assistant message (OpenAI format) of the scripted player (module docstring)."""
    system = next((m.get("content") or "" for m in messages if m["role"] == "system"), "")
    found = _PLAYER.search(system)
    if found is None:
        return _verdict(messages)
    return _research(messages, tools, json.loads(found.group(1)))


def _verdict(messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A neutral answer for judges, debaters and monitors."""
    return {"role": "assistant", "content": json.dumps(NEUTRAL)}


def _research(
    messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], who: dict[str, Any]
) -> dict[str, Any]:
    from proctor.researchers import ResearcherSpec, make_researcher
    from proctor.researchers.llm import FINAL_NOW

    user = next(m.get("content") or "" for m in messages if m["role"] == "user")
    brief_json, budget = _BRIEF.search(user), _BUDGET.search(user)
    if brief_json is None or budget is None:
        return {"role": "assistant", "content": "I cannot find the brief."}
    brief = Brief.model_validate(json.loads(brief_json.group(1)))
    recorded = _recorded(messages)
    tools_known = [_action(t) for t in tools]
    last = next((m.get("content") or "" for m in reversed(messages) if m["role"] == "user"), "")
    final = last.startswith(FINAL_NOW[:40])
    # A real brief's budget is the whole task's; the researcher is told its own share.
    spec = ResearcherSpec(backend="scripted", **who)
    full = brief.model_copy(update={"budget": float(budget.group(1)) / spec.budget})
    client = ReplayClient(tools_known, float(budget.group(1)), recorded, final)
    researcher = make_researcher(spec, brief.domain)
    try:
        report = researcher.investigate(Task(full, client))
    except LabError as err:  # the method could not finish on what it had
        return {"role": "assistant", "content": f"I could not finish the work: {err}"}
    except _NeedCall as need:
        n = len(recorded)
        return {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": f"call_{n:04d}",
                    "type": "function",
                    "function": {"name": need.action, "arguments": json.dumps(need.arguments)},
                }
            ],
        }
    body = {
        "summary": report.summary,
        "claims": [c.model_dump(mode="json", exclude_defaults=True) for c in report.claims],
    }
    return {"role": "assistant", "content": "```json\n" + json.dumps(body) + "\n```"}


def mock_outputs(input: list[Any], tools: list[Any], tool_choice: Any, config: Any) -> Any:
    """``custom_outputs`` for Inspect's ``mockllm/model``: :func:`play` on Inspect messages."""
    from inspect_ai.model import ModelOutput
    from inspect_ai.tool import ToolCall

    as_tools = [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters.model_dump(exclude_none=True),
            },
        }
        for t in tools
    ]
    answer = play(from_inspect(input), as_tools)
    calls = [
        ToolCall(
            id=tc["id"],
            function=tc["function"]["name"],
            arguments=json.loads(tc["function"]["arguments"]),
        )
        for tc in answer.get("tool_calls") or []
    ]
    output = ModelOutput.from_content(model="mockllm", content=answer.get("content") or "")
    if calls:
        output.choices[0].message.tool_calls = calls
        output.choices[0].stop_reason = "tool_calls"
    return output


answer_mock_with(mock_outputs)
