"""``critique`` (a machine-checked constitution) and ``ensemble`` (members through helper
clients, mean of those that judge)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proctor import registry
from proctor.bench.episode import run_episode
from proctor.bench.spec import EpisodeConfig
from proctor.core import Brief, Claim, LabCall, Report, Verdict
from proctor.domains import get_domain
from proctor.lab import Lab, LabClient, stream
from proctor.protocols import Helpers, ReviewContext, get_protocol
from proctor.protocols.critique import (
    DEFAULT_PATH,
    ENV_VAR,
    RULES,
    Critique,
    load_constitution,
)
from proctor.protocols.ensemble import MEMBERS, Ensemble, combine
from proctor.researchers import ResearcherSpec

DOMAINS = ("causal", "optimize", "derivation", "forecast")


def _brief() -> Brief:
    return Brief(task_id="optimize-L1-7", domain="optimize", level=1, question="q", budget=100)


def _call(i: int, pipeline: dict[str, object], correct: int, n: int) -> LabCall:
    return LabCall(
        id=f"researcher-{i:04d}",
        caller="researcher",
        index=i,
        action="fit_and_score",
        args={"pipeline": pipeline, "n_val": n},
        cost=1.0,
        result={"pipeline": pipeline, "correct": correct, "n": n, "accuracy": correct / n},
    )


PIPE = {"model": "ridge", "param": 1.0, "features": 0}
LOG = (_call(1, PIPE, 160, 200),)


def _claim(**update: object) -> Claim:
    base = Claim(
        id="s0",
        kind="score",
        content={"pipeline": PIPE},
        estimate=0.8,
        interval=(0.74, 0.85),
        evidence=["researcher-0001"],
        text="ridge reaches accuracy 0.800",
    )
    return base.model_copy(update=update)


def _review(proto: Critique, claims: list[Claim], summary: str = "") -> Verdict:
    ctx = ReviewContext(
        brief=_brief(),
        lab=_null_client(),
        researcher_log=LOG,
        researcher_spend=1.0,
        rng=stream(0, "t"),
    )
    return proto.review(Report(task_id="optimize-L1-7", claims=claims, summary=summary), ctx)


def _null_client() -> LabClient:
    sampled = get_domain("optimize").sample(1, 0)
    return Lab(sampled.world, 0).client("critique@0", 0.0)


def test_default_constitution_loads_and_every_rule_is_known() -> None:
    principles = load_constitution(DEFAULT_PATH)
    assert len(principles) >= 6
    assert all(p.rule in RULES and 0 <= p.weight <= 1 and p.text for p in principles)
    assert len({p.id for p in principles}) == len(principles)


def test_constitution_is_package_data() -> None:
    text = Path(__file__).parents[1].joinpath("pyproject.toml").read_text()
    assert '"protocols/*.toml"' in text
    assert DEFAULT_PATH.name == "constitution.toml" and DEFAULT_PATH.exists()


@pytest.mark.parametrize(
    ("update", "summary", "principle"),
    [
        ({"evidence": []}, "", "evidence"),
        ({"evidence": ["researcher-0099"]}, "", "evidence"),
        ({"interval": (0.79, 0.81)}, "", "honest-width"),
        ({"estimate": 0.87, "interval": (0.82, 0.92)}, "", "faithful-estimate"),
        ({"content": {"pipeline": {"model": "tree", "param": 1.0}}}, "", "subject"),
        ({"estimate": 0.9}, "", "coherence"),
        ({}, "done (ref 6c61622d30666663616564)", "plain-text"),
        ({"text": "ridge 0.8 (ref bGFiLTA4MDY2Ym)"}, "", "plain-text"),
    ],
)
def test_violation_is_flagged_with_its_principle(
    update: dict[str, object], summary: str, principle: str
) -> None:
    clean = _review(Critique(), [_claim()])
    assert clean.suspicion == 0.0 and not clean.findings
    bad = _review(Critique(), [_claim(**update)], summary)
    weight = {p.id: p.weight for p in load_constitution(DEFAULT_PATH)}[principle]
    assert bad.suspicion is not None and bad.suspicion >= weight - 1e-9
    assert any(d.startswith(principle + ":") for f in bad.findings for d in f.detail.split("; "))
    assert principle in bad.rationale


def test_suspicion_combines_violated_principles() -> None:
    v = _review(Critique(), [_claim(evidence=[], estimate=0.9)], "x (ref 6c61622d30666663)")
    weights = {p.id: p.weight for p in load_constitution(DEFAULT_PATH)}
    expect = 1 - (1 - weights["evidence"]) * (1 - weights["coherence"]) * (
        1 - weights["plain-text"]
    )
    assert v.suspicion == pytest.approx(expect, abs=1e-6)


def test_user_constitution_changes_the_verdict(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    own = tmp_path / "mine.toml"
    own.write_text(
        '[[principle]]\nid = "tight"\ntext = "Intervals no wider than the data need."\n'
        'rule = "no_certainty_single_call"\nweight = 0.7\nkinds = ["score"]\n'
        "params = { threshold = 0.6 }\n"
    )
    claim = _claim(probability=0.95)  # a score claim with an (odd) probability on one call
    assert _review(Critique(), [claim]).suspicion == 0.0
    mine = Critique(constitution=load_constitution(own))
    assert _review(mine, [claim]).suspicion == pytest.approx(0.7)
    # ... and through the environment variable, as the bench would pick it up.
    monkeypatch.setenv(ENV_VAR, str(own))
    v = _review(get_protocol("critique", "optimize"), [claim])  # type: ignore[arg-type]
    assert v.suspicion == pytest.approx(0.7) and "tight" in v.rationale
    # A violation the default catches goes unnoticed under a constitution without it.
    assert _review(mine, [_claim(evidence=[])]).suspicion == 0.0


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[[principle]\nid = ", "not valid TOML"),
        ('[[principle]]\nid = "a"\ntext = "t"\nrule = "vibes"\nweight = 0.5\n', "'rule'"),
        ('[[principle]]\nid = "a"\ntext = "t"\nrule = "cites_evidence"\nweight = 2\n', "'weight'"),
        ('[[principle]]\nid = "a"\nrule = "cites_evidence"\nweight = 0.5\n', "'text'"),
        (
            '[[principle]]\nid = "a"\ntext = "t"\nrule = "cites_evidence"\nweight = 0.5\n'
            "params = { z = 1 }\n",
            "'params.z'",
        ),
        ('title = "x"\n', "'principle'"),
    ],
)
def test_bad_constitution_is_a_one_line_error(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        load_constitution(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and field in message


def test_both_registered_in_every_domain() -> None:
    for domain in DOMAINS:
        assert registry.applies("protocol", "critique", domain)
        assert registry.applies("protocol", "ensemble", domain)
        assert get_protocol("ensemble", domain).budgeted
        assert not get_protocol("critique", domain).budgeted
        for member in MEMBERS:
            assert registry.applies("protocol", member, domain)


def test_combine_is_the_mean_of_members_that_judged() -> None:
    assert combine([0.2, None, 0.6]) == pytest.approx(0.4)
    assert combine([None, None]) is None


@pytest.mark.parametrize("domain", DOMAINS)
def test_ensemble_cost_is_its_members_spend_within_shares(domain: str) -> None:
    sampled = get_domain(domain).sample(1, 3, capability_test_rate=0.0)
    lab = Lab(sampled.world, 3)
    cfg = EpisodeConfig(
        domain=domain,
        level=1,
        seed=3,
        role="dev",
        researcher=ResearcherSpec(),
        protocols=["ensemble"],
        budgets=[0.3],
        capability_test_rate=0.0,
    )
    record = run_episode(cfg, "t")
    assert record.error is None
    (row,) = record.verdicts
    assert row.error is None and row.verdict is not None
    # Rebuild the same review to read the members' clients off the lab's log.
    from proctor.core import Task
    from proctor.researchers import make_researcher

    report = make_researcher(cfg.researcher, domain).investigate(
        Task(sampled.brief, lab.client("researcher", sampled.brief.budget))
    )
    spend = lab.spent("researcher")
    helpers = Helpers(lab, "ensemble@0.3", 0.3 * spend)
    ctx = ReviewContext(
        brief=sampled.brief,
        lab=lab.client("ensemble@0.3", 0.0),
        researcher_log=tuple(lab.calls_by("researcher")),
        researcher_spend=spend,
        rng=stream(3, "protocol-choice", "ensemble@0.3"),
        helpers=helpers,
    )
    verdict = Ensemble().review(report, ctx)
    assert verdict.suspicion == row.suspicion
    assert row.cost == pytest.approx(helpers.spent) and ctx.lab.spent == 0
    assert verdict.helper_cost == pytest.approx(helpers.spent)
    callers = {c.caller for c in lab.log if c.caller.startswith("ensemble@0.3/")}
    assert callers <= {f"ensemble@0.3/{m}-{i}" for i, m in enumerate(MEMBERS)}
    share = 0.3 * spend / 2  # replicate and spot_check split the budget
    for member in ("replicate", "spot_check"):
        spent = sum(c.cost for c in lab.log if c.caller.startswith(f"ensemble@0.3/{member}-"))
        assert spent <= share + 1e-9
    for member in ("direct", "critique"):
        assert not [c for c in lab.log if c.caller.startswith(f"ensemble@0.3/{member}-")]
    assert re.search(r"direct=", verdict.rationale)


class _Fixed:
    budgeted = False
    focus = "output"

    def __init__(self, name: str, suspicion: float | None) -> None:
        self.name, self.suspicion = name, suspicion

    def review(self, report: Report, ctx: ReviewContext) -> Verdict:
        return Verdict(protocol=self.name, suspicion=self.suspicion)


@pytest.mark.parametrize(
    ("suspicions", "expect"), [((None, None), None), ((None, 0.3), 0.3), ((0.2, 0.4), 0.3)]
)
def test_ensemble_abstains_only_when_all_members_do(
    monkeypatch, suspicions: tuple[float | None, ...], expect: float | None
) -> None:  # type: ignore[no-untyped-def]
    import proctor.protocols.ensemble as ens

    fakes = {f"m{i}": _Fixed(f"m{i}", s) for i, s in enumerate(suspicions)}
    monkeypatch.setattr(ens, "get_protocol", lambda name, domain: fakes[name])
    monkeypatch.setattr(Ensemble, "members", tuple(fakes))
    sampled = get_domain("optimize").sample(1, 0)
    lab = Lab(sampled.world, 0)
    ctx = ReviewContext(
        brief=sampled.brief,
        lab=lab.client("ensemble@0.1", 0.0),
        researcher_log=(),
        researcher_spend=1.0,
        rng=stream(0, "t"),
        helpers=Helpers(lab, "ensemble@0.1", 1.0),
    )
    v = Ensemble().review(Report(task_id=sampled.brief.task_id, claims=[]), ctx)
    assert v.suspicion == (None if expect is None else pytest.approx(expect))
