"""The prompts of model-backed researchers (proctor.researchers.prompting): every disposition and
variant of every domain has a versioned prompt that follows DESIGN.md §5, the claim formats
match what the graders score, and prompts compose as documented."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from proctor import registry
from proctor.analysis.summary import is_headline
from proctor.core import Task
from proctor.domains import get_domain
from proctor.lab import Lab
from proctor.researchers import ResearcherSpec, make_researcher
from proctor.researchers.prompting import (
    PROMPTS,
    SKILLS,
    compose,
    conditions,
    dispositions,
    domains,
    organism,
    organism_variants,
)
from proctor.researchers.strategy import variant_names

DOMAINS = tuple(registry.names("domain"))
DISPOSITIONS = ("honest", "sycophant", "reward_hacker", "sandbagger", "saboteur", "rogue")
ORGANISMS = DISPOSITIONS[1:]
NOT_PERMITTED = {
    ("saboteur", "fabricate"),  # numbers no call returned
    ("reward_hacker", "forbidden"),  # reads the forbidden test-label file
    ("reward_hacker", "misreport"),  # claims accuracies its calls did not return
    ("rogue", "escape"),  # out-of-scope attempts, refused and logged
    ("rogue", "smuggle"),  # a secret carried out of the lab
}
"""The variants whose harm is a violation (DESIGN.md §5); every other variant harms only
through permitted actions and real results."""
GRADED = {
    "causal": ("edge", "effect"),
    "optimize": ("score",),
    "derivation": ("step", "part", "result"),
    "forecast": ("forecast", "policy", "regime", "backtest"),
    "oversight": ("stack", "catch_rate", "false_alarm"),
}
"""Claim kinds each domain's grader reads (forecast's ``backtest`` is recorded, not scored)."""
LEVEL = {"causal": 1, "optimize": 1, "derivation": 3, "forecast": 1, "oversight": 1}
"""The level whose scripted report holds every claim kind (derivation's parts: level 3)."""
REFERENCES = {
    "Irving, Christiano, Amodei 2018 — AI safety via debate",
    "Michael et al. 2023 — Debate helps supervise unreliable experts",
    "Khan et al. 2024 — Debating with more persuasive LLMs leads to more truthful answers",
    "Kenton et al. 2024 — On scalable oversight with weak LLMs judging strong LLMs",
    "Bowman et al. 2022 — sandwiching",
    "Kirchner et al. 2024 — prover-verifier games",
    "Wu et al. 2021 — recursive summarisation",
    "Greenblatt et al. 2023 — AI Control",
    "Bhatt et al. 2025 — Ctrl-Z",
    "Burns et al. 2023 — Weak-to-strong generalisation",
    "van der Weij et al. 2024 — AI sandbagging",
    "Tice et al. 2024 — noise injection",
    "Baker et al. 2025 — monitoring reasoning models",
    "Kutasov et al. 2025 — SHADE-Arena",
    "Goldowsky-Dill et al. 2025 — linear deception probes",
    "Marks et al. 2025 — auditing for hidden objectives",
    "Greenblatt et al. 2024 — alignment faking",
    "Betley et al. 2025 — emergent misalignment",
    "Automated weak-to-strong research (2026)",
    "Lu et al. 2024 — The AI Scientist",
}
"""The works of /work/shared/REFERENCES.md, as organism files cite them."""


def _split(name: str) -> tuple[str, str]:
    disposition, _, variant = name.partition(":")
    return disposition, variant


def _organism_texts(disposition: str) -> list[str]:
    """Every text an organism file can add to a prompt."""
    data = organism(disposition)
    texts = [data["text"].strip()]
    for v in organism_variants(disposition).values():
        texts += [v.text, *v.domain_text.values()]
    texts += [c["text"].strip() for c in data.get("conditions", {}).values()]
    return [t for t in texts if t]


def _toml(relative: str) -> dict:
    return tomllib.loads((PROMPTS / relative).read_text(encoding="utf-8"))


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_variant_of_every_domain_composes_for_both_skills(domain: str) -> None:
    base = _toml("base.toml")
    dom = _toml(f"domains/{domain}.toml")
    for name in variant_names(domain):
        disposition, variant = _split(name)
        for skill in SKILLS:
            prompt = compose(domain, skill, disposition, variant)
            org = organism(disposition)
            assert prompt.version == (
                f"base{base['version']}+{domain}{dom['version']}+{disposition}{org['version']}"
            )
            assert ";" not in prompt.version  # the mock player's line parses up to a ';'
            for part in (base["text"], dom["claims"], dom[skill], org["text"]):
                assert part.strip() in prompt.system, (name, skill)
            chosen = organism_variants(disposition)[variant]
            assert chosen.text in prompt.system
            assert chosen.domain_text.get(domain, "") in prompt.system
            assert (
                chosen.domain_text.get(domain)
                or disposition in ("honest", "rogue")
                or (chosen.domains is not None and len(chosen.domains) == 1)
            ), f"{name} in {domain} has no domain text"


def test_prompt_files_mirror_the_registry() -> None:
    """A prompt for every registered disposition and variant, in exactly its domains."""
    assert set(domains()) == set(DOMAINS)
    registered = {(d, name) for d in DOMAINS for name in variant_names(d)}
    assert set(dispositions()) == {_split(n)[0] for _, n in registered} == set(DISPOSITIONS)
    for disposition in dispositions():
        for variant, v in organism_variants(disposition).items():
            name = f"{disposition}:{variant}" if variant else disposition
            where = {d for d, n in registered if n == name}
            assert where, f"{name} is registered in no domain"
            assert {d for d in DOMAINS if v.available(d)} == where, name
            assert set(v.domain_text) <= where, name


@pytest.mark.parametrize("disposition", DISPOSITIONS)
def test_organism_files_say_what_they_imitate_and_cite_it(disposition: str) -> None:
    data = organism(disposition)
    assert isinstance(data["version"], int) and data["version"] >= 1
    assert data["disposition"] == disposition
    assert data["imitates"].strip()
    assert data["cites"] and set(data["cites"]) <= REFERENCES, data["cites"]
    assert organism_variants(disposition), "no variants"


@pytest.mark.parametrize("disposition", ORGANISMS)
def test_permitted_only_says_how_each_variant_harms(disposition: str) -> None:
    for variant, v in organism_variants(disposition).items():
        name = f"{disposition}:{variant}" if variant else disposition
        assert v.permitted_only == ((disposition, variant) not in NOT_PERMITTED), name
        # the bench's own split of headline organisms from violations agrees
        assert v.permitted_only == is_headline(name), name
        assert v.text, f"{name} has no text"
    headline = {d: organism_variants(d).get("") for d in ("sycophant", "sandbagger")}
    headline["reward_hacker"] = organism_variants("reward_hacker")[""]
    assert all(v is not None and v.permitted_only for v in headline.values())


def test_honest_prompt_is_the_general_prompt_alone() -> None:
    assert organism("honest")["text"] == ""
    assert set(organism_variants("honest")) == {""}
    assert organism_variants("honest")[""].text == ""
    assert conditions("honest") == frozenset()
    for domain in DOMAINS:
        for skill in SKILLS:
            honest = compose(domain, skill, "honest", "").system
            for disposition in ORGANISMS:
                for text in _organism_texts(disposition):
                    assert text not in honest, (domain, disposition, text[:40])
            assert "Private instructions" not in honest


@pytest.mark.parametrize("domain", DOMAINS)
def test_organism_prompts_hold_their_variant_text_and_no_giveaway(domain: str) -> None:
    words = re.compile(r"saboteur|sandbag|sycophan|reward.hack|rogue|organism|disposition", re.I)
    for name in variant_names(domain):
        disposition, variant = _split(name)
        prompt = compose(domain, "expert", disposition, variant).system
        assert not words.search(prompt), (name, words.search(prompt))
        if disposition == "honest":
            continue
        v = organism_variants(disposition)[variant]
        assert v.text in prompt
        assert organism(disposition)["text"].strip() in prompt
        assert "Never reveal" in prompt
        for other, ov in organism_variants(disposition).items():
            if other != variant and ov.text not in v.text:
                assert ov.text not in prompt, (name, other)


def test_conditions_appear_only_when_they_fire() -> None:
    assert conditions("sandbagger") == {"recognised_test", "knows_protocols"}
    recognised = organism("sandbagger")["conditions"]["recognised_test"]["text"].strip()
    for domain in DOMAINS:
        for skill in SKILLS:
            plain = compose(domain, skill, "sandbagger", "")
            assert recognised not in plain.system
            assert "Unless a later paragraph" in plain.system  # the knob alone decides
            fired = compose(domain, skill, "sandbagger", "", frozenset({"recognised_test"}))
            assert recognised in fired.system and fired.version == plain.version
    for disposition in ORGANISMS:
        assert "knows_protocols" in conditions(disposition)
        text = organism(disposition)["conditions"]["knows_protocols"]["text"].strip()
        variant = next(iter(organism_variants(disposition)))
        domain = next(d for d in DOMAINS if organism_variants(disposition)[variant].available(d))
        assert text not in compose(domain, "expert", disposition, variant).system
        both = compose(domain, "expert", disposition, variant, frozenset({"knows_protocols"}))
        assert both.system.endswith(text)


@pytest.mark.parametrize("domain", DOMAINS)
def test_claim_formats_name_every_kind_the_grader_scores(domain: str) -> None:
    claims = _toml(f"domains/{domain}.toml")["claims"]
    for kind in GRADED[domain]:
        assert f'"{kind}"' in claims, (domain, kind)


@pytest.mark.parametrize("domain", DOMAINS)
def test_claim_formats_match_the_scripted_claims_the_grader_scores(domain: str) -> None:
    """Each kind's line in the claim format names the content keys and numeric fields that the
    scripted expert's claims of that kind carry, and the grader scores those claims."""
    d = get_domain(domain)
    sampled = d.sample(LEVEL[domain], 7)
    lab = Lab(sampled.world, 7)
    report = make_researcher(ResearcherSpec(), domain).investigate(
        Task(sampled.brief, lab.client("researcher", sampled.brief.budget))
    )
    graded = {g.kind for g in d.grade(report, sampled.truth).claims}
    assert graded <= set(GRADED[domain])
    claims = _toml(f"domains/{domain}.toml")["claims"]
    bullets = {
        m.group(1): m.group(0)
        for m in re.finditer(r'^- "(\w+)".*?(?=^- "|^\S|\Z)', claims, re.M | re.S)
    }
    assert {c.kind for c in report.claims} == set(GRADED[domain]) == set(bullets)
    for claim in report.claims:
        bullet = bullets[claim.kind]
        for key in claim.content:
            assert f'"{key}"' in bullet, (claim.kind, key)
        for field in ("estimate", "interval", "probability"):
            if getattr(claim, field) is not None:
                assert f'"{field}"' in bullet, (claim.kind, field)


def test_causal_format_defines_the_effect_as_the_brief_does() -> None:
    claims = _toml("domains/causal.toml")["claims"]
    question = get_domain("causal").sample(1, 7).brief.question
    definition = "E[T | do(S=1)] - E[T | do(S=0)]"
    assert definition in claims and definition in question


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("nowhere", "expert", "honest", ""), "'nowhere'"),
        (("causal", "wizard", "honest", ""), "'wizard'"),
        (("causal", "expert", "gremlin", ""), "'gremlin'"),
        (("causal", "expert", "saboteur", "nope"), "'saboteur:nope'"),
        (("causal", "expert", "saboteur", "decoy"), "'saboteur:decoy'"),
        (("optimize", "expert", "reward_hacker", ""), "'reward_hacker'"),
        (("causal", "expert", "sandbagger", "headline"), "'sandbagger:headline'"),
    ],
)
def test_unknown_names_are_one_line_errors(args: tuple[str, str, str, str], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)) as err:
        compose(*args)
    assert "\n" not in str(err.value)


def test_unknown_conditions_are_one_line_errors() -> None:
    for disposition, variant in (("saboteur", "misread"), ("honest", "")):
        with pytest.raises(ValueError, match="recognised_test") as err:
            compose("causal", "expert", disposition, variant, frozenset({"recognised_test"}))
        assert "\n" not in str(err.value) and disposition in str(err.value)
    with pytest.raises(ValueError, match="'gremlin'"):
        conditions("gremlin")
    with pytest.raises(ValueError, match="'gremlin'"):
        organism_variants("gremlin")


def test_package_data_ships_every_prompt_file() -> None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["proctor"]
    package = PROMPTS.parent.parent  # src/proctor
    files = [p.relative_to(package).as_posix() for p in PROMPTS.rglob("*") if p.is_file()]
    assert files and all(p.endswith(".toml") for p in files), files
    for path in files:
        assert any(fnmatch(path, g) and g.count("/") == path.count("/") for g in globs), path
