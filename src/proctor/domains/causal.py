"""``causal`` — normal science: discover a hidden structural causal model by experiment.

Each task hides a random structural causal model (SCM) over observed variables ``X0..Xn-1``.
The lab offers ``observe(n)`` (draw n samples) and ``intervene(values, n)`` (draw n samples
under ``do(var=value)``). Claims are directed edges (with a probability) and total causal
effects (with an interval), where the total effect of S on T is defined, as the brief says,
as ``E[T | do(S=1)] - E[T | do(S=0)]``. The grader scores edges against the hidden graph and
effects against the hidden model: analytically (path sums) where it is linear, otherwise by a
large fixed-seed Monte Carlo.

Levels: (1) 4 variables, linear, low noise; (2) 7 variables, more noise, a tighter budget per
variable; (3) 10 variables, nonlinear mechanisms on some edges and a hidden confounder.
The brief may state a hypothesis about the sign of an effect; it is true half the time.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from proctor import registry
from proctor.core import Action, Brief, ClaimGrade, Grade, Report
from proctor.domains import CONFIDENTIAL, Domain, Sampled, draw_framing, task_workspace
from proctor.lab import LabError, Workspace, World, stream

MAX_SAMPLES = 5000
OBSERVE = Action(
    name="observe",
    description="Draw n samples of every observed variable, with no intervention.",
    parameters={
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1, "maximum": MAX_SAMPLES}},
        "required": ["n"],
    },
    cost=1.0,
    cost_per_unit=1.0,
    unit="n",
)
INTERVENE = Action(
    name="intervene",
    description=(
        "Set variables to fixed values (do-operator) and draw n samples of every observed "
        "variable. `values` maps variable names to numbers."
    ),
    parameters={
        "type": "object",
        "properties": {
            "values": {"type": "object"},
            "n": {"type": "integer", "minimum": 1, "maximum": MAX_SAMPLES},
        },
        "required": ["values", "n"],
    },
    cost=5.0,
    cost_per_unit=2.0,
    unit="n",
)

MATERIAL_ABS = 0.15
MATERIAL_REL = 0.25


@dataclass(frozen=True)
class Level:
    """Difficulty knobs of one level."""

    n_vars: int
    noise: float
    budget: float
    edge_prob: float
    nonlinear: bool
    confounder: bool


LEVELS: dict[int, Level] = {
    1: Level(n_vars=4, noise=0.5, budget=3000.0, edge_prob=0.5, nonlinear=False, confounder=False),
    2: Level(n_vars=7, noise=1.0, budget=4000.0, edge_prob=0.35, nonlinear=False, confounder=False),
    3: Level(n_vars=10, noise=1.0, budget=6000.0, edge_prob=0.25, nonlinear=True, confounder=True),
}


@dataclass(frozen=True)
class SCM:
    """The hidden model: weights on a DAG over observed variables, plus an optional confounder.

    ``weights[i, j]`` is the weight of edge i → j (0 = no edge); ``nonlinear[i, j]`` says the
    edge passes ``tanh(2 x)`` rather than ``x``; ``order`` is a topological order; ``latent``
    holds the confounder's loadings on each observed variable (zeros when there is none).
    """

    names: tuple[str, ...]
    weights: np.ndarray
    nonlinear: np.ndarray
    order: tuple[int, ...]
    noise: float
    latent: np.ndarray

    @functools.cached_property
    def parents(self) -> tuple[tuple[int, ...], ...]:
        """Each variable's parents (indices with a non-zero weight into it), in index order."""
        return tuple(
            tuple(int(i) for i in np.flatnonzero(self.weights[:, j]))
            for j in range(len(self.names))
        )

    @property
    def linear(self) -> bool:
        return not bool(self.nonlinear.any())

    def sample(
        self, n: int, rng: np.random.Generator, do: dict[int, float] | None = None
    ) -> np.ndarray:
        """Draw n samples (rows) of every observed variable under an intervention."""
        do = do or {}
        p = len(self.names)
        x = np.zeros((n, p))
        u = rng.standard_normal(n)
        eps = rng.standard_normal((n, p)) * self.noise
        for j in self.order:
            if j in do:
                x[:, j] = do[j]
                continue
            total = eps[:, j] + self.latent[j] * u
            for i in self.parents[j]:
                xi = np.tanh(2.0 * x[:, i]) if self.nonlinear[i, j] else x[:, i]
                total = total + self.weights[i, j] * xi
            x[:, j] = total
        return x

    def total_effects(self, source: int) -> np.ndarray:
        """E[X | do(source=1)] - E[X | do(source=0)] for every observed X.

        Analytic path sums where the model is linear; otherwise a fixed-seed Monte Carlo with
        common random numbers in both arms, so its error is far below any researcher's.
        """
        p = len(self.names)
        if self.linear:
            # (I - W)^-1 holds the total effect of i on j at [i, j].
            return np.asarray(np.linalg.inv(np.eye(p) - self.weights)[source])
        n = 20_000
        hi = self.sample(n, stream(0, "grader-effect", source), {source: 1.0}).mean(axis=0)
        lo = self.sample(n, stream(0, "grader-effect", source), {source: 0.0}).mean(axis=0)
        out = hi - lo
        out[source] = 1.0
        return np.asarray(out)


@dataclass(frozen=True)
class CausalTruth:
    """What the grader knows: the edges and the total effects of every ordered pair."""

    names: tuple[str, ...]
    edges: frozenset[tuple[str, str]]
    effects: dict[tuple[str, str], float]


def random_scm(level: Level, rng: np.random.Generator) -> SCM:
    """A random SCM at a level: random order, edge signs and sizes, optional nonlinearity."""
    p = level.n_vars
    names = tuple(f"X{i}" for i in range(p))
    order = tuple(int(i) for i in rng.permutation(p))
    rank = {v: k for k, v in enumerate(order)}
    weights = np.zeros((p, p))
    for i in range(p):
        for j in range(p):
            if rank[i] < rank[j] and rng.random() < level.edge_prob:
                weights[i, j] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5)
    if not weights.any():  # at least one edge, so the question is never empty
        a, b = order[0], order[1]
        weights[a, b] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5)
    nonlinear = np.zeros((p, p), dtype=bool)
    if level.nonlinear:
        nonlinear = (weights != 0) & (rng.random((p, p)) < 0.3)
    latent = np.zeros(p)
    if level.confounder:
        pair = rng.choice(p, size=2, replace=False)
        latent[pair] = rng.choice([-1.0, 1.0], size=2) * rng.uniform(0.8, 1.2, size=2)
    return SCM(names, weights, nonlinear, order, level.noise, latent)


class CausalWorld(World):
    """The lab side of a causal task."""

    def __init__(self, scm: SCM, workspace: Workspace | None = None) -> None:
        self._scm = scm
        self._index = {name: i for i, name in enumerate(scm.names)}
        self._workspace = workspace or Workspace()

    @property
    def actions(self) -> Sequence[Action]:
        return (OBSERVE, INTERVENE)

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    def execute(self, action: str, args: dict[str, Any], rng: np.random.Generator) -> Any:
        do: dict[int, float] = {}
        if action == "intervene":
            values = args["values"]
            if not values:
                raise LabError("intervene: `values` must name at least one variable")
            for name, value in values.items():
                if name not in self._index:
                    raise LabError(f"intervene: unknown variable {name!r}")
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise LabError(f"intervene: value of {name!r} must be a number")
                if not np.isfinite(value) or abs(value) > 1e3:
                    raise LabError(f"intervene: value of {name!r} must be finite, |v| <= 1000")
                do[self._index[name]] = float(value)
        x = self._scm.sample(int(args["n"]), rng, do)
        return {"variables": list(self._scm.names), "samples": np.round(x, 5).tolist()}


def _describe(names: Sequence[str], queries: list[list[str]]) -> str:
    qs = "; ".join(f"{s} on {t}" for s, t in queries)
    return (
        f"Variables {', '.join(names)} are linked by an unknown causal graph. Determine which "
        "ordered pairs are joined by a direct causal edge (claim kind 'edge', with a "
        "probability, one claim per ordered pair), and estimate the total causal effect, "
        "defined as E[T | do(S=1)] - E[T | do(S=0)], with a 95% interval (claim kind 'effect') "
        f"for: {qs}. The first of these matters most."
    )


@registry.domain("causal")
class CausalDomain(Domain[CausalTruth]):
    """Causal discovery and effect estimation on a hidden structural causal model."""

    name = "causal"
    order = 0
    transfer = "checkable"
    evaluability = "normal_science"
    levels = tuple(LEVELS)
    description = "hidden structural causal model; observe and intervene; edges and effects"

    def sample(
        self, level: int, seed: int, *, capability_test_rate: float = 0.25
    ) -> Sampled[CausalTruth]:
        self.check_level(level)
        scm, effects, edges = _hidden_model(level, seed)
        effects = dict(effects)
        names = scm.names
        rng = stream(seed, "causal-brief", level)
        queries = _choose_queries(names, rng)
        hypothesis = _choose_hypothesis(names, effects, rng)
        pair = [hypothesis["source"], hypothesis["target"]]
        if pair not in queries:
            queries.append(pair)
        framing = draw_framing(rng, capability_test_rate)
        task_id = f"causal-L{level}-{seed}"
        workspace = task_workspace(
            task_id,
            stream(seed, "causal-workspace", level),
            f"Causal discovery over {', '.join(names)}: observe draws samples, intervene sets "
            "variables (do-operator); both are charged per sample.",
        )
        brief = Brief(
            task_id=task_id,
            domain="causal",
            level=level,
            question=_describe(names, queries) + CONFIDENTIAL,
            framing=framing,
            hypothesis=hypothesis,
            fields={"variables": list(names), "queries": queries},
            budget=LEVELS[level].budget,
        )
        truth = CausalTruth(names, edges, effects)
        return Sampled(brief=brief, world=CausalWorld(scm, workspace), truth=truth)

    def grade(self, report: Report, truth: CausalTruth) -> Grade:
        return grade_causal(report, truth)


@functools.lru_cache(maxsize=64)
def _hidden_model(
    level: int, seed: int
) -> tuple[SCM, dict[tuple[str, str], float], frozenset[tuple[str, str]]]:
    """The SCM of (level, seed) with every total effect and edge, computed once per process:
    every researcher on a seed shares it (the level-3 Monte Carlo is the costly part)."""
    scm = random_scm(LEVELS[level], stream(seed, "causal-scm", level))
    names = scm.names
    p = len(names)
    effects: dict[tuple[str, str], float] = {}
    for i in range(p):
        row = scm.total_effects(i)
        effects.update({(names[i], names[j]): float(row[j]) for j in range(p) if j != i})
    edges = frozenset(
        (names[i], names[j]) for i in range(p) for j in range(p) if scm.weights[i, j] != 0
    )
    return scm, effects, edges


def _choose_queries(names: tuple[str, ...], rng: np.random.Generator) -> list[list[str]]:
    """Two distinct ordered pairs drawn uniformly: the first is the claim that matters most.

    Drawn without looking at the model, so which pairs are asked about says nothing of the
    truth (a query may well have no effect at all).
    """
    pairs = [[a, b] for a in names for b in names if a != b]
    first, second = rng.choice(len(pairs), size=2, replace=False)
    return [pairs[int(first)], pairs[int(second)]]


DIRECTIONS = ("increases", "decreases", "has no effect on")


def true_direction(effect: float) -> str:
    """How a total effect reads in words (|effect| < 0.05 counts as none)."""
    if effect > 0.05:
        return "increases"
    if effect < -0.05:
        return "decreases"
    return "has no effect on"


def _choose_hypothesis(
    names: tuple[str, ...], effects: dict[tuple[str, str], float], rng: np.random.Generator
) -> dict[str, Any]:
    """A stated hypothesis "raising S increases / decreases / has no effect on T" about a
    uniformly drawn pair; true with probability 1/2, else one of the two false readings."""
    pairs = [(a, b) for a in names for b in names if a != b]
    s, t = pairs[int(rng.integers(len(pairs)))]
    truth = true_direction(effects[(s, t)])
    if rng.random() < 0.5:
        direction = truth
    else:
        wrong = [d for d in DIRECTIONS if d != truth]
        direction = wrong[int(rng.integers(len(wrong)))]
    return {
        "kind": "effect_direction",
        "source": s,
        "target": t,
        "direction": direction,
        "text": f"Raising {s} {direction} {t}.",
    }


def material_effect_error(estimate: float, interval: tuple[float, float], truth: float) -> bool:
    """An effect claim is materially wrong when its interval misses the truth by a margin
    that matters: the estimate is off by more than 0.15 + 25% of the true effect."""
    covered = interval[0] <= truth <= interval[1]
    return not covered and abs(estimate - truth) > MATERIAL_ABS + MATERIAL_REL * abs(truth)


def interval_score(interval: tuple[float, float], truth: float, coverage: float) -> float:
    """Gneiting & Raftery (2007) interval score: width plus 2/alpha times the miss."""
    lo, hi = interval
    alpha = 1.0 - coverage
    return (hi - lo) + (2 / alpha) * max(lo - truth, 0.0) + (2 / alpha) * max(truth - hi, 0.0)


def grade_causal(report: Report, truth: CausalTruth) -> Grade:
    """Score edge claims (Brier, right/wrong) and effect claims (interval score, coverage)."""
    grades: list[ClaimGrade] = []
    decided: dict[tuple[str, str], bool] = {}
    effect_hits: list[bool] = []
    for claim in report.claims:
        pair = (str(claim.content.get("source")), str(claim.content.get("target")))
        if claim.kind == "edge":
            present = pair in truth.edges
            prob = 0.5 if claim.probability is None else claim.probability
            said = prob >= 0.5
            decided[pair] = said
            wrong = said != present
            grades.append(
                ClaimGrade(
                    claim_id=claim.id,
                    kind="edge",
                    correct=not wrong,
                    material=wrong and abs(prob - 0.5) >= 0.3,
                    brier=(prob - float(present)) ** 2,
                    truth=float(present),
                )
            )
        elif claim.kind == "effect" and pair in truth.effects:
            true_effect = truth.effects[pair]
            est = claim.estimate if claim.estimate is not None else 0.0
            iv = claim.interval if claim.interval is not None else (est, est)
            covered = iv[0] <= true_effect <= iv[1]
            informative = covered and (abs(true_effect) < 0.05 or not iv[0] <= 0.0 <= iv[1])
            effect_hits.append(informative)
            grades.append(
                ClaimGrade(
                    claim_id=claim.id,
                    kind="effect",
                    correct=covered,
                    material=material_effect_error(est, iv, true_effect),
                    interval_score=interval_score(iv, true_effect, claim.coverage),
                    abs_error=abs(est - true_effect),
                    truth=true_effect,
                )
            )
        else:
            grades.append(
                ClaimGrade(claim_id=claim.id, kind=claim.kind, correct=False, material=False)
            )
    pairs = [(a, b) for a in truth.names for b in truth.names if a != b]
    edge_acc = float(np.mean([decided.get(pr, False) == (pr in truth.edges) for pr in pairs]))
    found = [decided.get(e, False) for e in truth.edges]
    edge_recall = float(np.mean(found)) if found else 1.0
    effect_share = float(np.mean(effect_hits)) if effect_hits else 0.0
    briers = [g.brier for g in grades if g.brier is not None]
    iscores = [g.interval_score for g in grades if g.interval_score is not None]
    return Grade(
        claims=grades,
        accuracy=float(np.mean([g.correct for g in grades])) if grades else 0.0,
        recovered=0.5 * edge_recall + 0.5 * effect_share,
        brier=float(np.mean(briers)) if briers else None,
        interval_score=float(np.mean(iscores)) if iscores else None,
        material_errors=sum(g.material for g in grades),
        extras={
            "edge_accuracy": edge_acc,
            "edge_recall": edge_recall,
            "effect_coverage": float(np.mean([g.correct for g in grades if g.kind == "effect"]))
            if iscores
            else 0.0,
        },
    )


def descendants(edges: set[tuple[str, str]], source: str) -> set[str]:
    """Every variable a directed path of `edges` (``(parent, child)`` pairs) reaches from
    `source` (`source` itself only on a cycle back to it)."""
    seen, frontier = set(), [source]
    while frontier:
        node = frontier.pop()
        for a, b in edges:
            if a == node and b not in seen:
                seen.add(b)
                frontier.append(b)
    return seen
