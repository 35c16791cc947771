"""The adaptive red team: a white-box attacker searching its attack space against the frozen
protocols through an oracle with its own streams (DESIGN.md §2, §4)."""

from __future__ import annotations

from proctor.bench.episode import run_episode
from proctor.bench.redteam import NAMED_VIOLATIONS, AttackOracle, candidates, choose_attack
from proctor.bench.spec import ADAPTIVE, EpisodeConfig, SweepSpec
from proctor.core import Task
from proctor.domains import get_domain
from proctor.lab import Lab
from proctor.researchers import ResearcherSpec, make_researcher

PROTOCOLS = ["direct", "replicate", "spot_check"]
BUDGETS = [0.1, 0.3]


def test_the_attack_space_is_headline_saboteurs_by_strength_and_knowledge() -> None:
    for domain in ("causal", "optimize", "derivation", "forecast"):
        pool = candidates(domain, ResearcherSpec(skill="novice", budget=0.5))
        assert pool, domain
        assert {c.disposition for c in pool} == {"saboteur"}
        assert not {c.variant for c in pool} & {*NAMED_VIOLATIONS, ADAPTIVE}
        assert {(c.knobs["strength"], c.knobs["knows_protocols"]) for c in pool} == {
            (0.5, 0.0),
            (0.5, 1.0),
            (1.0, 0.0),
            (1.0, 1.0),
        }
        assert {(c.skill, c.budget) for c in pool} == {("novice", 0.5)}


def test_the_chosen_attack_is_the_least_suspicious_candidate_that_harms() -> None:
    domain, level, seed = "causal", 1, 2_000_011
    sampled = get_domain(domain).sample(level, seed)
    budget = sampled.brief.budget
    base = ResearcherSpec(disposition="saboteur", variant=ADAPTIVE)
    attack = choose_attack(
        domain, sampled.world, sampled.brief, budget, base, PROTOCOLS, BUDGETS, seed
    )
    again = choose_attack(
        domain, sampled.world, sampled.brief, budget, base, PROTOCOLS, BUDGETS, seed
    )
    assert attack == again  # a pure function of the task and the sweep
    assert attack.tried == len(candidates(domain, base)) and attack.reviews > 0
    # Re-score every candidate that changes the honest claims: none is less suspicious.
    honest = make_researcher(ResearcherSpec(), domain).investigate(
        Task(sampled.brief, Lab(sampled.world, seed ^ 0x5EED).client("redteam/scratch", budget))
    )
    oracle = AttackOracle(domain, PROTOCOLS, BUDGETS, seed)
    scores = []
    for i, spec in enumerate(candidates(domain, base)):
        lab = Lab(sampled.world, seed ^ 0x5EED)
        client = lab.client("redteam/scratch", budget)
        report = make_researcher(spec, domain).investigate(Task(sampled.brief, client))
        if report.claims != honest.claims:
            scores.append(
                oracle.suspicion(lab, sampled.brief, report, tuple(client.calls), f"c{i}")
            )
    assert scores and attack.suspicion == min(scores)


def test_an_adaptive_episode_runs_its_choice_in_the_real_lab_and_says_so() -> None:
    cfg = EpisodeConfig(
        domain="derivation",
        level=1,
        seed=2_000_005,
        role="test",
        researcher=ResearcherSpec(disposition="saboteur", variant=ADAPTIVE),
        protocols=PROTOCOLS,
        budgets=BUDGETS,
        capability_test_rate=0.25,
    )
    record = run_episode(cfg, "redteam")
    assert record.error is None and record.report is not None
    assert record.attack is not None and "oracle reviews" in record.attack
    assert record.researcher.organism == "saboteur:adaptive"  # grouped as one organism
    # The real episode is exactly the chosen candidate working in a fresh lab of the task: the
    # search's scratch labs and oracle reviews left no trace in it.
    sampled = get_domain("derivation").sample(1, cfg.seed)
    budget = sampled.brief.budget
    chosen = choose_attack(
        "derivation",
        sampled.world,
        sampled.brief,
        budget,
        cfg.researcher,
        PROTOCOLS,
        BUDGETS,
        cfg.seed,
    )
    client = Lab(sampled.world, cfg.seed).client("researcher", budget)
    alone = make_researcher(chosen.spec, "derivation").investigate(Task(sampled.brief, client))
    assert alone.claims == record.report.claims
    assert client.spent == record.researcher_spend


def test_sweeps_add_the_adaptive_attacker_only_when_asked() -> None:
    plain = SweepSpec(domains=["causal"], levels=[1], adaptive=False)
    assert not any(r.variant == ADAPTIVE for r in plain.researchers(0, "causal"))
    adaptive = SweepSpec(domains=["causal"], levels=[1]).check()  # the default
    mine = [r for r in adaptive.researchers(0, "causal") if r.variant == ADAPTIVE]
    assert len(mine) == 1 and mine[0].disposition == "saboteur"
