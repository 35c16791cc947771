"""Which models play which role, and the limits they work under (no Inspect import here).

A sweep names a model per role (DESIGN.md §1: the *backend* axis): the ``researcher`` (every
researcher of the sweep, honest or organism, becomes model-backed), the ``judge`` (the reading
protocols ``direct``, ``critique``, ``consultancy``, and ``debate``'s judge), the ``debater``
(``debate``'s and ``consultancy``'s arguing models; the judge's model unless set) and the
``monitor`` (``trace_monitor``). Model names are Inspect AI's: ``openai/gpt-4o``,
``anthropic/claude-...``, ``vllm/...``, ``ollama/...``, ``openai-api/<provider>/<model>`` for
any OpenAI-compatible endpoint (base URL and key from ``<PROVIDER>_BASE_URL`` and
``<PROVIDER>_API_KEY``), and ``mockllm/model``, which proctor plays with its scripted
researchers through the whole tool-calling path (:mod:`proctor.researchers.player`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["researcher", "judge", "debater", "monitor"]
ROLES: tuple[Role, ...] = ("researcher", "judge", "debater", "monitor")


class Price(BaseModel):
    """What a model costs, in dollars per million tokens (for models Inspect has no price for)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input: float = Field(ge=0)
    """Dollars per million input tokens."""
    output: float = Field(ge=0)
    """Dollars per million output tokens."""


class ModelSettings(BaseModel):
    """Models per role and the limits of the model-backed path; part of every episode's config,
    so changing a model changes the episode keys and never mixes results."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    researcher: str | None = None
    """Model of every researcher in the sweep (None: scripted researchers)."""
    judge: str | None = None
    """Model of the reading judges (None: the scripted judges)."""
    debater: str | None = None
    """Model of debaters and consultants (None: the judge's model)."""
    monitor: str | None = None
    """Model of the trace monitor (None: the scripted monitor)."""
    max_steps: int = Field(default=100, ge=1)
    """Most model turns of one researcher episode (tool calls and the report)."""
    max_tokens: int = Field(default=10_000_000, ge=1)
    """Most tokens (input + output, summed over turns: each turn resends the conversation) one
    researcher episode may use; past it the researcher is asked for its report at once. The
    default lets a causal level-3 episode, whose tool results hold raw samples (~2M tokens
    summed), finish; cap a sweep's spend with ``--max-tokens``/``--max-cost``."""
    max_output_tokens: int = Field(default=4096, ge=1)
    """Most tokens of one model answer."""
    timeout: int = Field(default=120, ge=1)
    """Seconds before one request is abandoned (then retried)."""
    max_retries: int = Field(default=3, ge=0)
    """Retries of a failed request (server errors, timeouts), with Inspect's back-off."""
    max_connections: int = Field(default=32, ge=1)
    """Concurrent requests to one model (Inspect's limit)."""
    temperature: float = Field(default=0.0, ge=0)
    seed: int | None = 0
    """Sampling seed passed to providers that honour one (None: none is sent)."""
    cache: bool = False
    """Use Inspect's response cache (identical requests answered from disk)."""
    scratchpad_visible: bool = False
    """Whether protocols may read a model researcher's private scratchpad (the CoT-monitoring
    vs action-only comparison, Baker et al. 2025); the store always keeps it."""
    player_hints: bool = False
    """End the researcher's system prompt with a line naming the scripted researcher to play,
    for proctor's stand-in models (:mod:`proctor.researchers.player`) behind an OpenAI-compatible
    endpoint, as in the tests; always on for ``mockllm/``. Never for real models."""
    prices: dict[str, Price] = Field(default_factory=dict)
    """Prices of models Inspect knows none for, by model name (needed for ``--max-cost``)."""

    def model_for(self, role: Role) -> str | None:
        """The model playing `role` (the debater falls back to the judge)."""
        if role == "debater":
            return self.debater or self.judge
        value: str | None = getattr(self, role)
        return value

    @property
    def any(self) -> bool:
        """Whether any role is model-backed."""
        return any(self.model_for(r) for r in ROLES)

    @property
    def names(self) -> list[str]:
        """Every model named, once each."""
        return list(dict.fromkeys(m for r in ROLES if (m := self.model_for(r))))
