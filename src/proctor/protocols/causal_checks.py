"""Experiments a protocol runs on the ``causal`` lab to check a claim, and their tests.

Shared by ``replicate`` and ``spot_check`` so both run and test experiments the same way:
two-arm contrasts for effects, and (``replicate``) direct designs for edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import hadamard
from scipy.special import ndtr, stdtr

from proctor.core import Claim, Report
from proctor.lab import LabClient, LabError, max_units
from proctor.stats import Estimate, diff_of_means, ols


@dataclass(frozen=True)
class Contrast:
    """An experiment: do(source=lo) vs do(source=hi), measured on target, with the variables
    in `hold` set to fixed values in both arms (then the contrast measures the source's
    direct effect on the target where every other variable is held)."""

    source: str
    target: str
    lo: float
    hi: float
    hold: tuple[tuple[str, float], ...] = ()


def cited_contrast(claim: Claim, report: Report) -> Contrast | None:
    """The contrast a claim's cited interventions ran, read from the report's trace."""
    args = {e.call_id: e.args for e in report.trace if e.type == "action"}
    source, target = claim.content.get("source"), claim.content.get("target")
    values = sorted(
        {
            float(v)
            for cid in claim.evidence
            for name, v in (args.get(cid, {}).get("values") or {}).items()
            if name == source
        }
    )
    if len(values) < 2 or not isinstance(source, str) or not isinstance(target, str):
        return None
    return Contrast(source, target, values[0], values[-1])


def affordable_n(lab: LabClient, budget: float) -> int:
    """Samples per arm a two-arm experiment can have within `budget`."""
    return max_units(lab, "intervene", budget, calls=2)


def run_contrast(lab: LabClient, c: Contrast, n: int) -> Estimate | None:
    """Run both arms with n samples each; the effect per unit of contrast, or None if refused."""
    try:
        arms = [
            lab.call("intervene", values={c.source: v, **dict(c.hold)}, n=n) for v in (c.lo, c.hi)
        ]
    except LabError:
        return None
    cols = [np.asarray(a.result["samples"])[:, a.result["variables"].index(c.target)] for a in arms]
    est = diff_of_means(cols[1], cols[0])
    span = c.hi - c.lo
    return Estimate(est.value / span, est.se / abs(span))


# -- direct edges -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectDesign:
    """An experiment on the direct causes of `target`: every other variable is set by
    intervention in every run, at ``±level`` by the signs of a two-level orthogonal
    (Hadamard) design, so that each varies while every path into the target but its own
    direct edge is cut (Fisher 1935's factorial design; a two-level design identifies any
    additive mechanism, linear or not, since it sees each mechanism at two points only).

    A two-arm contrast on the source alone measures the *total* effect, which cannot tell a
    direct edge from a mediated path, nor find an edge a second path cancels.
    """

    target: str
    factors: tuple[str, ...]
    level: float = 2.0

    @property
    def signs(self) -> np.ndarray:
        """The design: one row per run, one column of ±1 per factor."""
        runs = 1 << max(len(self.factors), 1).bit_length()  # a power of 2 > factors
        return np.asarray(hadamard(runs)[:, 1 : len(self.factors) + 1], dtype=float)

    @property
    def runs(self) -> int:
        return int(self.signs.shape[0])


@dataclass(frozen=True)
class DirectEffects:
    """What a direct design measured: each factor's direct effect on the target per unit of
    its value, and the residual degrees of freedom their standard errors rest on."""

    effects: dict[str, Estimate]
    dof: int


def run_direct_design(lab: LabClient, design: DirectDesign, n: int) -> DirectEffects | None:
    """Run the design with n samples a run and fit the target on the factors' signs (OLS):
    each factor's direct effect is half the difference between its two levels, over `level`.
    None if a run was refused."""
    signs = design.signs
    ys, xs = [], []
    try:
        for row in signs:
            values = {f: float(s * design.level) for f, s in zip(design.factors, row, strict=True)}
            call = lab.call("intervene", values=values, n=n)
            target = call.result["variables"].index(design.target)
            col = np.asarray(call.result["samples"])[:, target]
            ys.append(col)
            xs.append(np.repeat(row[None, :], len(col), axis=0))
    except LabError:
        return None
    y, x = np.concatenate(ys), np.concatenate(xs)
    coef, se = ols(y, x)
    effects = {
        f: Estimate(float(coef[k + 1] / design.level), float(se[k + 1] / design.level))
        for k, f in enumerate(design.factors)
    }
    return DirectEffects(effects, max(len(y) - x.shape[1] - 1, 1))


def edge_p(present: bool, direct: Estimate, min_effect: float, dof: int | None = None) -> float:
    """P-value of what an edge claim asserts, given the measured direct effect: for a claimed
    edge, H0 ``|effect| >= min_effect`` (small p: the edge is not there); for a claimed
    absence, H0 ``effect = 0`` (small p: there is an edge). With `dof`, the statistic is
    referred to Student's t (the standard error was estimated from that many residual
    degrees of freedom), else to the normal."""
    se = max(direct.se, 1e-12)

    def cdf(z: float) -> float:
        return float(stdtr(dof, z)) if dof is not None else float(ndtr(z))

    if present:
        # sup over |effect| >= min_effect of P(|estimate| <= observed): at |effect| = min_effect
        return cdf((abs(direct.value) - min_effect) / se)
    return 2 * cdf(-abs(direct.value) / se)
