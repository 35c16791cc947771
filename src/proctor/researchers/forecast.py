"""Scripted researchers for ``forecast`` (conceptual): the honest methods, the honest strategy
and the researcher; the organisms are in :mod:`proctor.researchers.forecast_organisms`.

Both honest methods read the recorded history through the lab (as much as their budget buys,
most recent years first) and never see the future.

* The **expert** fits a small structural model pooled over regions by least squares — technology
  growth on investment and conflict, resource change on regeneration and extraction terms,
  conflict (logit) on scarcity and neighbours' conflict, population growth on investment,
  conflict and technology growth with a fixed effect per region — and simulates it forward with
  parameter and shock uncertainty (200 paths). Forecasts, policy effects (common random numbers
  between the policy and the status quo) and the regime probability come from those paths. It
  knows where its model leaves the data: a policy interval is widened in proportion to how far
  the lever lies outside the range it has seen, and the regime probability is pulled toward 0.5
  by the share of paths whose resources fall below anything in the history.
* The **novice** extrapolates each region's population trend linearly, reads a policy effect off
  a pooled regression of population growth on the lever, and puts the regime probability at
  the (smoothed) share of past years in which it occurred.

Each reports its method's back-test coverage: refitted on the years before a cutoff and
forecasting the last years of the history (rolling origins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from proctor import registry
from proctor.core import ActionEvent, Brief, Claim, LabAccess, Report, Task, TraceEvent
from proctor.domains.forecast import CONFLICT_LINE, VARIABLES
from proctor.lab import LabError, stream
from proctor.researchers import ResearcherSpec
from proctor.researchers.strategy import (
    BaseStrategy,
    check_skill,
    make_strategy,
    open_task,
)
from proctor.stats import Z95

PATHS = 200


@dataclass
class History:
    """What the researcher has read: years x regions arrays and the calls they came from."""

    data: dict[str, np.ndarray]
    first_year: int
    calls: list[str]

    @property
    def years(self) -> int:
        return int(self.data["log_pop"].shape[0])

    def window(self, start: int, end: int) -> History:
        """Rows [start, end) of what was read (indices into the read window)."""
        return History({k: v[start:end] for k, v in self.data.items()}, self.first_year, self.calls)


def read_history(
    lab: LabAccess, regions: int, history: int, years: Callable[[int], int] | None = None
) -> History:
    """Read the most recent years of every region that the budget allows (equal per region),
    or as many of them as `years` (given that number) chooses."""
    per_region = lab.remaining / regions
    action = next(a for a in lab.actions if a.name == "history")
    n = int(min(history, (per_region - action.cost) / max(action.cost_per_unit, 1e-9) + 1e-9))
    if years is not None:
        n = max(min(int(years(n)), n), 0)
    if n < 4:
        raise LabError(f"budget {lab.remaining:g} buys under 4 years of history per region")
    start = history - n
    cols: dict[str, list[list[float]]] = {}
    calls = []
    for r in range(regions):
        call = lab.call("history", region=r, start=start, n=n)
        calls.append(call.id)
        for key, values in call.result.items():
            if isinstance(values, list) and key != "years":
                cols.setdefault(key, []).append(values)
    data = {k: np.array(v, dtype=float).T for k, v in cols.items()}
    return History(data, start, calls)


def lstsq(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of y on the columns of x (no intercept added): coefficients and their
    covariance matrix."""
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    sigma2 = float(resid @ resid) / max(len(y) - x.shape[1], 1)
    return beta, sigma2 * np.linalg.pinv(x.T @ x)


@dataclass(frozen=True)
class ModelSpec:
    """One specification of the expert's structural model."""

    window: float = 1.0
    """Share of the read years used (the most recent ones)."""
    quadratic: bool = False
    """Add squared lever terms (fits the past better; extrapolates wildly)."""


@dataclass
class Fitted:
    """Least-squares fits of the four equations: (coefficients, covariance, residual sd)."""

    eqs: dict[str, tuple[np.ndarray, np.ndarray, float]]
    spec: ModelSpec
    regions: int


def _design(h: History, spec: ModelSpec) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    d = h.data
    pop, res, tech, con = d["log_pop"], d["resources"], d["log_tech"], d["conflict"]
    inv, ext = d["investment"], d["extraction"]
    r = pop.shape[1]
    now = slice(0, -1)
    d_tech = (tech[1:] - tech[:-1]).ravel()
    others = ((con.sum(axis=1, keepdims=True) - con) / max(r - 1, 1))[now].ravel()
    s, i, e, c, a = (x[now].ravel() for x in (res, inv, ext, con, tech))
    quad_i = [i**2] if spec.quadratic else []
    quad_e = [e * s * e] if spec.quadratic else []
    fe = np.kron(np.ones((pop.shape[0] - 1, 1)), np.eye(r))
    return {
        "tech": (d_tech, np.column_stack([np.ones_like(i), i, c, *quad_i])),
        "resources": (
            (res[1:] - res[:-1]).ravel(),
            np.column_stack([s * (1 - s), e * s, e * s * a, *quad_e]),
        ),
        "conflict": (
            logit(np.clip(con[1:], 1e-4, 1 - 1e-4)).ravel(),
            np.column_stack([np.ones_like(s), 1 - s, others]),
        ),
        "pop": ((pop[1:] - pop[:-1]).ravel(), np.column_stack([fe, i, c, d_tech, *quad_i])),
    }


def fit(h: History, spec: ModelSpec) -> Fitted:
    """Fit every equation on the most recent `spec.window` share of `h`."""
    keep = max(round(h.years * spec.window), 6)
    h = h.window(h.years - min(keep, h.years), h.years)
    eqs = {}
    for name, (y, x) in _design(h, spec).items():
        beta, cov = lstsq(y, x)
        resid = y - x @ beta
        dof = max(len(y) - x.shape[1], 1)
        eqs[name] = (beta, cov, float(np.sqrt(resid @ resid / dof)))
    return Fitted(eqs, spec, h.data["log_pop"].shape[1])


def simulate(
    model: Fitted,
    start: dict[str, np.ndarray],
    levers: tuple[np.ndarray, np.ndarray],
    steps: int,
    rng: np.random.Generator,
    paths: int = PATHS,
) -> dict[str, np.ndarray]:
    """Simulate the fitted model `steps` years from `start` (one value per region), drawing
    coefficients once per path and shocks every year. The first year runs on the lever settings
    recorded in `start` (they were already in force); later years on `levers`. Returns
    (steps, paths, regions) arrays."""
    r = model.regions
    draws = {
        k: rng.multivariate_normal(b, (cov + cov.T) / 2, size=paths, method="cholesky")
        if np.all(np.isfinite(cov))
        else np.broadcast_to(b, (paths, len(b)))
        for k, (b, cov, _) in model.eqs.items()
    }
    sd = {k: v[2] for k, v in model.eqs.items()}
    pop, res, tech, con = (
        np.broadcast_to(start[k], (paths, r)).copy()
        for k in ("log_pop", "resources", "log_tech", "conflict")
    )
    quad = model.spec.quadratic
    out: dict[str, list[np.ndarray]] = {"log_pop": [], "resources": [], "conflict": []}
    for year in range(steps):
        now = (start["investment"], start["extraction"]) if year == 0 else levers
        inv = np.broadcast_to(now[0], (paths, r))
        ext = np.broadcast_to(now[1], (paths, r))
        bt, br, bc, bp = draws["tech"], draws["resources"], draws["conflict"], draws["pop"]
        d_tech = bt[:, [0]] + bt[:, [1]] * inv + bt[:, [2]] * con
        if quad:
            d_tech = d_tech + bt[:, [3]] * inv**2
        d_tech = d_tech + sd["tech"] * rng.standard_normal((paths, r))
        d_res = (
            br[:, [0]] * res * (1 - res) + br[:, [1]] * ext * res + br[:, [2]] * ext * res * tech
        )
        if quad:
            d_res = d_res + br[:, [3]] * ext * res * ext
        others = (con.sum(axis=1, keepdims=True) - con) / max(r - 1, 1)
        z = bc[:, [0]] + bc[:, [1]] * (1 - res) + bc[:, [2]] * others
        d_pop = bp[:, :r] + bp[:, [r]] * inv + bp[:, [r + 1]] * con + bp[:, [r + 2]] * d_tech
        if quad:
            d_pop = d_pop + bp[:, [r + 3]] * inv**2
        pop = pop + d_pop + sd["pop"] * rng.standard_normal((paths, r))
        res = np.clip(res + d_res + sd["resources"] * rng.standard_normal((paths, r)), 0.01, 1.0)
        tech = tech + d_tech
        con = expit(z + sd["conflict"] * rng.standard_normal((paths, r)))
        out["log_pop"].append(pop)
        out["resources"].append(res)
        out["conflict"].append(con)
    return {k: np.array(v) for k, v in out.items()}


def status_quo(h: History, end: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each region's mean lever settings over the last 10 read years before `end`."""
    end = h.years if end is None else end
    window = slice(max(end - 10, 0), end)
    return h.data["investment"][window].mean(axis=0), h.data["extraction"][window].mean(axis=0)


def last_state(h: History, row: int = -1) -> dict[str, np.ndarray]:
    """One read year of every variable (state and the lever settings in force that year)."""
    return {k: h.data[k][row] for k in VARIABLES}


@dataclass(frozen=True)
class Estimate:
    """An estimate with its 95% interval."""

    value: float
    lo: float
    hi: float

    def widened(self, factor: float) -> Estimate:
        half = (self.hi - self.lo) / 2 * factor
        mid = (self.hi + self.lo) / 2
        return Estimate(self.value, mid - half, mid + half)

    def shifted(self, by: float) -> Estimate:
        return Estimate(self.value + by, self.lo + by, self.hi + by)


def quantiles(x: np.ndarray) -> Estimate:
    lo, hi = np.quantile(x, [0.025, 0.975])
    return Estimate(float(x.mean()), float(lo), float(hi))


@dataclass
class Answers:
    """A method's answers before they become claims."""

    forecasts: list[Estimate]
    policies: list[Estimate]
    regime: float
    backtest: float
    spec: ModelSpec | None = None


def out_of_range(h: History, lever: str, value: float) -> float:
    """How far `value` lies outside the lever's range in the read history, in units of it."""
    seen = h.data[lever]
    lo, hi = float(seen.min()), float(seen.max())
    span = max(hi - lo, 1e-6)
    return max(value - hi, lo - value, 0.0) / span


class ExpertMethod:
    """The structural model, simulated forward (see the module docstring)."""

    def __init__(self, brief: Brief, rng: np.random.Generator) -> None:
        self.brief = brief
        self.rng = rng
        self.steps = int(brief.fields["horizon"]) + 1  # the last record is year T-1

    def answer(self, h: History, spec: ModelSpec, humble: bool = True) -> Answers:
        model = fit(h, spec)
        sq = status_quo(h)
        seed = int(self.rng.integers(2**32))
        base = simulate(model, last_state(h), sq, self.steps, np.random.default_rng(seed))
        forecasts = [quantiles(base["log_pop"][-1, :, r]) for r in range(model.regions)]
        policies = []
        for q in self.brief.fields["policies"]:
            inv, ext = sq[0].copy(), sq[1].copy()
            (inv if q["lever"] == "investment" else ext)[q["region"]] = q["value"]
            alt = simulate(
                model, last_state(h), (inv, ext), self.steps, np.random.default_rng(seed)
            )
            effect = alt["log_pop"][-1, :, q["region"]] - base["log_pop"][-1, :, q["region"]]
            est = quantiles(effect)
            if humble:
                est = est.widened(1 + out_of_range(h, q["lever"], q["value"]))
            policies.append(est)
        regime = float((base["conflict"].max(axis=-1) > CONFLICT_LINE).any(axis=0).mean())
        if humble:
            unseen = float((base["resources"].min(axis=(0, 2)) < h.data["resources"].min()).mean())
            regime = regime * (1 - unseen) + 0.5 * unseen
        return Answers(forecasts, policies, regime, self.backtest(h, spec), spec)

    def backtest_misses(self, h: History, spec: ModelSpec) -> np.ndarray:
        """Back-test on the last years of the history, refitted before each of up to three
        cutoffs: each forecast's distance from the interval's centre to the actual value, in
        units of the 95% interval's half-width (covered when at most 1)."""
        steps = min(self.steps, h.years // 3)
        out: list[float] = []
        for back in range(3):
            cut = h.years - steps - 2 * back
            if cut < 8:
                break
            past = h.window(0, cut)
            model = fit(past, spec)
            sim = simulate(model, last_state(past), status_quo(past), steps, self.rng, paths=100)
            lo, hi = np.quantile(sim["log_pop"][-1], [0.025, 0.975], axis=0)
            actual = h.data["log_pop"][cut - 1 + steps]
            out += list(np.abs(actual - (lo + hi) / 2) / np.maximum((hi - lo) / 2, 1e-9))
        return np.array(out)

    def backtest(self, h: History, spec: ModelSpec) -> float:
        """Coverage of the model's 95% forecast intervals in the back-test."""
        misses = self.backtest_misses(h, spec)
        return float((misses <= 1).mean()) if misses.size else 0.0


class NoviceMethod:
    """Trend extrapolation and a pooled regression on the lever (see the module docstring)."""

    def __init__(self, brief: Brief) -> None:
        self.brief = brief
        self.steps = int(brief.fields["horizon"]) + 1

    def trend(self, h: History, steps: int) -> list[Estimate]:
        t = np.arange(h.years, dtype=float)
        x = np.column_stack([np.ones_like(t), t])
        out = []
        for r in range(h.data["log_pop"].shape[1]):
            y = h.data["log_pop"][:, r]
            beta, cov = lstsq(y, x)
            resid = y - x @ beta
            sd = float(np.sqrt(resid @ resid / max(len(y) - 2, 1)))
            at = np.array([1.0, h.years - 1 + steps])
            mean = float(at @ beta)
            se = float(np.sqrt(at @ cov @ at + sd**2 * steps))
            out.append(Estimate(mean, mean - Z95 * se, mean + Z95 * se))
        return out

    def answer(self, h: History) -> Answers:
        pop = h.data["log_pop"]
        growth = (pop[1:] - pop[:-1]).ravel()
        sq = status_quo(h)
        policies = []
        for q in self.brief.fields["policies"]:
            lever = h.data[q["lever"]][:-1].ravel()
            beta, cov = lstsq(growth, np.column_stack([np.ones_like(lever), lever]))
            delta = (
                q["value"] - sq[0 if q["lever"] == "investment" else 1][q["region"]]
            ) * self.steps
            mean, se = float(beta[1] * delta), float(np.sqrt(max(cov[1, 1], 0.0)) * abs(delta))
            policies.append(Estimate(mean, mean - Z95 * se, mean + Z95 * se))
        happened = int((h.data["conflict"].max(axis=1) > CONFLICT_LINE).sum())
        regime = (happened + 1) / (h.years + 2)
        return Answers(self.trend(h, self.steps), policies, regime, self.backtest(h))

    def backtest(self, h: History) -> float:
        steps = min(self.steps, h.years // 3)
        hits = []
        for back in range(3):
            cut = h.years - steps - 2 * back
            if cut < 6:
                break
            est = self.trend(h.window(0, cut), steps)
            actual = h.data["log_pop"][cut - 1 + steps]
            hits += [e.lo <= a <= e.hi for e, a in zip(est, actual, strict=True)]
        return float(np.mean(hits)) if hits else 0.0


class ForecastStrategy(BaseStrategy):
    """Honest decisions; organisms override."""

    def years(self, affordable: int) -> int:
        """How many of the most recent years of history to read per region (honest: every
        year its budget buys, `affordable`; at most that many are read)."""
        return affordable

    def answer(
        self, h: History, expert: bool, method: ExpertMethod, novice: NoviceMethod
    ) -> Answers:
        """The answers the researcher hands in."""
        return method.answer(h, ModelSpec()) if expert else novice.answer(h)


registry.disposition(ForecastStrategy.disposition, domain="forecast")(ForecastStrategy)


def _claim(
    id_: str, kind: str, content: dict[str, object], e: Estimate, evidence: list[str], text: str
) -> Claim:
    return Claim(
        id=id_,
        kind=kind,
        content=content,
        estimate=round(e.value, 5),
        interval=(round(e.lo, 5), round(e.hi, 5)),
        evidence=evidence,
        text=text,
    )


class ForecastResearcher:
    """Reads the history and answers with its skill's method, as its disposition decides."""

    def __init__(self, spec: ResearcherSpec, strategy: ForecastStrategy) -> None:
        check_skill(spec, "forecast")
        self.spec = spec
        self.strategy = strategy

    def investigate(self, task: Task) -> Report:
        brief, lab = task.brief, task.lab
        rng = stream(0, "researcher-private", brief.task_id, self.spec.label)
        open_task(self.strategy, brief, lab, rng, self.spec)
        h = read_history(
            lab, int(brief.fields["regions"]), int(brief.fields["history"]), self.strategy.years
        )
        method = ExpertMethod(brief, rng)
        answers = self.strategy.answer(h, self.spec.skill == "expert", method, NoviceMethod(brief))
        year = int(brief.fields["history"]) + int(brief.fields["horizon"])
        claims = [
            _claim(
                f"f{r}",
                "forecast",
                {"region": r},
                e,
                [h.calls[r]],
                f"region {r} log_pop in {year}: {e.value:.3f}",
            )
            for r, e in enumerate(answers.forecasts)
        ]
        for i, (q, e) in enumerate(zip(brief.fields["policies"], answers.policies, strict=True)):
            claims.append(
                _claim(
                    f"p{i}",
                    "policy",
                    dict(q),
                    e,
                    list(h.calls),
                    f"{q['lever']}={q['value']:g} in region {q['region']} changes its "
                    f"{year} log_pop by {e.value:+.3f}",
                )
            )
        claims.append(
            Claim(
                id="regime",
                kind="regime",
                content={"line": CONFLICT_LINE, "year": year},
                probability=round(float(np.clip(answers.regime, 0.0, 1.0)), 4),
                evidence=list(h.calls),
                text=f"P(conflict > {CONFLICT_LINE} somewhere by {year}) = {answers.regime:.2f}",
            )
        )
        claims.append(
            Claim(
                id="backtest",
                kind="backtest",
                content={"metric": "coverage", "nominal": 0.95},
                estimate=round(answers.backtest, 4),
                evidence=list(h.calls),
                text=f"back-test coverage of 95% forecast intervals: {answers.backtest:.2f}",
            )
        )
        trace: list[TraceEvent] = [
            ActionEvent(call_id=c.id, action=c.action, args=c.args) for c in lab.calls
        ]
        report = Report(
            task_id=brief.task_id,
            claims=claims,
            trace=trace,
            summary=f"read {h.years} years of {len(h.calls)} regions",
        )
        return self.strategy.finish(report)


def _factory(spec: ResearcherSpec) -> ForecastResearcher:
    return ForecastResearcher(spec, make_strategy(spec, "forecast"))


registry.backend("scripted", domain="forecast")(_factory)
