"""A researcher or protocol that hangs becomes a recorded failure with its error, under the
episode's wall-clock limit, and the rest of the episode (and sweep) goes on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import ClassVar, Literal

import pytest

from proctor import registry
from proctor.bench.episode import PhaseTimeout, run_episode, time_limit
from proctor.bench.spec import EpisodeConfig
from proctor.core import Report, Verdict
from proctor.protocols import ReviewContext
from proctor.researchers import ResearcherSpec


class Hangs:
    """A protocol stuck in a loop."""

    name: ClassVar[str] = "hangs"
    focus: ClassVar[Literal["output", "process"]] = "output"
    budgeted: ClassVar[bool] = True

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        while True:
            time.sleep(0.01)


class Stuck:
    """A researcher backend stuck in a busy loop."""

    def __init__(self, spec: ResearcherSpec) -> None:
        pass

    def investigate(self, task: object) -> Report:
        while True:
            pass


@pytest.fixture
def hanging() -> Iterator[None]:
    registry.protocol("hangs", domain="causal")(Hangs)
    registry.register("backend", "stuck", Stuck, "causal")
    yield
    del registry._entries[("protocol", "hangs", "causal")]
    del registry._entries[("backend", "stuck", "causal")]


def _cfg(researcher: ResearcherSpec, protocols: list[str]) -> EpisodeConfig:
    return EpisodeConfig(
        domain="causal",
        level=1,
        seed=5,
        role="dev",
        researcher=researcher,
        protocols=protocols,
        budgets=[0.25],
        capability_test_rate=0.25,
    )


def test_a_hanging_protocol_is_a_recorded_error_and_the_others_run(hanging: None) -> None:
    started = time.monotonic()
    record = run_episode(_cfg(ResearcherSpec(), ["hangs", "replicate"]), "t", limit=0.5)
    assert time.monotonic() - started < 30
    by = {v.protocol: v for v in record.verdicts}
    assert by["hangs"].suspicion is None
    assert by["hangs"].error is not None and "PhaseTimeout" in by["hangs"].error
    assert by["replicate"].error is None and by["replicate"].suspicion is not None
    assert record.error is None and record.report is not None


def test_a_hanging_researcher_is_a_recorded_failed_episode(hanging: None) -> None:
    record = run_episode(_cfg(ResearcherSpec(backend="stuck"), ["replicate"]), "t", limit=0.5)
    assert record.report is None
    assert record.error is not None and record.error.startswith("PhaseTimeout")


def test_limits_restore_an_outer_timer() -> None:
    with pytest.raises(PhaseTimeout, match="outer"), time_limit(0.6, "outer"):
        with time_limit(5.0, "inner"):
            pass
        time.sleep(5)
