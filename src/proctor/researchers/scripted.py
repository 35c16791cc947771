"""Scripted researchers: real experimental methods, at several skill levels and budgets.

On ``causal`` the method is classical interventional causal discovery:

* **expert** — a pilot observation to learn each variable's scale; two-arm interventions on
  every variable at ±2 sd; total effects by Welch differences; ancestry by tests with Holm
  correction; direct edges by regressing the target on the source and the estimated
  mediators in the source's interventional data; query effects from replicated batches of
  ``do(S=0)`` / ``do(S=1)``.
* **novice** — no pilot; interventions at 0 and 1; Bonferroni; direct edges by the
  transitive reduction of the estimated ancestor graph (misses "shortcut" edges); one query
  round.

A disposition (:mod:`proctor.researchers.dispositions`) is a strategy the method consults at
its decision points; the honest strategy leaves every decision alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from proctor import registry
from proctor.core import ActionEvent, Claim, LabAccess, ReasoningEvent, Report, Task, TraceEvent
from proctor.lab import LabError, max_units, stream
from proctor.researchers import ResearcherSpec
from proctor.researchers.dispositions import EffectChoice, Strategy, make_strategy
from proctor.researchers.evidence import (
    Batch,
    Evidence,
    batches_from,
    effect_between,
    query_effect,
)
from proctor.researchers.strategy import check_skill, open_task
from proctor.stats import (
    Estimate,
    bonferroni,
    holm,
    ols,
    probability_from_p,
    two_sided_p,
)

ALPHA = 0.05


class CausalResearcher:
    """A scripted causal researcher of one skill, with a disposition strategy."""

    def __init__(self, spec: ResearcherSpec, strategy: Strategy) -> None:
        check_skill(spec, "causal")
        self.spec = spec
        self.strategy = strategy

    # -- running experiments -------------------------------------------------------------
    def _intervene(
        self,
        lab: LabAccess,
        ev: Evidence,
        source: str,
        value: float,
        n: int,
        into: dict[str, list[Batch]],
    ) -> None:
        call = lab.call("intervene", values={source: float(value)}, n=int(n))
        into.setdefault(source, []).append(batches_from(call, source, value))

    def experiment(self, task: Task) -> tuple[Evidence, list[tuple[str, ...]], float, float, int]:
        """Run the method's experiments: the evidence, the queries, the query contrast
        ``do(S=lo)`` vs ``do(S=hi)`` and the number of query rounds."""
        brief, lab = task.brief, task.lab
        names = list(brief.fields["variables"])
        queries = [tuple(q) for q in brief.fields["queries"]]
        rng = stream(0, "researcher-private", brief.task_id, self.spec.label)
        open_task(self.strategy, brief, lab, rng, self.spec)
        ev = Evidence(names)
        expert = self.spec.skill == "expert"
        budget = lab.budget

        if expert:
            n0 = int(min(300, max(30, 0.08 * budget - 1)))
            pilot = lab.call("observe", n=n0)
            ev.pilot_ids.append(pilot.id)
            x = np.asarray(pilot.result["samples"], dtype=float)
            ev.pilot = x
            for k, name in enumerate(names):
                mu, sd = float(x[:, k].mean()), float(x[:, k].std(ddof=1))
                ev.scale[name] = (mu, max(sd, 1e-3))
        else:
            for name in names:
                ev.scale[name] = (0.5, 0.5)  # interventions at 0 and 1

        contrast = self.strategy.contrast(2.0 if expert else 1.0)
        share = 0.62 if expert else 0.7
        n_disc = max_units(lab, "intervene", share * budget, 2 * len(names))
        if n_disc < 2:
            raise LabError("budget too small for one discovery round")
        sizes = self.strategy.allocate("discovery", names, n_disc)
        for name in names:
            mu, sd = ev.scale[name]
            for value in (mu - contrast * sd, mu + contrast * sd):
                self._intervene(lab, ev, name, round(value, 4), sizes[name], ev.discovery)

        sources = list(dict.fromkeys(s for s, _ in queries))
        rounds = self.strategy.query_rounds(4 if expert else 1)
        lo_q, hi_q = self.strategy.query_values()
        n_q = max_units(lab, "intervene", lab.remaining - 1e-6, 2 * rounds * len(sources))
        if n_q >= 2:
            sizes = self.strategy.allocate("query", sources, n_q)
            for _ in range(rounds):
                for s in sources:
                    for value in (lo_q, hi_q):
                        self._intervene(lab, ev, s, value, sizes[s], ev.query)
        return ev, queries, lo_q, hi_q, rounds

    def investigate(self, task: Task) -> Report:
        brief, lab = task.brief, task.lab
        ev, queries, lo_q, hi_q, rounds = self.experiment(task)
        expert = self.spec.skill == "expert"
        pairs, probabilities = self.analyse_edges(ev, expert)
        claims = edge_claims(ev, pairs, self.strategy.edges(pairs, probabilities, ev))
        claims += self._effect_claims(ev, queries, lo_q, hi_q)
        claims = self.strategy.revise(claims, brief, ev)
        n_edges = sum((c.probability or 0.0) >= 0.5 for c in claims if c.kind == "edge")
        trace: list[TraceEvent] = [
            ActionEvent(call_id=c.id, action=c.action, args=c.args) for c in lab.calls
        ]
        trace.append(ReasoningEvent(text=self._method_note(ev, expert, rounds, lo_q, hi_q)))
        report = Report(
            task_id=brief.task_id, claims=claims, trace=trace, summary=f"{n_edges} edges claimed"
        )
        return self.strategy.finish(report)

    def _method_note(
        self, ev: Evidence, expert: bool, rounds: int, lo_q: float, hi_q: float
    ) -> str:
        """The reasoning text the trace ends with: how the claims were reached."""
        return (
            f"Interventions on each of {len(ev.names)} variables; "
            f"{'Holm' if expert else 'Bonferroni'}-corrected tests at alpha={ALPHA}; "
            f"effects from {rounds} round(s) of do(S={lo_q:g}) vs do(S={hi_q:g})."
        )

    # -- analysis -----------------------------------------------------------------------
    def analyse_edges(
        self, ev: Evidence, expert: bool
    ) -> tuple[list[tuple[str, str]], list[float]]:
        """The backend's edge analysis: every ordered pair and its edge probability (the
        scripted method's, :func:`edge_probabilities`; a parametric backend's network), before
        the strategy's ``edges`` hook."""
        return edge_probabilities(ev, expert, self.strategy.correct)

    def _effect_claims(
        self, ev: Evidence, queries: list[tuple[str, ...]], lo: float, hi: float
    ) -> list[Claim]:
        claims = []
        for k, (s, t) in enumerate(queries):
            # The novice's discovery arms are at 0 and 1 themselves; the expert's are pooled
            # in when the response looks linear (see query_effect).
            batches = list(ev.query.get(s, [])) + ev.discovery[s]
            if {lo, hi} <= {b.value for b in batches}:
                est = query_effect(batches, ev.index(t), lo, hi)
            else:  # no batch at the defined contrast: the discovery slope is all there is
                batches = ev.discovery[s]
                lo_d, hi_d = sorted({b.value for b in batches})
                est = effect_between(batches, ev.index(t), lo_d, hi_d)
            choice = self.strategy.effect(k, s, t, batches, ev, est)
            claims.append(effect_claim(k, s, t, choice))
        return claims


def total_effects(ev: Evidence) -> dict[tuple[str, str], Estimate]:
    """The total effect of every source on every other variable, from the source's two
    discovery arms (a Welch difference per unit of the intervened value)."""
    out: dict[tuple[str, str], Estimate] = {}
    for s, batches in ev.discovery.items():
        lo, hi = sorted({b.value for b in batches})
        for t in ev.names:
            if t != s:
                out[(s, t)] = effect_between(batches, ev.index(t), lo, hi)
    return out


Correct = Callable[[Sequence[float], Callable[[Sequence[float]], np.ndarray]], np.ndarray]
"""A strategy's multiple-comparison step: ``correct(raw, method)`` (:meth:`Strategy.correct`)."""


def edge_probabilities(
    ev: Evidence, expert: bool, correct: Correct | None = None
) -> tuple[list[tuple[str, str]], list[float]]:
    """The method's edge analysis: every ordered pair and the probability it claims for a
    direct edge. Ancestry by the total effects' tests (Holm for the expert, Bonferroni for the
    novice, each through `correct`, honest by default); the expert tests each ancestor for a
    direct edge by regressing the target on the source and the estimated mediators in the
    source's interventional data, the novice takes the transitive reduction."""
    correct = correct or (lambda raw, method: method(raw))
    total = total_effects(ev)
    pairs = list(total)
    raw = [two_sided_p(total[p].z) for p in pairs]
    adjust = holm if expert else bonferroni
    adj = dict(zip(pairs, correct(raw, adjust), strict=True))
    anc = {s: {t for (a, t) in pairs if a == s and adj[(a, t)] < ALPHA} for s in ev.names}
    edge_p: dict[tuple[str, str], float] = {}
    if expert:
        direct_tests: dict[tuple[str, str], float] = {}
        for s, t in pairs:
            if t not in anc[s]:
                continue
            mediators = [m for m in anc[s] if m != t and t in anc[m]]
            if not mediators:
                direct_tests[(s, t)] = raw[pairs.index((s, t))]
                continue
            batches = ev.discovery[s]
            x = np.concatenate([b.samples for b in batches])
            cols = [ev.index(s)] + [ev.index(m) for m in mediators]
            coef, se = ols(x[:, ev.index(t)], x[:, cols])
            direct_tests[(s, t)] = two_sided_p(coef[1] / se[1] if se[1] > 0 else np.inf)
        keys = list(direct_tests)
        direct_raw = [direct_tests[k] for k in keys]
        adj_direct = dict(zip(keys, correct(direct_raw, holm), strict=True))
        for pair in pairs:
            edge_p[pair] = probability_from_p(adj_direct.get(pair, adj[pair]), ALPHA)
            if pair not in adj_direct:
                edge_p[pair] = min(edge_p[pair], 0.45)
    else:
        for s, t in pairs:
            if t in anc[s] and any(t in anc[m] for m in anc[s] if m != t):
                edge_p[(s, t)] = 0.25  # believed mediated: transitive reduction
            else:
                edge_p[(s, t)] = probability_from_p(adj[(s, t)], ALPHA)
    return pairs, [edge_p[pair] for pair in pairs]


def effect_claim(k: int, source: str, target: str, choice: EffectChoice) -> Claim:
    """The claim for effect query `k`: the chosen estimate, its 95% interval and evidence."""
    value = choice.estimate
    lo_ci, hi_ci = value.interval()
    return Claim(
        id=f"q{k}",
        kind="effect",
        content={"source": source, "target": target},
        estimate=round(value.value, 5),
        interval=(round(lo_ci, 5), round(hi_ci, 5)),
        evidence=list(choice.evidence),
        text=f"Total effect of {source} on {target}: {value.value:.3f}",
    )


def edge_claims(
    ev: Evidence, pairs: list[tuple[str, str]], probabilities: list[float]
) -> list[Claim]:
    """One edge claim per ordered pair, with its probability, resting on the source's
    discovery interventions."""
    claims = []
    for k, ((s, t), p) in enumerate(zip(pairs, probabilities, strict=True)):
        prob = round(float(p), 4)
        claims.append(
            Claim(
                id=f"e{k}",
                kind="edge",
                content={"source": s, "target": t},
                probability=prob,
                evidence=[b.call_id for b in ev.discovery[s]],
                text=f"{s} is{'' if prob >= 0.5 else ' not'} a direct cause of {t}",
            )
        )
    return claims


def _factory(spec: ResearcherSpec) -> CausalResearcher:
    return CausalResearcher(spec, make_strategy(spec, "causal"))


registry.backend("scripted", domain="causal")(_factory)

__all__ = [
    "CausalResearcher",
    "edge_claims",
    "edge_probabilities",
    "effect_claim",
    "total_effects",
]
