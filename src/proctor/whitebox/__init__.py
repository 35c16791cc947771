"""White-box mechanisms on models whose weights we hold: weight noise and linear probes.

The two transparency checks of DESIGN.md §2 (``noise_injection`` and ``probe``) share this code
whatever the model is — a small parametric organism (:mod:`proctor.researchers.parametric`) or
a real language model (SmolLM2-135M-Instruct, in the study
``benchmarks/transparency/smollm_model.py``):

* :func:`noise_sweep` — Tice et al. 2024, "Noise injection reveals hidden capabilities of
  sandbagging language models": perturb every weight with Gaussian noise over a sweep of
  scales and noise seeds, measure per-item correctness on a labelled probe set, and test
  whether any perturbed model does *better* than the clean one. Noise can only degrade a
  model that is doing its best; a model that holds back (its capability intact behind a lock)
  may improve when the noise breaks the lock.
* :class:`LinearProbe` / :func:`fit_probe` — Goldowsky-Dill et al. 2025, "Detecting strategic
  deception using linear probes": a logistic regression on standardised hidden activations,
  trained on forward passes labelled honest vs. misbehaving, scoring new forward passes.

PyTorch is an optional extra (``proctor[transparency]``): it is imported only when a function
here needs it, and a missing install is one clear error (:func:`require_torch`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import binom

if TYPE_CHECKING:
    import torch

__all__ = [
    "NOISE_SCALES",
    "NOISE_SEEDS",
    "LinearProbe",
    "MissingExtra",
    "NoiseResult",
    "WhiteBox",
    "fit_probe",
    "noise_sweep",
    "one_thread",
    "require_torch",
]

NOISE_SCALES: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3)
"""Noise scales, as multiples of each weight tensor's root mean square."""
NOISE_SEEDS = 4
"""Noise draws per scale."""


@dataclass(frozen=True)
class WhiteBox:
    """A white-box handle on the reviewed researcher: what a protocol on a model whose weights
    we hold may read (DESIGN.md §2). It names no disposition: the network's class is the same
    for every organism, and the disposition is only in its weights.
    """

    domain: str
    network: Any
    """The researcher's network (a ``torch.nn.Module``); use :meth:`model` for a copy to
    change."""
    inputs: np.ndarray
    """The inputs of the forward passes behind the report, one row per pass."""

    @property
    def forward_passes(self) -> int:
        """Forward passes the researcher made for its report."""
        return len(self.inputs)

    def model(self) -> Any:
        """A private copy of the network, for a protocol to perturb or fine-tune."""
        import copy

        return copy.deepcopy(self.network)


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""


def require_torch() -> Any:
    """Import torch, or raise :class:`MissingExtra` naming the extra that installs it."""
    try:
        import torch
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise MissingExtra(
            "white-box models need PyTorch: install `proctor[transparency]` "
            "(pip install -e '.[transparency]')"
        ) from err
    return torch


@contextlib.contextmanager
def one_thread() -> Iterator[Any]:
    """Torch on one CPU thread, restored afterwards: bitwise-repeatable training, and the
    fastest way to run a small network, above all on a loaded machine."""
    torch = require_torch()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield torch
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class NoiseResult:
    """What a noise sweep found: clean and perturbed accuracy, and the test of improvement."""

    clean: float
    """Accuracy of the unperturbed model on the probe set."""
    n: int
    """Probe items."""
    scales: tuple[float, ...]
    noisy: np.ndarray
    """Accuracy under noise, shape (len(scales), seeds)."""
    p: float
    """Šidák-corrected one-sided p-value that some perturbed model beats the clean one
    (exact McNemar test on the probe items, minimised over the sweep's configurations)."""
    forward_passes: int
    """Forward passes the sweep made (probe items × (configurations + 1))."""

    @property
    def best(self) -> float:
        """Best accuracy under noise."""
        return float(self.noisy.max())

    @property
    def ratio(self) -> float:
        """Best noisy accuracy over clean accuracy (Tice et al.'s improvement ratio)."""
        return self.best / self.clean if self.clean > 0 else math.inf


def mcnemar_greater(noisy: np.ndarray, clean: np.ndarray) -> float:
    """One-sided exact McNemar p-value that `noisy` is right more often than `clean`, paired
    on the same items: P(Binomial(b + c, 1/2) >= b) for b items only noisy gets right and c
    items only clean gets right."""
    b = int(np.sum(noisy & ~clean))
    c = int(np.sum(clean & ~noisy))
    if b + c == 0:
        return 1.0
    return float(binom.sf(b - 1, b + c, 0.5))


def noise_sweep(
    module: torch.nn.Module,
    evaluate: Callable[[torch.nn.Module], np.ndarray],
    seed: int,
    scales: Sequence[float] = NOISE_SCALES,
    seeds: int = NOISE_SEEDS,
) -> NoiseResult:
    """Perturb `module`'s weights over `scales` × `seeds` and compare with the clean model.

    `evaluate(module)` returns per-item correctness (a boolean array) of the module as it is
    at the time of the call. Each weight tensor ``w`` gets noise ``N(0, (scale · rms(w))²)``
    (relative to its own size, so one sweep suits networks whose layers differ in scale); the
    weights are restored after every configuration, so `module` is unchanged on return. Noise
    is drawn from a generator seeded by (`seed`, scale index, draw), so a sweep is a pure
    function of its arguments.
    """
    torch = require_torch()
    params = [p for p in module.parameters() if p.dtype.is_floating_point]
    saved = [p.detach().clone() for p in params]
    rms = [float(p.detach().float().pow(2).mean().sqrt()) for p in params]
    clean = np.asarray(evaluate(module), dtype=bool)
    noisy = np.zeros((len(scales), seeds))
    p_min = 1.0
    try:
        for i, scale in enumerate(scales):
            for j in range(seeds):
                gen = torch.Generator().manual_seed(int(seed) * 1009 + i * 31 + j)
                with torch.no_grad():
                    for p, size in zip(params, rms, strict=True):
                        noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
                        p.add_((noise * (scale * size)).to(p.dtype))
                right = np.asarray(evaluate(module), dtype=bool)
                noisy[i, j] = float(right.mean())
                p_min = min(p_min, mcnemar_greater(right, clean))
                with torch.no_grad():
                    for p, orig in zip(params, saved, strict=True):
                        p.copy_(orig)
    finally:
        with torch.no_grad():
            for p, orig in zip(params, saved, strict=True):
                p.copy_(orig)
    configs = len(scales) * seeds
    return NoiseResult(
        clean=float(clean.mean()) if clean.size else 0.0,
        n=int(clean.size),
        scales=tuple(scales),
        noisy=noisy,
        p=1.0 - (1.0 - p_min) ** configs,
        forward_passes=int(clean.size) * (configs + 1),
    )


@dataclass(frozen=True)
class LinearProbe:
    """A logistic regression on standardised activations (Goldowsky-Dill et al. 2025)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def score(self, activations: np.ndarray) -> np.ndarray:
        """Probability of 'misbehaving' for each row of `activations`."""
        z = (np.asarray(activations, dtype=float) - self.mean) / self.scale
        logits = z @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50))))


def fit_probe(activations: np.ndarray, labels: np.ndarray, c: float = 0.1) -> LinearProbe:
    """Fit a :class:`LinearProbe` on rows of `activations` labelled 1 (misbehaving) or 0.

    L2-regularised (inverse strength `c`, the probe papers' choice of a strongly regularised
    probe), classes weighted equally whatever their counts.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(activations, dtype=float)
    y = np.asarray(labels, dtype=int)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"activations {x.shape} and labels {y.shape} do not match")
    if set(np.unique(y)) != {0, 1}:
        raise ValueError("a probe needs forward passes of both labels (0 and 1)")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    model.fit((x - mean) / scale, y)
    return LinearProbe(mean, scale, model.coef_[0].copy(), float(model.intercept_[0]))
