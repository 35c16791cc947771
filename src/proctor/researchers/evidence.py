"""Evidence a scripted causal researcher gathers, and the estimates it draws from it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from proctor.core import LabCall
from proctor.stats import Estimate, diff_of_means


@dataclass
class Batch:
    """One interventional call: which variable was set to what, and the samples."""

    call_id: str
    source: str
    value: float
    samples: np.ndarray


@dataclass
class Evidence:
    """What the researcher has gathered: calls by purpose."""

    names: list[str]
    scale: dict[str, tuple[float, float]] = field(default_factory=dict)
    discovery: dict[str, list[Batch]] = field(default_factory=dict)
    query: dict[str, list[Batch]] = field(default_factory=dict)
    pilot_ids: list[str] = field(default_factory=list)

    def index(self, name: str) -> int:
        return self.names.index(name)


def batches_from(call: LabCall, source: str, value: float) -> Batch:
    """Parse an intervene call's result into a Batch."""
    return Batch(call.id, source, value, np.asarray(call.result["samples"], dtype=float))


def effect_between(batches: list[Batch], target: int, lo: float, hi: float) -> Estimate:
    """(mean target | do=hi) - (mean target | do=lo), divided by (hi - lo)."""
    top = np.concatenate([b.samples[:, target] for b in batches if b.value == hi])
    bottom = np.concatenate([b.samples[:, target] for b in batches if b.value == lo])
    est = diff_of_means(top, bottom)
    return Estimate(est.value / (hi - lo), est.se / abs(hi - lo))
