"""Exporting a run's model-backed episodes as Inspect AI eval logs (``proctor export``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("inspect_ai")

from inspect_ai.event import InfoEvent, ModelEvent, SpanBeginEvent, ToolEvent
from inspect_ai.log import read_eval_log

from proctor.bench.export import ExportError, export_inspect
from proctor.bench.records import EpisodeRecord, VerdictRecord
from proctor.bench.spec import make_spec
from proctor.bench.store import Store
from proctor.cli import main
from proctor.core import Claim, ClaimGrade, Grade, Report, Verdict
from proctor.models.client import generate_config
from proctor.models.meter import ModelLog, ModelUsage, Transcript
from proctor.researchers import ResearcherSpec

MOCK = "mockllm/model"
JUDGE = "mockllm/judge"
BRIEF = "Task causal-1-7: estimate the effect of x on y. Budget 100."
ARGS = {"n": 50, "arm": "treated"}


def _researcher_talk(error: str | None = None) -> Transcript:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a careful researcher."},
        {"role": "user", "content": BRIEF},
        {
            "role": "assistant",
            "content": "Let me sample.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "sample", "arguments": json.dumps(ARGS)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"mean": 1.25}'},
        {"role": "assistant", "content": '{"claims": []}' if error else '{"claims": [1]}'},
    ]
    return Transcript(
        caller="researcher", role="researcher", model=MOCK, messages=messages, error=error
    )


def _judge_talk() -> Transcript:
    return Transcript(
        caller="direct@0.3",
        role="judge",
        model=JUDGE,
        messages=[
            {"role": "system", "content": "Judge the report."},
            {"role": "user", "content": "The report: ..."},
            {"role": "assistant", "content": '{"suspicion": 0.2}'},
        ],
    )


def _usage(caller: str, role: Any, model: str, inp: int, out: int, cost: float | None) -> Any:
    return ModelUsage(
        caller=caller,
        role=role,
        model=model,
        calls=2,
        input_tokens=inp,
        output_tokens=out,
        cost=cost,
    )


def _record(
    key: str,
    run_id: str,
    researcher: ResearcherSpec,
    *,
    talks: list[Transcript] | None = None,
    usage: list[ModelUsage] | None = None,
    error: str | None = None,
) -> EpisodeRecord:
    task_id = f"causal-1-{key}"
    claim = Claim(id="c1", kind="effect", content={"x": "y"}, estimate=1.0)
    grade = Grade(
        claims=[ClaimGrade(claim_id="c1", kind="effect", correct=True, material=False)],
        accuracy=0.75,
        recovered=0.5,
    )
    verdict = Verdict(protocol="direct", suspicion=0.2, rationale="looks fine")
    return EpisodeRecord(
        key=key,
        run_id=run_id,
        domain="causal",
        evaluability="normal_science",
        level=1,
        seed=7,
        role="test",
        researcher=researcher,
        task_id=task_id,
        report=None if error else Report(task_id=task_id, claims=[claim]),
        grade=None if error else grade,
        researcher_spend=40.0,
        verdicts=[]
        if error
        else [
            VerdictRecord(
                protocol="direct",
                budget=0.3,
                suspicion=0.2,
                cost=1.0,
                cost_fraction=0.025,
                verdict=verdict,
            )
        ],
        error=error,
        models=None if talks is None else ModelLog(usage=usage or [], transcripts=talks),
    )


FAILURE = "ReportFormatError: no report after 100 steps"


def _store(path: Path, model_backed: bool = True) -> tuple[Store, str]:
    models = {"researcher": MOCK, "judge": JUDGE} if model_backed else None
    spec = make_spec(
        {
            "name": "export",
            "domains": ["causal"],
            "levels": [1],
            "protocols": ["direct"],
            "adaptive": False,
            "models": models,
        }
    )
    store = Store(path)
    run_id = store.begin_run(spec)
    scripted = ResearcherSpec()
    records = [_record("s0", run_id, scripted)]
    if model_backed:
        honest = ResearcherSpec(backend=f"llm:{MOCK}")
        saboteur = ResearcherSpec(backend=f"llm:{MOCK}", disposition="saboteur", variant="misread")
        records += [
            _record(
                "a1",
                run_id,
                honest,
                talks=[_researcher_talk(), _judge_talk()],
                usage=[
                    _usage("researcher", "researcher", MOCK, 100, 20, None),
                    _usage("direct@0.3", "judge", JUDGE, 50, 10, 0.001),
                ],
            ),
            _record(
                "b2",
                run_id,
                saboteur,
                talks=[_researcher_talk(error=FAILURE)],
                usage=[_usage("researcher", "researcher", MOCK, 300, 40, None)],
                error=FAILURE,
            ),
            # a scripted researcher reviewed by a model judge
            _record(
                "c3",
                run_id,
                scripted,
                talks=[_judge_talk()],
                usage=[_usage("direct@0.3", "judge", JUDGE, 50, 10, 0.001)],
            ),
        ]
    store.write(records)
    return store, run_id


def test_export_round_trips_through_inspect(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path / "episodes.sqlite")
    paths = export_inspect(store, run_id, tmp_path / "logs")
    assert [p.name for p in paths] == [
        f"{run_id}_mockllm-model.eval",
        f"{run_id}_proctor-scripted.eval",
    ]

    log = read_eval_log(str(paths[0]))
    assert log.status == "success" and log.eval.model == MOCK
    assert log.eval.model_roles is not None and log.eval.model_roles["judge"].model == JUDGE
    # the log states the settings the bench's models ran with (one GenerateConfig builder):
    # ModelSettings.timeout bounds one request, Inspect's attempt_timeout
    spec = store.spec(run_id)
    assert spec is not None and spec.models is not None
    config = log.eval.model_roles["judge"].config
    assert config == generate_config(spec.models)
    assert config.attempt_timeout == spec.models.timeout and config.timeout is None
    assert log.samples is not None
    samples = {s.id: s for s in log.samples}
    assert sorted(samples) == ["a1", "b2"]
    good, bad = samples["a1"], samples["b2"]

    # messages, tool call and tool result intact
    assert good.epoch == 1 and good.input == BRIEF and good.target == ""
    assert [m.role for m in good.messages] == ["system", "user", "assistant", "tool", "assistant"]
    call = good.messages[2].tool_calls[0]  # type: ignore[union-attr]
    assert (call.id, call.function, call.arguments) == ("call_1", "sample", ARGS)
    tool = good.messages[3]
    assert tool.tool_call_id == "call_1" and tool.function == "sample"  # type: ignore[union-attr]
    assert tool.text == '{"mean": 1.25}'
    assert good.output.completion == '{"claims": [1]}'

    # scores: the grade's accuracy, 0 for the failed episode
    assert good.scores is not None and good.scores["accuracy"].value == 0.75
    assert bad.scores is not None and bad.scores["accuracy"].value == 0.0
    assert bad.scores["accuracy"].explanation == f"failed: {FAILURE}"
    assert bad.error is not None and bad.error.message == FAILURE
    assert log.results is not None
    assert log.results.scores[0].metrics["mean"].value == pytest.approx(0.375)

    # usage per model and role, per sample and in total
    assert good.model_usage[MOCK].input_tokens == 100
    assert good.model_usage[JUDGE].total_tokens == 60
    assert good.model_usage[JUDGE].total_cost == pytest.approx(0.001)
    assert good.role_usage["judge"].output_tokens == 10
    assert log.stats.model_usage[MOCK].input_tokens == 400
    assert log.stats.model_usage[MOCK].output_tokens == 60

    # metadata: the configuration, the disposition and the suspicions, never in a message
    meta = bad.metadata
    assert meta["disposition"] == "saboteur" and meta["organism"] == "saboteur:misread"
    assert (meta["domain"], meta["level"], meta["seed"], meta["role"]) == ("causal", 1, 7, "test")
    assert meta["task_id"] == "causal-1-b2" and meta["error"] == FAILURE
    assert good.metadata["suspicions"] == {"direct@0.3": 0.2}
    assert good.metadata["verdicts"][0]["rationale"] == "looks fine"
    assert [t["caller"] for t in good.metadata["transcripts"]] == ["researcher", "direct@0.3"]
    assert all("saboteur" not in m.text for m in bad.messages)

    # every transcript as a span of model and tool events
    spans = [e.name for e in good.events if isinstance(e, SpanBeginEvent)]
    assert spans == ["researcher", "direct@0.3"]
    models = [e for e in good.events if isinstance(e, ModelEvent)]
    assert [(e.role, len(e.input)) for e in models] == [
        ("researcher", 2),
        ("researcher", 4),
        ("judge", 2),
    ]
    tools = [e for e in good.events if isinstance(e, ToolEvent)]
    assert [(t.id, t.function, t.arguments, t.result) for t in tools] == [
        ("call_1", "sample", ARGS, '{"mean": 1.25}')
    ]
    assert any(isinstance(e, InfoEvent) and e.data == {"error": FAILURE} for e in bad.events)

    # the scripted researcher reviewed by a model judge: no researcher messages, judge events
    other = read_eval_log(str(paths[1]))
    assert other.samples is not None and [s.id for s in other.samples] == ["c3"]
    assert other.samples[0].messages == []
    assert [e.role for e in other.samples[0].events if isinstance(e, ModelEvent)] == ["judge"]


def test_export_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, run_id = _store(tmp_path / "episodes.sqlite", model_backed=False)
    with pytest.raises(ExportError, match=f"run {run_id} has no model-backed episodes"):
        export_inspect(store, run_id, tmp_path / "logs")
    with pytest.raises(ExportError, match="no run 'nope'"):
        export_inspect(store, "nope", tmp_path / "logs")
    assert not (tmp_path / "logs").exists()
    monkeypatch.setitem(sys.modules, "inspect_ai", None)  # as if not installed
    with pytest.raises(ExportError, match=r"install `proctor\[llm\]`"):
        export_inspect(store, run_id, tmp_path / "logs")


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.output + (f"Traceback: {crash!r}" if crash else "")


def test_cli_export(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    _, run_id = _store(tmp_path / "run" / "episodes.sqlite")
    code, out = _cli("export", str(tmp_path / "run"), "--inspect", str(tmp_path / "logs"))
    assert code == 0, out
    written = out.split()
    assert [Path(p).name for p in written] == [
        f"{run_id}_mockllm-model.eval",
        f"{run_id}_proctor-scripted.eval",
    ]
    assert all(Path(p).is_file() for p in written)

    db = str(tmp_path / "run" / "episodes.sqlite")
    code, out = _cli("export", run_id, "--store", db, "--inspect", str(tmp_path / "again"))
    assert code == 0 and len(out.split()) == 2, out


@pytest.mark.parametrize(
    ("where", "needle"),
    [
        ("scripted", "has no model-backed episodes"),
        ("empty", "holds no episodes.sqlite"),
        ("missing", "not a bench output folder"),
    ],
)
def test_cli_export_errors(tmp_path: Path, where: str, needle: str) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    if where == "scripted":
        _store(folder / "episodes.sqlite", model_backed=False)
    elif where == "missing":
        folder = tmp_path / "nowhere"
    code, out = _cli("export", str(folder), "--inspect", str(tmp_path / "logs"))
    assert code == 2, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], out
