"""proctor's domains as Inspect tasks (proctor.inspect_tasks), offline with mockllm/model.

The same episode through `proctor bench` (run_episode) and through Inspect's eval gives the
same report, grade and verdicts; the log read back from disk holds the messages, the tool
calls, model usage and proctor's scores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("inspect_ai")

from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log
from inspect_ai.model import ModelOutput, get_model

from proctor.bench.episode import run_episode
from proctor.bench.spec import EpisodeConfig
from proctor.inspect_tasks import TaskArgumentError, causal, proctor_task
from proctor.models import ModelSettings
from proctor.researchers import ResearcherSpec

SEED = 2_000_003
PROTOCOLS = ["direct", "replicate", "trace_monitor"]


def _one(task: Any, log_dir: Path, model: Any = "mockllm/model") -> Any:
    logs = inspect_eval(task, model=model, log_dir=str(log_dir), display="none")
    assert len(logs) == 1 and logs[0].status == "success", logs[0].error
    return read_eval_log(logs[0].location)  # from disk, as `inspect view` reads it


def test_same_episode_through_inspect_and_the_bench(tmp_path: Path) -> None:
    log = _one(proctor_task("causal", level=1, seeds=[SEED], protocols=PROTOCOLS), tmp_path)
    (sample,) = log.samples
    cfg = EpisodeConfig(
        domain="causal",
        level=1,
        seed=SEED,
        role="test",
        researcher=ResearcherSpec(backend="llm:mockllm/model"),
        protocols=PROTOCOLS,
        budgets=[0.25],
        capability_test_rate=0.25,
        models=ModelSettings(researcher="mockllm/model"),
    )
    bench = run_episode(cfg, "inspect-parity", limit=None)
    assert bench.error is None and bench.report is not None and bench.grade is not None
    episode = sample.store["proctor"]
    assert episode["error"] is None
    assert episode["report"]["claims"] == bench.report.model_dump(mode="json")["claims"]
    assert sample.scores["grade"].metadata["grade"] == bench.grade.model_dump(mode="json")
    wrong = bench.grade.material_errors > 0 or bench.grade.violations > 0
    assert sample.scores["grade"].value["correct"] == (0 if wrong else 1)
    for v in bench.verdicts:
        score = sample.scores[v.protocol]
        assert v.verdict is not None and score.metadata["verdict"] == v.verdict.model_dump(
            mode="json"
        ), v.protocol
        if v.suspicion is None:
            assert score.reason == "abstained"
        else:
            assert score.value == pytest.approx(v.suspicion), v.protocol
            for f in v.verdict.findings:
                assert f"{f.claim_id}: {f.status}" in score.explanation


def test_log_holds_messages_tool_calls_usage_and_scores(tmp_path: Path) -> None:
    log = _one(causal(level=2, seeds=2, protocols="replicate"), tmp_path)
    assert [s.id for s in log.samples] == ["causal-L2-2000000", "causal-L2-2000001"]
    # "proctor/causal" when proctor is installed; "causal" from a source tree on the path
    assert log.eval.task.removeprefix("proctor/") == "causal" and log.eval.task_args["level"] == 2
    names = [s.name for s in log.results.scores]
    assert names[:2] == ["correct", "reported"] and "replicate" in names
    assert log.stats.model_usage["mockllm/model"].input_tokens > 0
    for sample in log.samples:
        roles = [m.role for m in sample.messages]
        assert roles[:2] == ["system", "user"] and "tool" in roles
        calls = [tc for m in sample.messages if m.role == "assistant" for tc in m.tool_calls or []]
        assert calls and {c.function for c in calls} <= {
            a["function"]["name"] for a in _declared(sample)
        }
        tool_results = [json.loads(m.text) for m in sample.messages if m.role == "tool"]
        assert all({"id", "remaining"} <= set(r) for r in tool_results)
        report_ids = {e for c in sample.store["proctor"]["report"]["claims"] for e in c["evidence"]}
        assert report_ids <= {r["id"] for r in tool_results}  # claims cite real calls
        models = [e for e in sample.events if e.event == "model"]
        assert len(models) == sum(m.role == "assistant" for m in sample.messages)
        assert all(e.output.usage is not None for e in models)
        assert sample.scores["replicate"].explanation
        assert sample.model_usage["mockllm/model"].output_tokens > 0


def _declared(sample: Any) -> list[dict[str, Any]]:
    """The tools offered to the model on its first call."""
    first = next(e for e in sample.events if e.event == "model")
    return [{"function": {"name": t.name}} for t in first.tools]


def test_a_model_that_never_reports_is_scored_not_crashed(tmp_path: Path) -> None:
    def babble(*_: Any) -> ModelOutput:
        return ModelOutput.from_content(model="mockllm", content="I think the answer is 42.")

    model = get_model("mockllm/model", custom_outputs=babble, memoize=False)
    log = _one(causal(level=1, seeds=1, protocols="direct"), tmp_path, model=model)
    (sample,) = log.samples
    grade = sample.scores["grade"]
    assert grade.value["reported"] == 0 and grade.value["correct"] == 0
    assert grade.reason == "invalid_response_format" and "no report" in grade.explanation
    assert sample.scores["direct"].reason == "no_response"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"level": 9}, "levels"),
        ({"protocols": "vibes"}, "vibes"),
        ({"seeds": 0}, "seeds must be >= 1"),
        ({"seeds": "a,b"}, "comma-separated integers"),
        ({"role": "secret"}, "role must be one of"),
        ({"disposition": "saboteur:nope"}, "unknown disposition"),
        ({"knobs": {"cunning": 1.0}}, "no model-backed form"),
        ({"skill": "wizard"}, "wizard"),
    ],
)
def test_bad_task_arguments_name_the_problem(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(TaskArgumentError, match=needle) as err:
        proctor_task("causal", **kwargs)
    assert err.value.message.startswith("error: ")  # what `inspect eval` prints, alone


def test_unknown_domain() -> None:
    with pytest.raises(TaskArgumentError, match="alchemy"):
        proctor_task("alchemy")


def _installed() -> bool:
    """Whether `inspect eval proctor/causal` can find the task: proctor installed (so Inspect
    names its tasks proctor/...) with its inspect_ai entry point."""
    named = getattr(causal, "__registry_info__", None)
    return getattr(named, "name", None) == "proctor/causal" and any(
        ep.name == "proctor" for ep in entry_points(group="inspect_ai")
    )


@pytest.mark.skipif(
    not _installed(),
    reason="proctor is not installed with its inspect_ai entry point (pip install -e '.[llm]')",
)
def test_inspect_cli_finds_the_task_by_entry_point(tmp_path: Path) -> None:
    inspect = shutil.which("inspect", path=str(Path(sys.executable).parent))
    assert inspect is not None
    env = os.environ | {"INSPECT_LOG_DIR": str(tmp_path)}
    args = ["proctor/causal", "--model", "mockllm/model", "--limit", "2", "-T", "level=2"]
    run = subprocess.run(
        [inspect, "eval", *args, "-T", "protocols=direct", "--display", "none"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-2000:]
    (path,) = tmp_path.glob("*.eval")
    dump = subprocess.run(
        [inspect, "log", "dump", str(path)], capture_output=True, text=True, check=True
    )
    data = json.loads(dump.stdout)
    assert len(data["samples"]) == 2
    assert any(m.get("tool_calls") for m in data["samples"][0]["messages"])
    assert {"grade", "direct"} <= set(data["samples"][0]["scores"])
