"""Small, honest statistics shared by researchers and protocols (no truth in here)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
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


def multiplicities(rng: np.random.Generator, n: int, n_resamples: int) -> np.ndarray:
    """Bootstrap multiplicities of `n` units: row r counts how often each unit is drawn in
    resample r (each row sums to n)."""
    if n <= 0:
        return np.zeros((n_resamples, 0))
    draws = rng.integers(0, n, size=(n_resamples, n))
    flat = (draws + n * np.arange(n_resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(float)


def cluster_bootstrap(
    statistic: Callable[[Sequence[np.ndarray]], np.ndarray],
    sizes: Sequence[int],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    coverage: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile interval of a statistic under a cluster (block) bootstrap.

    The resampling units are clusters — the shared sources of dependence, not the
    observations: every observation of a drawn cluster comes with it. With several crossed
    factors (e.g. tasks, and the seeds of a pool the tasks share) each factor's clusters are
    drawn independently and an observation's weight is the product of its clusters'
    multiplicities (the pigeonhole bootstrap, Owen 2007; mildly conservative). One factor of
    singleton clusters is the ordinary bootstrap.

    Args:
        statistic: Given one multiplicity matrix per factor, of shape
            ``(n_resamples, sizes[k])``, returns the statistic of each resample, shape
            ``(n_resamples,)`` (NaN where undefined; those resamples are dropped).
        sizes: Number of clusters of each factor.
        n_resamples: Resamples.
        seed: Seed of the resampling stream (the interval is deterministic).
        coverage: Coverage of the percentile interval.

    Returns:
        ``(lo, hi)``, or None when no resample gives a finite statistic.
    """
    rng = np.random.default_rng(seed)
    weights = [multiplicities(rng, int(n), n_resamples) for n in sizes]
    stats = np.asarray(statistic(weights), dtype=float).reshape(-1)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return None
    tail = 50.0 * (1.0 - coverage)
    lo, hi = np.percentile(stats, [tail, 100.0 - tail])
    return float(lo), float(hi)


def cluster_mean(
    values: Sequence[float],
    clusters: Sequence[Hashable],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    coverage: float = 0.95,
) -> tuple[float, tuple[float, float] | None, int]:
    """Mean of `values` with a one-way cluster bootstrap interval: ``(mean, interval,
    number of clusters)``; clusters are drawn with replacement and bring all their values.
    Each value its own cluster gives the ordinary bootstrap of the mean."""
    x = np.asarray(values, dtype=float)
    if x.size != len(clusters):
        raise ValueError("cluster_mean needs one cluster per value")
    if x.size == 0:
        return float("nan"), None, 0
    ids = {c: i for i, c in enumerate(dict.fromkeys(clusters))}
    member = np.zeros((len(ids), x.size))
    member[[ids[c] for c in clusters], np.arange(x.size)] = 1.0
    sums, counts = member @ x, member.sum(axis=1)

    def stat(w: Sequence[np.ndarray]) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            out: np.ndarray = (w[0] @ sums) / (w[0] @ counts)
        return out

    interval = cluster_bootstrap(
        stat, [len(ids)], n_resamples=n_resamples, seed=seed, coverage=coverage
    )
    return float(x.mean()), interval, len(ids)
