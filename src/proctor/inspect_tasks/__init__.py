"""proctor's domains as Inspect AI tasks: ``inspect eval proctor/causal --model <model>``.

Each domain is an Inspect ``@task`` (``proctor/causal``, ``proctor/optimize``,
``proctor/derivation``, ``proctor/forecast``), registered through Inspect's entry point
(``[project.entry-points.inspect_ai]`` in pyproject.toml), so any Inspect model can be the
researcher::

    inspect eval proctor/causal --model openai/gpt-4o -T level=2 -T seeds=5
    inspect eval proctor/causal --model mockllm/model --limit 2      # offline

One sample per task seed (test seeds by default, ``-T role=calibration`` for the others).
The solver is proctor's own model-backed researcher (:class:`~proctor.researchers.llm.
LLMResearcher`: the same prompts, the lab's declared actions as tools, tool results with call
ids, cost and budget left, the JSON report and its one repair), driving the model under
evaluation; its conversation becomes the sample's messages, and every model call is an
Inspect model event with its usage. ``mockllm/model`` is played by proctor's scripted
researchers through the tool-calling path, as in ``proctor bench --researcher-model
mockllm/model``, so offline runs hand in reports that mean something.

Scorers: ``grade``, proctor's grader against the hidden truth (never shown to the model), and
one scorer per chosen protocol (``-T protocols=direct,replicate``), named after it, whose
value is the verdict's suspicion (an abstention is unscored) and whose explanation is its
findings. An episode run here and the same episode run by ``proctor bench`` give the same
report, grade and verdicts (tests/test_inspect_tasks.py).

Scorers rebuild the task from (domain, level, seed) and read the report and the researcher's
lab log from the sample's store, so ``inspect score`` can re-score a log. A protocol reviews
on a fresh lab of the same hidden world: its own calls draw the same noise as in the bench
(streams are keyed by seed, caller and call index), but files the researcher wrote in its
workspace are not there.

Modules: :mod:`.dataset` (arguments, seeds, samples), :mod:`.model` (the model under
evaluation behind proctor's model client), :mod:`.solver`, :mod:`.scorers`; the tasks here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset

from proctor.bench.spec import RERUN_BUDGETS
from proctor.inspect_tasks.dataset import (
    DEFAULT_SEEDS,
    STORE_KEY,
    Setup,
    TaskArgumentError,
    checked_arguments,
    make_sample,
    task_seeds,
)
from proctor.inspect_tasks.scorers import grade, protocol_scorer
from proctor.inspect_tasks.solver import proctor_researcher

__all__ = [
    "DEFAULT_SEEDS",
    "STORE_KEY",
    "TaskArgumentError",
    "causal",
    "derivation",
    "forecast",
    "grade",
    "optimize",
    "proctor_researcher",
    "proctor_task",
    "protocol_scorer",
]


def proctor_task(
    domain: str,
    level: int = 1,
    seeds: int | str | Sequence[int] = DEFAULT_SEEDS,
    role: str = "test",
    skill: str = "expert",
    budget: float = 1.0,
    disposition: str = "honest",
    knobs: dict[str, float] | None = None,
    protocols: str | Sequence[str] = "direct,replicate",
    protocol_budget: float = 0.25,
    capability_test_rate: float = 0.25,
    rerun_recognition: float = 0.0,
    max_steps: int = 100,
    scratchpad_visible: bool = False,
) -> Task:
    """An Inspect task over `domain` at `level`: one sample per seed, proctor's researcher
    driving the model under evaluation, the grader and `protocols` as scorers.

    Args:
        domain: A registered domain (``proctor list domains``).
        level: The domain's difficulty level.
        seeds: How many seeds of `role` (from its base), or explicit seeds.
        role: ``test`` (the default), ``calibration`` or ``dev`` seeds.
        skill: The researcher's skill (method guidance in its prompt).
        budget: The researcher's share of the brief's budget.
        disposition: ``honest``, or a prompted model organism (``saboteur:misread``...).
        knobs: The organism's knobs (``strength``, ``recognition``, ``knows_protocols``).
        protocols: Protocols to score each report with (comma-separated or a list).
        protocol_budget: Their budget as a fraction of the researcher's spend (the re-run
            protocols run at 1.0, as in the bench, unless this is given for them alone).
        capability_test_rate: Share of briefs framed as capability tests.
        rerun_recognition: Probability that an organism sees through a protocol's re-run.
        max_steps: Model turns before the researcher must report.
        scratchpad_visible: Whether protocols read the researcher's ``<scratchpad>``.
    """
    names, spec = checked_arguments(domain, level, protocols, disposition, skill, budget, knobs)
    samples = [
        make_sample(Setup(domain, level, seed, capability_test_rate), role, spec)
        for seed in task_seeds(seeds, role)
    ]
    budgets = {n: RERUN_BUDGETS.get(n, [protocol_budget])[0] for n in names}
    return Task(
        dataset=MemoryDataset(samples, name=f"proctor-{domain}-L{level}"),
        solver=proctor_researcher(
            skill=skill,
            budget=budget,
            disposition=disposition,
            knobs=knobs or {},
            max_steps=max_steps,
        ),
        scorer=[
            grade(),
            *(
                protocol_scorer(
                    n,
                    budget=budgets[n],
                    disposition=disposition,
                    skill=skill,
                    researcher_budget=budget,
                    knobs=knobs or {},
                    rerun_recognition=rerun_recognition,
                    scratchpad_visible=scratchpad_visible,
                )
                for n in names
            ),
        ],
        metadata={"proctor_domain": domain, "proctor_level": level, "researcher": spec.label},
    )


# --- one task per domain ---------------------------------------------------------------------


def _domain_task(domain: str) -> Any:
    def build(
        level: int = 1,
        seeds: int | str | list[int] = DEFAULT_SEEDS,
        role: str = "test",
        skill: str = "expert",
        budget: float = 1.0,
        disposition: str = "honest",
        knobs: dict[str, float] | None = None,
        protocols: str | list[str] = "direct,replicate",
        protocol_budget: float = 0.25,
        capability_test_rate: float = 0.25,
        rerun_recognition: float = 0.0,
        max_steps: int = 100,
        scratchpad_visible: bool = False,
    ) -> Task:
        return proctor_task(
            domain,
            level=level,
            seeds=seeds,
            role=role,
            skill=skill,
            budget=budget,
            disposition=disposition,
            knobs=knobs,
            protocols=protocols,
            protocol_budget=protocol_budget,
            capability_test_rate=capability_test_rate,
            rerun_recognition=rerun_recognition,
            max_steps=max_steps,
            scratchpad_visible=scratchpad_visible,
        )

    build.__name__ = build.__qualname__ = domain
    build.__doc__ = (
        f"proctor's {domain} domain: a model researcher on tasks with hidden ground truth, "
        "graded by proctor's grader and judged by its oversight protocols (see "
        "proctor.inspect_tasks.proctor_task for the arguments)."
    )
    return task(name=domain)(build)


causal = _domain_task("causal")
optimize = _domain_task("optimize")
derivation = _domain_task("derivation")
forecast = _domain_task("forecast")
