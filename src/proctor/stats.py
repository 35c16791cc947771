"""Small, honest statistics shared by researchers and protocols (no truth in here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

Z95 = float(ndtri(0.975))


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error."""

    value: float
    se: float

    def interval(self, coverage: float = 0.95) -> tuple[float, float]:
        z = float(ndtri(0.5 + coverage / 2))
        return (self.value - z * self.se, self.value + z * self.se)

    @property
    def z(self) -> float:
        return self.value / self.se if self.se > 0 else np.inf * np.sign(self.value)


def diff_of_means(hi: np.ndarray, lo: np.ndarray) -> Estimate:
    """Welch difference of means, mean(hi) - mean(lo), with its standard error."""
    se = (
        np.sqrt(hi.var(ddof=1) / len(hi) + lo.var(ddof=1) / len(lo))
        if min(len(hi), len(lo)) > 1
        else np.inf
    )
    return Estimate(float(hi.mean() - lo.mean()), float(se))


def ols(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS of y on [1, x]: coefficients and standard errors (intercept first)."""
    design = np.column_stack([np.ones(len(y)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = max(len(y) - design.shape[1], 1)
    resid = y - design @ coef
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    return coef, np.sqrt(np.clip(np.diag(cov), 0.0, None))


def two_sided_p(z: float) -> float:
    """Two-sided normal p-value of a z statistic."""
    # scipy.special avoids scipy.stats' per-call overhead (~50x faster on scalars).
    return float(2 * ndtr(-abs(z)))


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (controls the family-wise error rate)."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, (m - rank) * p[idx])
        adjusted[idx] = min(running, 1.0)
    return adjusted


def bonferroni(pvalues: Sequence[float]) -> np.ndarray:
    """Bonferroni adjusted p-values."""
    p = np.asarray(pvalues, dtype=float)
    return np.minimum(p * max(len(p), 1), 1.0)


def probability_from_p(p_adjusted: float, alpha: float = 0.05, slope: float = 1.5) -> float:
    """Map an adjusted p-value to a claim probability: 0.5 at the decision boundary alpha."""
    z = float(-ndtri(max(p_adjusted, 1e-300) / 2))
    z_crit = float(-ndtri(alpha / 2))
    return float(np.clip(1.0 / (1.0 + np.exp(-slope * (z - z_crit))), 0.02, 0.98))


def wilson(correct: int, n: int, coverage: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if n <= 0:
        return (0.0, 1.0)
    z = float(ndtri(0.5 + coverage / 2))
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))
