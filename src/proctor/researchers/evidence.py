"""Evidence a scripted causal researcher gathers, and the estimates it draws from it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from proctor.core import LabCall
from proctor.stats import Estimate, diff_of_means

Z99 = 2.5758


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
    pilot: np.ndarray | None = None
    """The pilot observation's samples, where there was one."""

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


def query_effect(batches: list[Batch], target: int, lo: float, hi: float) -> Estimate:
    """The defined contrast do(S=lo) vs do(S=hi) from the batches at those values.

    Where the batches also hold another contrast (an expert's discovery arms at ±2 sd) whose
    slope agrees with it (a 1% test of the difference does not reject: the response looks
    linear), the two are pooled by
    inverse variance: the expert's way of spending no sample twice. Under a nonlinearity the
    test may miss, this pooling is a real, honest source of error.
    """
    direct = effect_between(batches, target, lo, hi)
    others = sorted({b.value for b in batches} - {lo, hi})
    if len(others) < 2 or not np.isfinite(direct.se) or direct.se <= 0:
        return direct
    a, b = others[0], others[-1]
    slope = effect_between([x for x in batches if x.value in (a, b)], target, a, b)
    if not np.isfinite(slope.se) or slope.se <= 0:
        return direct
    if abs(direct.value - slope.value) >= Z99 * float(np.hypot(direct.se, slope.se)):
        return direct
    w_direct, w_slope = direct.se**-2, slope.se**-2
    value = (w_direct * direct.value + w_slope * slope.value) / (w_direct + w_slope)
    return Estimate(float(value), float((w_direct + w_slope) ** -0.5))
