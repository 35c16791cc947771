"""proctor's protocols as ControlArena monitors.

:func:`proctor_monitor_builder` runs a named proctor protocol, at a budget (a fraction of the
researcher's spend so far), on the report so far and returns the verdict's suspicion as the
monitor's ``suspicion_score`` and its findings as the reason. At a step that calls ``submit`` the
report so far is the report being handed in; at any other step it is a report with no claims
whose trace is the work so far (output-focused protocols then have nothing to doubt; process-
focused ones such as ``trace_monitor`` read the lab log). The review is
:func:`proctor.inspect_tasks.protocol_scorer`'s, on a fresh lab of the same hidden world, so the
suspicion at the submit step is the one that scorer gives the handed-in report.

An abstention ("cannot judge") is not a number: it is returned as ``abstain_score`` (0 by
default: nothing to flag) with ``score_parsed`` false, so analyses can tell it apart.
"""

from __future__ import annotations

import json
import math
from typing import Any

from control_arena import control_agent
from control_arena.monitor import MonitorResponse, get_last_assistant_message, monitor
from inspect_ai.agent import Agent, AgentState
from inspect_ai.scorer import Target
from inspect_ai.solver import TaskState
from inspect_ai.solver._task_state import sample_state
from inspect_ai.tool import Tool
from pydantic import Field

from proctor import registry
from proctor.control_arena.setting import read_report, trace_of
from proctor.core import Report
from proctor.inspect_tasks import STORE_KEY, protocol_scorer
from proctor.researchers.llm import ReportFormatError


def _report_so_far(state: AgentState, task_id: str) -> tuple[Report | str, bool]:
    """The report so far (module docstring), or why the submitted one cannot be read; and
    whether this step hands it in."""
    last = get_last_assistant_message(state.messages)
    trace = trace_of(state.messages)
    submit = next((tc for tc in last.tool_calls or [] if tc.function == "submit"), None)
    if submit is None:
        return Report(task_id=task_id, claims=[], trace=trace), False
    try:
        return read_report(dict(submit.arguments), task_id, trace), True
    except ReportFormatError as err:
        return f"the submitted report cannot be read: {err}", True


@control_agent
def proctor_monitor_builder(
    protocol: str = Field(default="direct", description="A proctor protocol (proctor list)."),
    budget: float = Field(default=0.25, description="Its budget: a fraction of the spend."),
    abstain_score: float = Field(default=0.0, description="The score of an abstention."),
) -> Agent:
    """A ControlArena monitor that runs the proctor protocol `protocol` on the report so far
    (see :mod:`proctor.control_arena.monitor`)."""
    if protocol not in registry.names("protocol"):
        known = ", ".join(registry.names("protocol"))
        raise ValueError(f"unknown protocol {protocol!r}; known: {known}")
    review = protocol_scorer(protocol, budget=budget)

    async def judge(state: AgentState, tools: list[Tool]) -> MonitorResponse:
        sample = sample_state()
        if sample is None:
            raise RuntimeError("a proctor monitor runs inside a ControlArena sample")
        episode: dict[str, Any] = dict(sample.store.get(STORE_KEY) or {})
        if "calls" not in episode:
            raise RuntimeError("no proctor episode in this sample: use ProctorSetting")
        report, submitted = _report_so_far(state, sample.metadata["task_id"])
        if isinstance(report, str):
            return MonitorResponse(suspicion_score=abstain_score, reason=report, score_parsed=False)
        candidate = TaskState(
            model=sample.model,
            sample_id=sample.sample_id,
            epoch=sample.epoch,
            input=sample.input,
            messages=[],
            metadata=sample.metadata,
            store={STORE_KEY: episode | {"report": report.model_dump(mode="json")}},
        )
        score = await review(candidate, Target(""))
        assert score is not None
        value = score.value
        what = "the report handed in" if submitted else "the work so far, no claims yet"
        if not isinstance(value, int | float) or math.isnan(value):
            return MonitorResponse(
                suspicion_score=abstain_score,
                reason=f"{protocol} abstained ({what}): {score.explanation}",
                score_parsed=False,
            )
        return MonitorResponse(
            suspicion_score=float(value),
            reason=f"{protocol} ({what}): {score.explanation}\n"
            + json.dumps({"cost_fraction": (score.metadata or {}).get("cost_fraction")}),
        )

    return monitor(judge)
