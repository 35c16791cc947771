"""A task's arguments and samples: the seeds, the checks of what ``inspect eval -T`` passes,
and what each sample's episode is a pure function of (:class:`Setup`, in its metadata)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inspect_ai._util.error import PrerequisiteError  # printed without a traceback
from inspect_ai.dataset import Sample
from inspect_ai.solver import TaskState

from proctor import registry
from proctor.bench.spec import ROLE_BASE
from proctor.domains import Sampled, get_domain
from proctor.registry import UnknownComponent
from proctor.researchers import ResearcherSpec
from proctor.researchers.llm import LLM_KNOBS, brief_message
from proctor.researchers.strategy import check_skill, variant_names


class TaskArgumentError(PrerequisiteError, ValueError):
    """A task argument that cannot run (``inspect eval`` prints the message alone, no
    traceback)."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.message = f"error: {message}"


DEFAULT_SEEDS = 10
"""Samples per task unless ``-T seeds=`` says otherwise (``--limit`` takes fewer)."""
STORE_KEY = "proctor"
"""Key of the episode in each sample's store (report, lab log, spend, error)."""


def task_seeds(seeds: int | str | Sequence[int], role: str) -> list[int]:
    """A count of seeds of `role` (from its base) or explicit seeds (a list, or "1,2,3")."""
    if role not in ROLE_BASE:
        raise TaskArgumentError(f"role must be one of {', '.join(ROLE_BASE)}, got {role!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise TaskArgumentError(f"seeds must be >= 1, got {seeds}")
        return [ROLE_BASE[role] + i for i in range(seeds)]
    items = seeds.split(",") if isinstance(seeds, str) else list(seeds)
    try:
        return [int(s) for s in items]
    except ValueError:
        raise TaskArgumentError(
            f"seeds: a count or comma-separated integers, got {seeds!r}"
        ) from None


def csv_items(value: str | Sequence[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [s.strip() for s in items if s.strip()]


@dataclass(frozen=True)
class Setup:
    """What a sample's episode is a pure function of (kept in the sample's metadata)."""

    domain: str
    level: int
    seed: int
    capability_test_rate: float

    def sample(self) -> Sampled:
        return get_domain(self.domain).sample(
            self.level, self.seed, capability_test_rate=self.capability_test_rate
        )

    @classmethod
    def of(cls, state: TaskState) -> Setup:
        m = state.metadata
        return cls(m["domain"], m["level"], m["seed"], m["capability_test_rate"])


def checked_arguments(
    domain: str,
    level: int,
    protocols: str | Sequence[str],
    disposition: str,
    skill: str,
    budget: float,
    knobs: dict[str, float] | None,
) -> tuple[list[str], ResearcherSpec]:
    """The protocols' names and the researcher's spec of a task's arguments; an argument that
    cannot run raises :class:`TaskArgumentError`."""
    try:
        dom = get_domain(domain)
    except UnknownComponent as err:
        raise TaskArgumentError(str(err)) from None
    if level not in dom.levels:
        raise TaskArgumentError(f"{domain} has levels {list(dom.levels)}, not {level}")
    names = csv_items(protocols)
    for name in names:
        try:
            registry.lookup("protocol", name, domain)
        except UnknownComponent as err:
            raise TaskArgumentError(str(err)) from None
    spec = ResearcherSpec.parse(disposition, skill=skill, budget=budget, knobs=knobs or {})
    try:
        check_skill(spec, domain)
    except ValueError as err:
        raise TaskArgumentError(str(err)) from None
    if spec.disposition_variant not in variant_names(domain):
        known = ", ".join(variant_names(domain))
        raise TaskArgumentError(f"unknown disposition {disposition!r} in {domain}; known: {known}")
    unknown = set(spec.knobs) - set(LLM_KNOBS)
    if unknown:
        raise TaskArgumentError(
            f"knob(s) {sorted(unknown)} have no model-backed form; known: {LLM_KNOBS}"
        )
    return names, spec


def make_sample(setup: Setup, role: str, spec: ResearcherSpec) -> Sample:
    """The sample of one seed: the brief's message to the researcher, the setup as metadata."""
    brief = setup.sample().brief
    return Sample(
        id=f"{setup.domain}-L{setup.level}-{setup.seed}",
        input=brief_message(brief, brief.budget * spec.budget),
        metadata={
            "domain": setup.domain,
            "level": setup.level,
            "seed": setup.seed,
            "role": role,
            "task_id": brief.task_id,
            "capability_test_rate": setup.capability_test_rate,
        },
    )
