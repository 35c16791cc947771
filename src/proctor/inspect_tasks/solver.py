"""The solver: proctor's model-backed researcher, the model under evaluation deciding every
step; its report, lab log and spend go to the sample's store, where the scorers read them."""

from __future__ import annotations

import anyio
from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from proctor.core import LabCall, Report
from proctor.core import Task as ProctorTask
from proctor.inspect_tasks.dataset import STORE_KEY, Setup
from proctor.inspect_tasks.model import EvalModels, model_settings, player_or
from proctor.lab import Lab
from proctor.models.client import to_inspect
from proctor.researchers import ResearcherSpec, make_researcher


@solver
def proctor_researcher(
    skill: str = "expert",
    budget: float = 1.0,
    disposition: str = "honest",
    knobs: dict[str, float] | None = None,
    max_steps: int = 100,
) -> Solver:
    """proctor's model-backed researcher on the sample's task, the model under evaluation
    deciding every step. Its report, lab log and spend go to the sample's store."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        setup = Setup.of(state)
        name = str(state.model)
        models = EvalModels(model_settings(name, max_steps), model=player_or(get_model(), name))
        spec = ResearcherSpec.parse(
            disposition, backend=f"llm:{name}", skill=skill, budget=budget, knobs=knobs or {}
        )

        def work() -> tuple[Report | None, Lab, str | None]:
            sampled = setup.sample()
            lab = Lab(sampled.world, setup.seed)
            client = lab.client("researcher", sampled.brief.budget * spec.budget)
            try:
                researcher = make_researcher(spec, setup.domain, models)
                return researcher.investigate(ProctorTask(sampled.brief, client)), lab, None
            except Exception as err:  # recorded, as the bench records a failed episode
                return None, lab, f"{type(err).__name__}: {err}"

        report, lab, error = await anyio.to_thread.run_sync(work)
        if models.clients:
            client = models.clients[0]
            state.messages = to_inspect(client.messages)
            if client.output is not None:
                state.output = client.output
        state.store.set(
            STORE_KEY,
            {
                "report": report.model_dump(mode="json") if report is not None else None,
                "calls": [c.model_dump(mode="json") for c in lab.calls_by("researcher")],
                "spend": lab.spent("researcher"),
                "error": error,
                "researcher": spec.model_dump(mode="json"),
            },
        )
        return state

    return solve


def read_episode(state: TaskState) -> tuple[Report | None, tuple[LabCall, ...], float, str | None]:
    data = state.store.get(STORE_KEY)
    if data is None:
        raise ValueError("no proctor episode in this sample: run proctor_researcher first")
    report = Report.model_validate(data["report"]) if data["report"] is not None else None
    calls = tuple(LabCall.model_validate(c) for c in data["calls"])
    return report, calls, float(data["spend"]), data["error"]
