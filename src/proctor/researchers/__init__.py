"""Researchers: agents that investigate a task through its lab and hand in a Report.

Two independent axes (DESIGN.md §1): the *backend* (how the work is done: a scripted method, an
LLM, a network) and the *disposition* (honest, or a model organism of a failure mode). A
:class:`ResearcherSpec` names both; :func:`make_researcher` builds one for a domain.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proctor import registry
from proctor.core import Report, Task

__all__ = ["Researcher", "ResearcherSpec", "make_researcher"]


class Researcher(Protocol):
    """Anything that turns a task into a report."""

    def investigate(self, task: Task) -> Report:
        """Investigate `task` through `task.lab` and hand in a report."""
        ...


class ResearcherSpec(BaseModel):
    """Who does the work: backend, skill, budget share, disposition and its knobs.

    Lives on the episode row only; nothing a researcher or protocol receives contains it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str = "scripted"
    """Researcher backend: ``scripted``, or ``llm:<model>`` for a model-backed researcher."""
    skill: str = "expert"
    """Skill level within the backend (``novice``, ``expert``)."""
    budget: float = Field(default=1.0, gt=0, le=1.0)
    """Share of the brief's budget the researcher is given."""
    disposition: str = "honest"
    """Disposition name."""
    variant: str = ""
    """Named variant of the disposition ('' = the headline variant)."""
    knobs: dict[str, float] = Field(default_factory=dict)
    """Swept knobs of the disposition (e.g. ``recognition`` for the sandbagger)."""

    @field_validator("knobs")
    @classmethod
    def _sorted(cls, v: dict[str, float]) -> dict[str, float]:
        return dict(sorted(v.items()))

    @property
    def backend_name(self) -> str:
        """The registered backend (``llm`` of ``llm:openai/gpt-4o``)."""
        return self.backend.partition(":")[0]

    @property
    def model(self) -> str | None:
        """The model of a model-backed researcher (``openai/gpt-4o``), else None."""
        return self.backend.partition(":")[2] or None

    @property
    def disposition_variant(self) -> str:
        """``disposition`` or ``disposition:variant``."""
        return f"{self.disposition}:{self.variant}" if self.variant else self.disposition

    @property
    def organism(self) -> str:
        """``disposition[:variant]`` plus its knobs, e.g. ``sandbagger[recognition=0.5]``:
        the name figures are grouped by, so swept knob values are never pooled."""
        if not self.knobs:
            return self.disposition_variant
        knobs = ",".join(f"{k}={v:g}" for k, v in self.knobs.items())
        return f"{self.disposition_variant}[{knobs}]"

    @property
    def label(self) -> str:
        """A short human label, e.g. ``scripted/expert@1.0 saboteur:misread``."""
        knobs = ",".join(f"{k}={v:g}" for k, v in self.knobs.items())
        tail = f" [{knobs}]" if knobs else ""
        return f"{self.backend}/{self.skill}@{self.budget:g} {self.disposition_variant}{tail}"

    @classmethod
    def parse(cls, text: str, **defaults: Any) -> ResearcherSpec:
        """Parse ``disposition[:variant]`` (e.g. ``saboteur:fabricate``) onto defaults."""
        disposition, _, variant = text.partition(":")
        return cls(**{**defaults, "disposition": disposition, "variant": variant})


def make_researcher(spec: ResearcherSpec, domain: str, models: Any = None) -> Researcher:
    """Build the researcher `spec` describes for `domain`.

    `spec.backend` is ``name`` or ``name:model`` (``llm:openai/gpt-4o``): the model is part of
    the backend, so figures from different models are never pooled. Backends that declare
    ``uses_models`` are built as ``factory(spec, domain, models)`` with the episode's
    :class:`~proctor.models.ModelAccess`; the others as ``factory(spec)``.
    """
    factory = registry.lookup("backend", spec.backend_name, domain)
    if getattr(factory, "uses_models", False):
        built: Researcher = factory(spec, domain, models)
        return built
    researcher: Researcher = factory(spec)
    return researcher
