"""Export a run's model-backed episodes as Inspect AI eval logs (``proctor export --inspect``).

One ``.eval`` log per (run, researcher model), named ``<run_id>_<model>.eval``, holding one
sample per model-backed episode (an episode with stored transcripts):

* ``id`` the episode key, ``epoch`` 1, ``input`` the brief message, ``target`` empty;
* ``messages`` the researcher's conversation as Inspect chat messages, ``output`` its last
  answer (for a scripted researcher reviewed by model-backed protocols both are empty);
* ``events`` every transcript of the episode (researcher, judges, debaters, monitor), each in
  a span named after its caller, as one model event per answer and one tool event per tool
  result, so ``inspect view`` shows the judges' conversations too;
* ``scores["accuracy"]`` the grade's accuracy (0 for a failed episode) with the other grade
  figures in its metadata; ``error`` the episode's error for a failed episode;
* ``model_usage`` and ``role_usage`` from the episode's :class:`~proctor.models.meter.ModelLog`;
* ``metadata`` the episode's configuration (domain, level, seed, split role, task, researcher
  backend, skill, disposition and organism), its error, the protocols' suspicions by
  ``protocol@budget`` and their verdicts, and a list of the transcripts.

The disposition is in metadata only: the export adds no message of its own. (A model organism's
own system prompt, which the export keeps as the model saw it, is its instructions.)

Inspect AI is imported lazily; without it :func:`export_inspect` raises :class:`ExportError`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proctor.bench.records import EpisodeRecord
from proctor.bench.store import Store
from proctor.models.meter import ModelUsage, Transcript

INSTALL_HINT = "exporting Inspect AI logs needs Inspect AI: install `proctor[llm]`"
SCORER = "accuracy"


class ExportError(RuntimeError):
    """The run cannot be exported (unknown run, no model-backed episodes, no Inspect AI)."""


def export_inspect(store: Store, run_id: str, out: Path) -> list[Path]:
    """Write the model-backed episodes of run `run_id` as Inspect AI eval logs under `out`.

    Returns:
        The log files written, one per researcher model, sorted by name.

    Raises:
        ExportError: Inspect AI is not installed, the run is not in the store, or it has no
            model-backed episodes.
    """
    try:
        import inspect_ai  # noqa: F401
    except ImportError as err:
        raise ExportError(INSTALL_HINT) from err
    from inspect_ai.log import write_eval_log

    records = {r.key: r for r in store.episodes(run_id)}
    if not records and store.spec(run_id) is None:
        raise ExportError(f"no run {run_id!r} in the store")
    groups: dict[str, list[Any]] = {}
    for key, talks in store.transcripts(run_id):
        record = records.get(key)
        if record is None or not talks:
            continue
        model = _researcher_model(record, talks)
        groups.setdefault(model, []).append(_sample(record, talks, model))
    if not groups:
        raise ExportError(f"run {run_id} has no model-backed episodes")

    out.mkdir(parents=True, exist_ok=True)
    created = _created(store, run_id)
    written = []
    for model, samples in sorted(groups.items()):
        path = out / f"{run_id}_{_slug(model)}.eval"
        write_eval_log(_log(store, run_id, model, samples, created), path.as_posix())
        written.append(path)
    return written


def _researcher_model(record: EpisodeRecord, talks: Sequence[Transcript]) -> str:
    """The researcher's model, or ``proctor/<backend>`` for a researcher without one."""
    for t in talks:
        if t.caller == "researcher":
            return t.model
    return record.researcher.model or f"proctor/{record.researcher.backend}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "model"


def _created(store: Store, run_id: str) -> str:
    for rid, _, created in store.runs():
        if rid == run_id:
            return created
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _usage(rows: Sequence[ModelUsage], by: str) -> dict[str, Any]:
    """Inspect model usage per model (``by="model"``) or per role (``by="role"``)."""
    from inspect_ai.model import ModelUsage as InspectUsage

    out: dict[str, Any] = {}
    for u in rows:
        name = u.model if by == "model" else u.role
        add = InspectUsage(
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            total_tokens=u.tokens,
            total_cost=u.cost,
        )
        out[name] = out[name] + add if name in out else add
    return out


def _sum_usage(into: dict[str, Any], more: dict[str, Any]) -> None:
    for name, u in more.items():
        into[name] = into[name] + u if name in into else u


def _events(talks: Sequence[Transcript], converted: Sequence[list[Any]]) -> list[Any]:
    """Every transcript as a span of model events (one per answer) and tool events."""
    from inspect_ai.event import InfoEvent, ModelEvent, SpanBeginEvent, SpanEndEvent, ToolEvent
    from inspect_ai.model import ChatCompletionChoice, GenerateConfig, ModelOutput

    events: list[Any] = []
    for n, (talk, messages) in enumerate(zip(talks, converted, strict=True)):
        span = f"transcript-{n}"
        common: dict[str, Any] = {"span_id": span, "working_start": 0.0}
        events.append(SpanBeginEvent(id=span, name=talk.caller, type=talk.role, **common))
        calls: dict[str, Any] = {}
        for i, m in enumerate(messages):
            if m.role == "assistant":
                calls |= {tc.id: tc for tc in m.tool_calls or []}
                output = ModelOutput(
                    model=talk.model,
                    choices=[
                        ChatCompletionChoice(
                            message=m, stop_reason="tool_calls" if m.tool_calls else "stop"
                        )
                    ],
                )
                events.append(
                    ModelEvent(
                        model=talk.model,
                        role=talk.role,
                        input=list(messages[:i]),
                        tools=[],
                        tool_choice="auto",
                        config=GenerateConfig(),
                        output=output,
                        **common,
                    )
                )
            elif m.role == "tool" and m.tool_call_id in calls:
                call = calls[m.tool_call_id]
                events.append(
                    ToolEvent(
                        id=call.id,
                        function=call.function,
                        arguments=call.arguments,
                        result=m.text,
                        **common,
                    )
                )
        if talk.error:
            events.append(InfoEvent(source=talk.caller, data={"error": talk.error}, **common))
        events.append(SpanEndEvent(id=span, **common))
    return events


def _score(record: EpisodeRecord) -> Any:
    from inspect_ai.scorer import Score

    grade = record.grade
    if record.error is not None or grade is None:
        why = f"failed: {record.error}" if record.error else "no grade"
        return Score(value=0.0, explanation=why)
    figures = {
        "accuracy": grade.accuracy,
        "recovered": grade.recovered,
        "material_errors": grade.material_errors,
        "violations": grade.violations,
        "brier": grade.brier,
        "interval_score": grade.interval_score,
    }
    explanation = (
        f"accuracy {grade.accuracy:.3g} over {len(grade.claims)} claim(s); "
        f"recovered {grade.recovered:.3g}; {grade.material_errors} material error(s); "
        f"{grade.violations} violation(s)"
    )
    return Score(value=grade.accuracy, explanation=explanation, metadata=figures)


def _metadata(record: EpisodeRecord, talks: Sequence[Transcript]) -> dict[str, Any]:
    r = record.researcher
    return {
        "run_id": record.run_id,
        "domain": record.domain,
        "evaluability": record.evaluability,
        "level": record.level,
        "seed": record.seed,
        "role": record.role,
        "task_id": record.task_id,
        "backend": r.backend,
        "skill": r.skill,
        "budget": r.budget,
        "disposition": r.disposition,
        "variant": r.variant,
        "knobs": dict(r.knobs),
        "organism": r.organism,
        "honest": record.honest,
        "harmful": record.harmful,
        "researcher_spend": record.researcher_spend,
        "error": record.error,
        "attack": record.attack,
        "suspicions": {f"{v.protocol}@{v.budget:g}": v.suspicion for v in record.verdicts},
        "verdicts": [
            {
                "protocol": v.protocol,
                "budget": v.budget,
                "suspicion": v.suspicion,
                "cost": v.cost,
                "cost_fraction": v.cost_fraction,
                "rationale": v.verdict.rationale if v.verdict is not None else None,
                "error": v.error,
            }
            for v in record.verdicts
        ],
        "grade": record.grade.model_dump(mode="json") if record.grade is not None else None,
        "transcripts": [
            {
                "caller": t.caller,
                "role": t.role,
                "model": t.model,
                "messages": len(t.messages),
                "error": t.error,
            }
            for t in talks
        ],
    }


def _sample(record: EpisodeRecord, talks: Sequence[Transcript], model: str) -> Any:
    from inspect_ai.log import EvalError, EvalSample
    from inspect_ai.model import ChatCompletionChoice, ModelOutput

    from proctor.models.client import to_inspect

    converted = [to_inspect(t.messages) for t in talks]
    researcher = next((i for i, t in enumerate(talks) if t.caller == "researcher"), None)
    messages = converted[researcher] if researcher is not None else []
    brief = next((m.text for m in messages if m.role == "user"), "")
    if not brief:
        brief = f"(no researcher transcript: {record.researcher.backend} on {record.task_id})"
    last = next((m for m in reversed(messages) if m.role == "assistant"), None)
    output = (
        ModelOutput(model=model, choices=[ChatCompletionChoice(message=last, stop_reason="stop")])
        if last is not None
        else ModelOutput(model=model)
    )
    usage = record.models.usage if record.models is not None else []
    error = (
        EvalError(message=record.error, traceback=record.error, traceback_ansi=record.error)
        if record.error is not None
        else None
    )
    return EvalSample(
        id=record.key,
        epoch=1,
        input=brief,
        target="",
        messages=list(messages),
        output=output,
        scores={SCORER: _score(record)},
        metadata=_metadata(record, talks),
        events=_events(talks, converted),
        model_usage=_usage(usage, "model"),
        role_usage=_usage(usage, "role"),
        uuid=hashlib.sha256(f"{record.run_id}/{record.key}".encode()).hexdigest()[:22],
        error=error,
    )


def _log(store: Store, run_id: str, model: str, samples: list[Any], created: str) -> Any:
    from inspect_ai import __version__ as inspect_version
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalLog,
        EvalMetric,
        EvalPlan,
        EvalPlanStep,
        EvalResults,
        EvalScore,
        EvalSpec,
        EvalStats,
    )
    from inspect_ai.model import GenerateConfig, ModelConfig

    from proctor import __version__
    from proctor.models.client import generate_config

    spec = store.spec(run_id)
    settings = spec.models if spec is not None else None
    roles: dict[str, Any] = {}
    config = GenerateConfig()
    if settings is not None:
        config = generate_config(settings)
        for role in ("judge", "debater", "monitor"):
            if name := settings.model_for(role):
                roles[role] = ModelConfig(model=name, config=config)
    model_usage: dict[str, Any] = {}
    role_usage: dict[str, Any] = {}
    for s in samples:
        _sum_usage(model_usage, s.model_usage)
        _sum_usage(role_usage, s.role_usage)
    values = [float(s.scores[SCORER].value) for s in samples]
    mean = sum(values) / len(values)
    metrics = {"mean": EvalMetric(name="mean", value=mean)}
    if len(values) > 1:
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
        metrics["stderr"] = EvalMetric(name="stderr", value=math.sqrt(var / len(values)))
    name = spec.name if spec is not None else run_id
    eval_spec = EvalSpec(
        eval_id=hashlib.sha256(f"{run_id}/{model}".encode()).hexdigest()[:22],
        run_id=run_id,
        created=created,
        task=f"proctor/{name}",
        task_id=run_id,
        task_display_name=f"proctor {run_id}",
        task_description=(
            f"proctor bench run {run_id}: model-backed episodes with researcher {model}"
        ),
        dataset=EvalDataset(
            name=run_id, samples=len(samples), sample_ids=[str(s.id) for s in samples]
        ),
        model=model,
        model_generate_config=config,
        model_roles=roles or None,
        config=EvalConfig(epochs=1),
        packages={"proctor": __version__, "inspect_ai": inspect_version},
        metadata={
            "proctor_run": run_id,
            "spec": spec.model_dump(mode="json") if spec is not None else None,
        },
    )
    return EvalLog(
        status="success",
        eval=eval_spec,
        plan=EvalPlan(name="proctor", steps=[EvalPlanStep(solver="proctor/researcher")]),
        results=EvalResults(
            total_samples=len(samples),
            completed_samples=len(samples),
            scores=[
                EvalScore(
                    name=SCORER,
                    scorer=SCORER,
                    scored_samples=len(samples),
                    unscored_samples=0,
                    metrics=metrics,
                )
            ],
        ),
        stats=EvalStats(
            started_at=created,
            completed_at=created,
            model_usage=model_usage,
            role_usage=role_usage,
        ),
        samples=samples,
    )
