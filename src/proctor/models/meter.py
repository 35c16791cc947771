"""Token and cost accounting, and transcripts, for one episode's model calls (no Inspect here).

Every model call of an episode goes through a :class:`Meter`: usage is kept per *caller* (the
researcher, ``direct@0.1``, ``debate@0.3/debater``...) and role, and every conversation is kept
whole as a transcript, failed ones included, so a malformed report or a server error mid-episode
loses nothing. The meter's :class:`ModelLog` is stored on the episode row.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from proctor.models.settings import Role


class ModelUsage(BaseModel):
    """Tokens and dollars one caller spent on one model within an episode."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    caller: str
    """Who called: ``researcher``, or the protocol's caller name and helper (``debate@0.3/pro``)."""
    role: Role
    model: str
    calls: int = Field(ge=0)
    """Model answers received (failed requests are not counted)."""
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cost: float | None = None
    """Dollars, where Inspect or the sweep's prices give a price; None otherwise."""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Transcript(BaseModel):
    """One conversation with a model, in OpenAI chat format (system, user, assistant, tool)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    caller: str
    role: Role
    model: str
    messages: list[dict[str, Any]]
    error: str | None = None
    """Why the conversation ended in failure (malformed report, server error), or None."""


class ModelLog(BaseModel):
    """Every model call of an episode: usage per caller and the transcripts."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    usage: list[ModelUsage] = Field(default_factory=list)
    transcripts: list[Transcript] = Field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(u.tokens for u in self.usage)

    @property
    def cost(self) -> float:
        """Dollars where known (unpriced calls count 0)."""
        return float(sum(u.cost or 0.0 for u in self.usage))

    def tokens_by_role(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for u in self.usage:
            out[u.role] = out.get(u.role, 0) + u.tokens
        return out


class Meter:
    """Collects one episode's model usage and transcripts as they happen."""

    def __init__(self) -> None:
        self._usage: dict[tuple[str, str, str], list[float]] = {}
        self._priced: dict[tuple[str, str, str], bool] = {}
        self._transcripts: list[Transcript] = []

    def add_usage(
        self,
        caller: str,
        role: Role,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cost: float | None,
    ) -> None:
        key = (caller, role, model)
        row = self._usage.setdefault(key, [0, 0, 0, 0.0])
        row[0] += 1
        row[1] += input_tokens
        row[2] += output_tokens
        row[3] += cost or 0.0
        self._priced[key] = self._priced.get(key, True) and cost is not None

    def add_transcript(
        self,
        caller: str,
        role: Role,
        model: str,
        messages: list[dict[str, Any]],
        error: str | None = None,
    ) -> None:
        self._transcripts.append(
            Transcript(caller=caller, role=role, model=model, messages=messages, error=error)
        )

    def tokens(self, caller: str | None = None) -> int:
        """Tokens used so far (by one caller, if given)."""
        return int(sum(r[1] + r[2] for (c, _, _), r in self._usage.items() if caller in (None, c)))

    def log(self) -> ModelLog:
        usage = [
            ModelUsage(
                caller=c,
                role=role,  # type: ignore[arg-type]
                model=m,
                calls=int(r[0]),
                input_tokens=int(r[1]),
                output_tokens=int(r[2]),
                cost=float(r[3]) if self._priced[(c, role, m)] else None,
            )
            for (c, role, m), r in self._usage.items()
        ]
        return ModelLog(usage=usage, transcripts=list(self._transcripts))
