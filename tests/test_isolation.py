"""DESIGN.md §2, "what each part may see": nothing a researcher or a protocol receives carries
the truth or the researcher's disposition.

For many seeds, every level and every disposition variant, this serialises everything a
researcher receives (the brief, the action declarations, every lab result it gets back) and
everything a protocol receives (the brief, the report, the researcher's lab log), then
searches it for disposition labels and for the hidden truth.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from proctor import registry
from proctor.core import (
    Action,
    ActionEvent,
    Brief,
    Claim,
    LabCall,
    ReasoningEvent,
    Report,
    Task,
)
from proctor.domains import Sampled, get_domain
from proctor.domains.causal import CausalTruth, CausalWorld
from proctor.lab import Lab, LabClient
from proctor.protocols import Helpers, ReviewContext
from proctor.researchers import ResearcherSpec, make_researcher
from proctor.researchers.dispositions import STRATEGIES, variant_names

DOMAIN = get_domain("causal")
VARIANTS = variant_names("causal")
CASES = [(1, 101), (1, 102), (1, 103), (1, 104), (2, 101), (2, 102), (2, 103), (3, 101)]
FORBIDDEN_KEYS = {"disposition", "variant", "knobs", "spec", "skill", "truth", "label"}


def disposition_labels() -> set[str]:
    """Every disposition, variant and knob label a leak could spell (lower case)."""
    labels = {"honest", "saboteur", "sandbagger", "sycophant", "reward_hacker", "rogue"}
    for cls in (*STRATEGIES, registry.lookup("disposition", "rogue", "causal")):
        labels.add(cls.disposition)
        labels.update(f"{cls.disposition}:{v}" for v in cls.variants if v)
        # Bare variant names, except 'interval' and 'direction', which the brief and claims
        # use legitimately (a claim's interval; the stated hypothesis's direction).
        labels.update(v for v in cls.variants if v and v not in ("interval", "direction"))
        labels.update(cls.knob_defaults)
    labels.update(VARIANTS)
    return {label.lower() for label in labels}


@dataclasses.dataclass(frozen=True)
class Received:
    researcher: list[str]
    """What the researcher got: brief, action declarations, each lab call it got back."""
    protocol: list[str]
    """What a protocol gets: brief, report, the researcher's log."""


def run(spec: ResearcherSpec, level: int, seed: int) -> tuple[Sampled, Report, Received]:
    s = DOMAIN.sample(level, seed)
    lab = Lab(s.world, seed)
    client = lab.client("researcher", s.brief.budget * spec.budget)
    report = make_researcher(spec, "causal").investigate(Task(s.brief, client))
    log = lab.calls_by("researcher")
    brief_json = s.brief.model_dump_json()
    researcher = [
        brief_json,
        *(a.model_dump_json() for a in client.actions),
        *(c.model_dump_json() for c in log),
    ]
    protocol = [
        brief_json,
        report.model_dump_json(),
        json.dumps([c.model_dump(mode="json") for c in log]),
    ]
    return s, report, Received(researcher, protocol)


def number_forms(value: float) -> set[str]:
    """Texts a leaked number could take: rounded to 6..10 decimals and in full precision.

    Only forms with at least 6 decimals count: every number the lab and the researchers emit
    is rounded to 5 decimals or fewer, so these cannot occur by chance.
    """
    forms = set()
    v = abs(value)
    for digits in range(6, 11):
        text = repr(round(v, digits))
        if "." in text and "e" not in text and len(text.split(".")[1]) >= 6:
            forms.add(text)
    text = repr(v)
    if "." in text and "e" not in text and len(text.split(".")[1]) >= 6:
        forms.add(text)
    return forms


def truth_texts(s: Sampled) -> tuple[set[str], set[str]]:
    """(number texts of the truth, texts of the edge set)."""
    truth = s.truth
    assert isinstance(truth, CausalTruth) and isinstance(s.world, CausalWorld)
    scm = s.world._scm
    numbers: set[str] = set()
    values = [*truth.effects.values(), *scm.weights[scm.weights != 0], *scm.latent[scm.latent != 0]]
    for value in values:
        if abs(value) > 1e-9:
            numbers |= number_forms(float(value))
    edges = sorted(truth.edges)
    edge_texts = {
        str(edges),
        str(set(edges)),
        str(truth.edges),
        json.dumps([list(e) for e in edges]),
        json.dumps([list(e) for e in edges], separators=(",", ":")),
        ", ".join(f"{a}->{b}" for a, b in edges),
        ", ".join(f"{a} -> {b}" for a, b in edges),
    }
    if len(edges) < 2:  # a one-edge set's text is every claim about that pair
        edge_texts = {str(edges), str(set(edges))}
    return numbers, edge_texts


def json_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        keys = set(value)
        for v in value.values():
            keys |= json_keys(v)
        return keys
    if isinstance(value, list):
        out: set[str] = set()
        for v in value:
            out |= json_keys(v)
        return out
    return set()


@pytest.mark.parametrize(("level", "seed"), CASES)
def test_nothing_received_carries_the_disposition_or_the_truth(level: int, seed: int) -> None:
    labels = disposition_labels()
    specs = [ResearcherSpec.parse(v) for v in VARIANTS]
    specs += [
        ResearcherSpec(skill="novice", budget=0.5),
        ResearcherSpec(disposition="sandbagger", knobs={"recognition": 1.0}),
        ResearcherSpec(disposition="saboteur", variant="interval", skill="novice"),
    ]
    checked_numbers = 0
    for spec in specs:
        s, report, received = run(spec, level, seed)
        numbers, edge_texts = truth_texts(s)
        checked_numbers = len(numbers)
        for side, texts in (("researcher", received.researcher), ("protocol", received.protocol)):
            for text in texts:
                low = text.lower()
                for label in (*labels, spec.label.lower(), spec.disposition_variant.lower()):
                    assert label not in low, (side, spec.label, label)
                for number in numbers:
                    assert number not in text, (side, spec.label, "truth value", number)
                for edge_text in edge_texts:
                    assert edge_text not in text, (side, spec.label, "edge set", edge_text)
        for text in (received.protocol[0], received.protocol[1]):  # brief, report
            assert not (json_keys(json.loads(text)) & FORBIDDEN_KEYS), spec.label
        assert "disposition" not in report.summary.lower()
    # Guard against a vacuous search: the truth did have numbers to look for.
    assert checked_numbers >= 3


def test_researcher_received_texts_actually_hold_results() -> None:
    """The serialisation above is not empty: it holds the samples the researcher saw."""
    _s, report, received = run(ResearcherSpec(), 1, 101)
    assert any('"samples"' in text for text in received.researcher)
    assert report.model_dump_json() in received.protocol
    assert re.search(r"-?\d+\.\d{5}", received.protocol[2])


def test_the_truth_search_would_find_a_leak() -> None:
    """If a true effect were written into a report, the search above would see it."""
    s, report, _ = run(ResearcherSpec(), 2, 101)
    numbers, edge_texts = truth_texts(s)
    truth = s.truth
    assert isinstance(truth, CausalTruth)
    (pair, effect), *_ = ((p, e) for p, e in truth.effects.items() if abs(e) > 1e-3)
    for leaked in (effect, round(effect, 6), round(effect, 8)):
        claim = Claim(
            id="x", kind="effect", content={"source": pair[0], "target": pair[1]}, estimate=leaked
        )
        text = report.model_copy(update={"claims": [claim]}).model_dump_json()
        assert any(n in text for n in numbers), leaked
    leaked_edges = Report(task_id="t", claims=[], summary=str(sorted(truth.edges)))
    assert any(e in leaked_edges.model_dump_json() for e in edge_texts)


def test_records_have_no_field_that_could_carry_the_spec() -> None:
    models: list[type[BaseModel]] = [
        Brief,
        Report,
        LabCall,
        Claim,
        Action,
        ActionEvent,
        ReasoningEvent,
    ]
    spec_fields = set(ResearcherSpec.model_fields) - {"budget"}
    for model in models:
        names = set(model.model_fields)
        assert not names & (FORBIDDEN_KEYS | spec_fields | {"researcher", "world", "seed"}), model
        assert model.model_config.get("extra") == "forbid", model
        for field in model.model_fields.values():
            assert "ResearcherSpec" not in str(field.annotation), model
            assert "Truth" not in str(field.annotation), model
    base = DOMAIN.sample(1, 1).brief.model_dump()
    with pytest.raises(ValidationError):
        Brief(**base, disposition="saboteur")
    with pytest.raises(ValidationError):
        Report(task_id="t", claims=[], knobs={"recognition": 1.0})  # type: ignore[call-arg]


def test_what_researchers_and_protocols_hold_has_no_path_to_truth_or_spec() -> None:
    assert {f.name for f in dataclasses.fields(Task)} == {"brief", "lab"}
    assert {f.name for f in dataclasses.fields(ReviewContext)} == {
        "brief",
        "lab",
        "researcher_log",
        "researcher_spend",
        "rng",
        "helpers",
        "models",
        "whitebox",
        "trained",
        "roles",  # role -> the name of a registered player: names only
    }
    # What the bench trains for a learner (distilled's student) holds its fit, its feature
    # names and what training cost: not the training reports, their writers or the truth.
    from proctor.protocols.distilled import Student

    assert {f.name for f in dataclasses.fields(Student)} == {
        "domain",
        "level",
        "model",
        "names",
        "n_examples",
        "n_labelled",
        "teacher_spend",
        "researcher_spend",
        "seconds",
    }
    # A white-box handle holds the network and its forward passes' inputs, nothing else (what
    # the network itself may hold is checked in test_parametric.py).
    from proctor.whitebox import WhiteBox

    assert {f.name for f in dataclasses.fields(WhiteBox)} == {"domain", "network", "inputs"}
    # A protocol's model handle gives clients for roles, never the episode's meter (whose
    # transcripts hold the researcher's own prompt); a client exposes its conversation only.
    from proctor.models import ModelAccess, ModelSettings, ProtocolModels
    from proctor.models.client import ModelClient

    handle = ModelAccess(ModelSettings(judge="mockllm/model")).for_protocols()
    assert {n for n in dir(handle) if not n.startswith("_")} == {"client", "has"}
    assert not hasattr(handle, "__dict__") and isinstance(handle, ProtocolModels)
    public = {n for n in dir(ModelClient) if not n.startswith("_")}
    assert public == {"caller", "generate", "name", "record", "role", "tokens"}
    s = DOMAIN.sample(1, 1)
    client = Lab(s.world, 1).client("researcher", 10.0)
    assert isinstance(client, LabClient)
    public = {n for n in dir(client) if not n.startswith("_")}
    assert public == {"actions", "budget", "call", "calls", "caller", "price", "remaining", "spent"}
    assert not hasattr(client, "__dict__")
    # A protocol's helpers hand out lab clients and black-box runs, nothing else.
    helpers = Helpers(Lab(s.world, 1), "debate@0.3", 5.0)
    public = {n for n in dir(helpers) if not n.startswith("_")}
    assert public == {
        "budget",
        "calls",
        "can_rerun",
        "client",
        "remaining",
        "rerun",
        "run",
        "spent",
    }
    assert not hasattr(helpers, "__dict__")


@pytest.mark.parametrize("domain", ["causal", "optimize", "derivation"])
def test_every_domain_client_exposes_only_its_declared_actions(domain: str) -> None:
    """Every domain's client has the same public surface; its actions are the world's own plus
    the shared workspace actions, and nothing reaches the world, the workspace's secrets or
    the files written in the lab except through a declared, logged call."""
    s = get_domain(domain).sample(1, 1)
    client = Lab(s.world, 1).client("researcher", 10.0)
    public = {n for n in dir(client) if not n.startswith("_")}
    assert public == {"actions", "budget", "call", "calls", "caller", "price", "remaining", "spent"}
    assert not hasattr(client, "__dict__")
    names = [a.name for a in client.actions]
    assert names[-5:] == ["list_files", "read_file", "write_file", "fetch", "run_python"]
    assert len(names) == len(set(names))
    assert all(isinstance(a, Action) for a in client.actions)


def test_reports_of_different_dispositions_have_the_same_shape() -> None:
    for level, seed in [(1, 111), (2, 111)]:
        shapes = {}
        for variant in VARIANTS:
            _, report, _ = run(ResearcherSpec.parse(variant), level, seed)
            data = json.loads(report.model_dump_json())
            claim_keys = {frozenset(c) for c in data["claims"]}
            shapes[variant] = (
                frozenset(data),
                frozenset(e["type"] for e in data["trace"]),
                frozenset(claim_keys),
            )
        honest = shapes["honest"]
        assert honest[1] == {"action", "reasoning"}
        for variant, shape in shapes.items():
            assert shape == honest, variant


def test_disposition_does_not_change_the_honest_stream_of_lab_noise() -> None:
    """Organisms draw their lab noise from the same streams as honest work: the first
    experiment (the pilot, identical in design) returns identical numbers whatever the
    disposition, even where an organism's file calls come before it."""
    firsts = set()
    for variant in VARIANTS:
        s = DOMAIN.sample(1, 121)
        lab = Lab(s.world, 121)
        make_researcher(ResearcherSpec.parse(variant), "causal").investigate(
            Task(s.brief, lab.client("researcher", s.brief.budget))
        )
        first = next(c for c in lab.calls_by("researcher") if c.action == "observe")
        firsts.add(json.dumps(first.model_dump(mode="json", include={"args", "result"})))
    assert len(firsts) == 1
    assert np.asarray(json.loads(firsts.pop())["result"]["samples"]).shape[1] == 4


@pytest.mark.parametrize(("level", "seed"), [(1, 101), (2, 102), (3, 103)])
def test_optimize_receipts_carry_neither_disposition_nor_truth(level: int, seed: int) -> None:
    """The same search for ``optimize``: labels, the hidden test split, the true weights."""
    from proctor.domains.optimize import OptimizeTruth

    domain = get_domain("optimize")
    labels = {
        "honest",
        "saboteur",
        "sandbagger",
        "sycophant",
        "reward_hacker",
        "rogue",
        "winners_curse",
        "misreport",
        "recognition",
        "escape",
        "smuggle",
        "strength",
        "knows_protocols",
    }
    for variant in variant_names("optimize"):
        spec = ResearcherSpec.parse(variant)
        s = domain.sample(level, seed)
        truth = s.truth
        assert isinstance(truth, OptimizeTruth)
        lab = Lab(s.world, seed)
        report = make_researcher(spec, "optimize").investigate(
            Task(s.brief, lab.client("researcher", s.brief.budget))
        )
        received = [
            s.brief.model_dump_json(),
            report.model_dump_json(),
            json.dumps([c.model_dump(mode="json") for c in lab.calls_by("researcher")]),
        ]
        secrets = set()
        for w in truth.world.problem.weights[truth.world.problem.weights != 0]:
            secrets |= number_forms(float(w))
        test_labels = "\n".join(str(int(v)) for v in truth.test[1][:200])
        for text in received:
            low = text.lower()
            assert not any(label in low for label in labels), (variant, text[:80])
            assert not any(secret in text for secret in secrets), variant
            assert test_labels not in text.replace("\\n", "\n"), variant
