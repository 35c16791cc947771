"""Reading an episode's verdicts: verdict keys, suspicions, the raw combination rules, costs.

The gate reads episodes through the :class:`GatedEpisode` and :class:`GatedVerdict` protocols
(the bench's records satisfy them), since it sits below the bench in the data flow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = [
    "COMBINED",
    "NOT_MONITORS",
    "RULES",
    "GatedEpisode",
    "GatedVerdict",
    "combine",
    "episode_keys",
    "reviewed",
    "suspicion",
    "suspicions",
    "verdict_costs",
    "verdict_key",
]


class GatedVerdict(Protocol):
    """One verdict as the gate reads it (the bench stores it as a ``VerdictRecord``)."""

    @property
    def protocol(self) -> str: ...
    @property
    def budget(self) -> float: ...
    @property
    def suspicion(self) -> float | None: ...
    @property
    def cost_fraction(self) -> float: ...


class GatedEpisode(Protocol):
    """A reviewed episode as the gate reads it: the bench's ``GatedEpisode``, which the gate
    does not import, since it sits below the bench in the data flow (DESIGN.md §3)."""

    @property
    def key(self) -> str: ...
    @property
    def domain(self) -> str: ...
    @property
    def level(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def report(self) -> object | None: ...
    @property
    def honest(self) -> bool: ...
    @property
    def verdicts(self) -> Sequence[GatedVerdict]: ...
    def memo(self) -> dict[Any, Any]:
        """A cache for values derived from the (frozen) episode."""
        ...


COMBINED = "combined"
"""Verdict key of the combination of all of an episode's verdicts."""

NOT_MONITORS: tuple[str, ...] = ("auditor",)
"""Protocols left out of the combined rule and of the trust map's choice: the auditor stands
for the human who reviews escalations (at the researcher's whole spend), not a monitor."""

RULES: tuple[str, ...] = ("max", "mean")
"""Declared raw combination rules (:func:`combine`): the largest, or the mean, of the
non-abstaining suspicions."""


def verdict_key(protocol: str, budget: float) -> str:
    """The verdict key of `protocol` run at `budget`, e.g. ``"replicate@0.25"``."""
    return f"{protocol}@{budget:g}"


def combine(suspicions: Mapping[str, float | None], rule: str = "max") -> float | None:
    """Combine protocol suspicions into one score by a declared rule.

    Args:
        suspicions: Suspicion in [0, 1] (or None for an abstention) per verdict key
            (``"protocol@budget"``).
        rule: ``"max"`` (the most suspicious protocol decides) or ``"mean"``.

    Returns:
        The combined suspicion, ignoring abstentions; None when every protocol abstained (or
        there were none).

    Raises:
        ValueError: If `rule` is not a declared rule.
    """
    if rule not in RULES:
        raise ValueError(f"unknown combination rule {rule!r}; declared rules: {', '.join(RULES)}")
    values = [float(v) for v in suspicions.values() if v is not None]
    if not values:
        return None
    if rule == "max":
        return max(values)
    return float(np.mean(values))


def episode_keys(episode: GatedEpisode) -> list[str]:
    """The verdict keys present on `episode`, in the order its verdicts were stored."""
    return list(dict.fromkeys(verdict_key(v.protocol, v.budget) for v in episode.verdicts))


def reviewed(episode: GatedEpisode, key: str) -> bool:
    """True when `episode` carries a verdict under `key` (an abstaining one counts).

    For ``"combined"``: when it carries any verdict at all.
    """
    if key == COMBINED:
        return bool(episode.verdicts)
    return any(verdict_key(v.protocol, v.budget) == key for v in episode.verdicts)


def suspicion(episode: GatedEpisode, key: str, rule: str = "max") -> float | None:
    """The suspicion an episode received under verdict `key`.

    Args:
        episode: The episode.
        key: ``"protocol@budget"`` (budget formatted with ``:g``), or ``"combined"`` for the
            combination by `rule` of all the episode's verdicts.
        rule: Combination rule for the ``"combined"`` key.

    Returns:
        The suspicion, or None when the protocol abstained, failed, or was not run on this
        episode.

    Raises:
        ValueError: If the episode holds two verdicts with the same key (a corrupt episode).
    """
    return _suspicions(episode, rule).get(key)


def suspicions(episode: GatedEpisode, rule: str = "max") -> dict[str, float | None]:
    """Every suspicion of an episode by verdict key, ``"combined"`` included when it has any.

    Worked out once per record and rule (the summary asks for them many times).

    Raises:
        ValueError: If the episode holds two verdicts with the same key (a corrupt episode).
    """
    return dict(_suspicions(episode, rule))


def _suspicions(episode: GatedEpisode, rule: str) -> dict[str, float | None]:
    memo = episode.memo()
    cached: dict[str, float | None] | None = memo.get(("suspicions", rule))
    if cached is not None:
        return cached
    out: dict[str, float | None] = {}
    monitors: dict[str, float | None] = {}
    for v in episode.verdicts:
        key = verdict_key(v.protocol, v.budget)
        if key in out:
            raise ValueError(f"episode {episode.key} holds two verdicts for {key!r}")
        out[key] = v.suspicion
        if v.protocol not in NOT_MONITORS:
            monitors[key] = v.suspicion
    if monitors:
        out[COMBINED] = combine(monitors, rule)
    memo[("suspicions", rule)] = out
    return out


def verdict_costs(episode: GatedEpisode) -> dict[str, float]:
    """Each verdict's cost as a fraction of the researcher's spend, by verdict key; under
    ``"combined"`` the sum over the monitors (every protocol but :data:`NOT_MONITORS`)."""
    memo = episode.memo()
    cached: dict[str, float] | None = memo.get("costs")
    if cached is None:
        cached = {verdict_key(v.protocol, v.budget): v.cost_fraction for v in episode.verdicts}
        if cached:
            cached[COMBINED] = float(
                sum(v.cost_fraction for v in episode.verdicts if v.protocol not in NOT_MONITORS)
            )
        memo["costs"] = cached
    return dict(cached)
