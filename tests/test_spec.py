"""A sweep's checks know no backend: each backend's own rules refuse what it cannot run.

The built-in backends' rules (``llm``: a researcher model, no adaptive attacker, knobs it
understands; ``parametric``: causal only, PyTorch, expert members, no knobs, no adaptive
attacker) are their ``sweep_checks``; take a backend's checks away and the sweep the rule
refused passes the generic checks. A plug-in backend declares its rules the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from proctor import registry
from proctor.bench.spec import SpecError, SweepSpec, make_spec
from proctor.cli import main
from proctor.researchers import ResearcherSpec
from proctor.researchers.backends import (
    BackendChecks,
    MemberView,
    SettingsError,
    SweepView,
    backend_checks,
)
from proctor.researchers.llm import LLMResearcher

MODEL = {"researcher": "mockllm/model"}
PARAMETRIC: dict[str, Any] = {"domains": ["causal"], "population": [{"backend": "parametric"}]}


def _refused(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as err:
        make_spec(data)
    return str(err.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"population": [{"backend": "llm"}]},
            "population.0.backend: 'llm' needs models.researcher",
        ),
        (
            {"models": MODEL},
            "adaptive: the adaptive attacker searches scripted attacks only; run model-backed "
            "researchers with --no-adaptive (adaptive = false)",
        ),
    ],
)
def test_the_llm_backends_own_checks_refuse_its_settings(
    data: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _refused(data) == message
    monkeypatch.setattr(LLMResearcher, "sweep_checks", BackendChecks())
    make_spec(data)  # the generic checks have no such rule


def test_the_llm_backend_refuses_knobs_it_has_no_form_for() -> None:
    """A knob a scripted organism has but a prompted one does not (none of the built-in
    dispositions has one, so the sweep is built unchecked)."""
    sweep = SweepSpec.model_validate(
        {"models": MODEL, "adaptive": False, "knobs": {"sandbagger": {"greed": 0.5}}}
    )
    (checks,) = backend_checks("llm:mockllm/model")
    with pytest.raises(SettingsError) as err:
        checks.check_sweep(sweep)
    assert str(err.value) == (
        "knobs.sandbagger.greed: model-backed organisms understand only strength, "
        "recognition, knows_protocols"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {},
            "adaptive: the adaptive attacker searches scripted attacks only; run 'parametric' "
            "researchers with adaptive = false",
        ),
        (
            {"adaptive": False, "knobs": {"sandbagger": {"recognition": 0.5}}},
            "knobs: 'parametric' organisms have their disposition in their weights and no "
            "knobs; set knobs = {}",
        ),
        (
            {"adaptive": False, "population": [{"backend": "parametric", "skill": "novice"}]},
            "population: 'parametric' organisms are expert networks; give at least one expert "
            "member for them to run on",
        ),
        (
            {"adaptive": False, "domains": ["optimize"]},
            "population.0.backend: 'parametric' exists for causal only, not optimize",
        ),
    ],
)
def test_the_parametric_backends_own_checks_refuse_its_settings(
    extra: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _refused(PARAMETRIC | extra) == message
    factory = registry.lookup("backend", "parametric", "causal")
    monkeypatch.setattr(factory, "sweep_checks", BackendChecks())
    if "domains" not in extra:  # outside causal the white-box protocols are refused instead
        make_spec(PARAMETRIC | extra)


def test_the_scripted_backend_has_no_rules_of_its_own() -> None:
    assert backend_checks("scripted") == []
    assert backend_checks("nope") == []


# -- a plug-in backend ----------------------------------------------------------------------------


class WholeBudgetChecks(BackendChecks):
    """A plug-in's rules: its members work at the whole budget, and it runs in causal only."""

    def check_placement(self, sweep: SweepView, index: int, member: MemberView) -> None:
        for d in sweep.domains:
            if d != "causal":
                raise SettingsError(f"population.{index}.backend: 'whole' is causal only, not {d}")

    def check_member(self, sweep: SweepView, index: int, member: MemberView) -> None:
        if member.budget != 1.0:
            raise SettingsError(
                f"population.{index}.budget: 'whole' researchers work at budget 1 only"
            )


class Whole:
    sweep_checks = WholeBudgetChecks()

    def __init__(self, spec: ResearcherSpec) -> None:
        self.spec = spec


@pytest.fixture
def whole() -> Iterator[None]:
    for domain in ("causal", "optimize"):
        registry.register("backend", "whole", Whole, domain)
    yield
    for domain in ("causal", "optimize"):
        registry._entries.pop(("backend", "whole", domain), None)


def test_a_plugin_backend_declares_its_own_checks(whole: None, tmp_path: Path) -> None:
    assert backend_checks("whole") == [Whole.sweep_checks]
    base: dict[str, Any] = {"domains": ["causal"], "adaptive": False}
    make_spec(base | {"population": [{"backend": "whole"}]})
    half = [{"backend": "scripted", "budget": 0.5}, {"backend": "whole", "budget": 0.5}]
    assert (
        _refused(base | {"population": half})
        == "population.1.budget: 'whole' researchers work at budget 1 only"
    )
    assert (
        _refused(base | {"domains": ["causal", "optimize"], "population": [{"backend": "whole"}]})
        == "population.0.backend: 'whole' is causal only, not optimize"
    )
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        '[sweep]\ndomains = ["causal"]\nadaptive = false\n'
        '[[sweep.population]]\nbackend = "whole"\nbudget = 0.5\n'
    )
    result = CliRunner().invoke(main, ["bench", "--config", str(sweep), "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.output == (
        "error: population.0.budget: 'whole' researchers work at budget 1 only\n"
    ), result.output
