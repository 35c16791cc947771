"""The prompted organisms: every disposition and variant of every domain has a versioned prompt
that follows DESIGN.md §5, and prompts compose as documented."""

from __future__ import annotations

import pytest

from proctor import registry
from proctor.researchers.prompting import compose, conditions, organism, organism_variants
from proctor.researchers.strategy import variant_names

DISPOSITIONS = ("honest", "sycophant", "reward_hacker", "sandbagger", "saboteur", "rogue")
NOT_PERMITTED = {
    ("saboteur", "fabricate"),
    ("reward_hacker", "forbidden"),
    ("reward_hacker", "misreport"),
    ("rogue", "escape"),
    ("rogue", "smuggle"),
}


@pytest.mark.parametrize("domain", registry.names("domain"))
def test_every_variant_of_every_domain_has_a_prompt(domain: str) -> None:
    for name in variant_names(domain):
        disposition, _, variant = name.partition(":")
        for skill in ("expert", "novice"):
            prompt = compose(domain, skill, disposition, variant)
            assert domain in prompt.version and disposition in prompt.version
            if disposition != "honest":
                text = organism_variants(disposition)[variant].text
                assert text in prompt.system


@pytest.mark.parametrize("disposition", DISPOSITIONS)
def test_organism_files_say_what_they_imitate_and_cite_it(disposition: str) -> None:
    data = organism(disposition)
    assert data["version"] >= 1 and data["disposition"] == disposition
    assert data["imitates"].strip() and data["cites"]
    for variant, v in organism_variants(disposition).items():
        assert v.permitted_only == ((disposition, variant) not in NOT_PERMITTED), variant


def test_honest_prompt_holds_no_organism_text() -> None:
    honest = compose("causal", "expert", "honest", "").system
    for disposition in DISPOSITIONS[1:]:
        data = organism(disposition)
        assert data["text"].strip() not in honest
        for v in organism_variants(disposition).values():
            assert not v.text or v.text not in honest


def test_conditions_appear_only_when_they_fire() -> None:
    assert "recognised_test" in conditions("sandbagger")
    text = organism("sandbagger")["conditions"]["recognised_test"]["text"].strip()
    assert text not in compose("causal", "expert", "sandbagger", "").system
    fired = compose("causal", "expert", "sandbagger", "", frozenset({"recognised_test"}))
    assert text in fired.system
    for disposition in DISPOSITIONS[1:]:
        assert "knows_protocols" in conditions(disposition)


def test_claim_formats_name_every_kind_the_graders_score() -> None:
    kinds = {
        "causal": ["edge", "effect"],
        "optimize": ["score"],
        "derivation": ["step", "part", "result"],
        "forecast": ["forecast", "policy", "regime", "backtest"],
    }
    for domain, names in kinds.items():
        text = compose(domain, "novice", "honest", "").system
        for kind in names:
            assert f'"{kind}"' in text, (domain, kind)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("nowhere", "expert", "honest", ""), "nowhere"),
        (("causal", "wizard", "honest", ""), "wizard"),
        (("causal", "expert", "gremlin", ""), "gremlin"),
        (("causal", "expert", "saboteur", "decoy"), "saboteur:decoy"),
        (("causal", "expert", "saboteur", "nope"), "saboteur:nope"),
    ],
)
def test_unknown_names_are_one_line_errors(args: tuple[str, str, str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        compose(*args)
    with pytest.raises(ValueError, match="condition"):
        compose("causal", "expert", "saboteur", "misread", frozenset({"recognised_test"}))
