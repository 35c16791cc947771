"""The live loop's configuration (``proctor run --config loop.toml``) and task files.

A loop file (TOML; every field is checked and errors name it)::

    name = "causal-demo"
    database = "live.sqlite"            # SQLite path (relative to this file) or SQLAlchemy URL
    calibration = "runs/quick"          # the bench run the gate is calibrated on: an output
    # calibration_run = "quick-..."     #   folder (its newest run), or a store URL + run id
    audit_budget = 0.02                 # share of honest work a human can review
    rule = "bonferroni"                 # how protocol suspicions combine (LOOP_RULES)
    protocols = ["replicate", "trace_monitor"]
    budget = 0.3                        # protocol budget, a fraction of the researcher's spend
    protocol_budgets = { consistency = 1.0 }

    [tasks]                             # the queue: domains x levels x seeds, then task files
    domains = ["causal"]
    levels = [1]
    seeds = 20                          # a count from first_seed, or a list of seeds
    first_seed = 900000
    files = ["my-tasks.toml"]

    [[researchers]]                     # who works the queue (ResearcherSpec fields)
    disposition = "honest"
    [[researchers]]
    disposition = "saboteur"

    [review]                            # proctor review: who may log in (see proctor.review)
    token = "..."

A **task file** lists a user's own tasks, one ``[[task]]`` table each, with the domain, level
and seed that define the problem (the task's hidden world is a pure function of them)::

    [[task]]
    domain = "causal"
    level = 2
    seed = 1234

Every task is given to every researcher. The seeds of a loop should not be seeds the
calibration run used (the loop refuses them: thresholds are never applied to the episodes they
were fitted on).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from proctor import registry
from proctor.gate import COMBINERS, RULES
from proctor.models.settings import ModelSettings
from proctor.parsing import ParseError, first_error, read_toml, shown
from proctor.researchers import ResearcherSpec

__all__ = ["LOOP_RULES", "ConfigError", "LoopConfig", "TaskRef", "load_loop", "load_task_file"]

LOOP_RULES: tuple[str, ...] = (*COMBINERS, *RULES)
"""How the loop's gate combines its protocols' suspicions: a calibrated combination of their
honest-calibration p-values (:data:`proctor.gate.COMBINERS`, fitted on the calibration run;
``"bonferroni"`` by default), or the raw ``"max"`` / ``"mean"`` (:data:`proctor.gate.RULES`)."""


class ConfigError(ValueError):
    """A loop file or task file is unreadable or invalid; the message names the field."""


class TaskRef(BaseModel):
    """One task: the (domain, level, seed) that defines it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    domain: str
    level: int = Field(ge=1)
    seed: int = Field(ge=0)


MAX_SEEDS = 100_000
"""Most seeds a ``[tasks] seeds = N`` count may ask for (a guard against typing a seed for a
count: the whole queue is built in memory)."""


class TaskSource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    domains: list[str] = Field(default_factory=list)
    levels: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [1])
    seeds: int | list[int] = 0
    first_seed: int = Field(default=900_000, ge=0)
    files: list[Path] = Field(default_factory=list)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int) and not 0 <= v <= MAX_SEEDS:
            raise ValueError(f"a count of seeds must be in [0, {MAX_SEEDS}], got {v}")
        if isinstance(v, list) and any(s < 0 for s in v):
            raise ValueError(f"seeds must be >= 0, got {min(v)}")
        return v


class ReviewLogin(BaseModel):
    """Who may log in to ``proctor review`` (passed on to :mod:`proctor.review`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str | None = None
    users: dict[str, str] = Field(default_factory=dict)
    """User name -> password hash (``proctor review --hash-password`` makes one)."""
    secret_key: str | None = None
    bench_runs: list[Path] = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)


class LoopConfig(BaseModel):
    """A live loop: its queue, researchers, protocol stack, gate and database."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="loop", min_length=1, max_length=60)
    database: str = "live.sqlite"
    calibration: str
    calibration_run: str | None = None
    audit_budget: float = Field(default=0.02, gt=0, lt=1)
    rule: str = "bonferroni"
    protocols: list[str] = Field(min_length=1)
    budget: float = Field(default=0.3, gt=0)
    protocol_budgets: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    tasks: TaskSource
    researchers: list[ResearcherSpec] = Field(min_length=1)
    models: ModelSettings | None = None
    review: ReviewLogin = Field(default_factory=ReviewLogin)
    base_dir: Path = Field(default=Path("."), exclude=True)
    """Folder that relative paths are taken from (the loop file's folder)."""

    @field_validator("rule")
    @classmethod
    def _rule(cls, v: str) -> str:
        if v not in LOOP_RULES:
            raise ValueError(f"unknown rule {v!r}; known: {', '.join(LOOP_RULES)}")
        return v

    @property
    def loop_id(self) -> str:
        """The loop's name plus a hash of everything that decides its results."""
        data = self.model_dump(mode="json", exclude={"review", "database"})
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.name}-{digest}"

    def path(self, p: str | Path) -> Path:
        path = Path(p)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def database_target(self) -> str | Path:
        return self.database if "://" in self.database else self.path(self.database)

    def budget_of(self, protocol: str) -> float:
        return self.protocol_budgets.get(protocol, self.budget)

    def task_refs(self) -> list[TaskRef]:
        """The queue's tasks in order: domains x levels x seeds, then each task file's."""
        src = self.tasks
        seeds = (
            list(range(src.first_seed, src.first_seed + src.seeds))
            if isinstance(src.seeds, int)
            else list(src.seeds)
        )
        refs = [
            TaskRef(domain=d, level=level, seed=s)
            for d in src.domains
            for level in src.levels
            for s in seeds
        ]
        for f in src.files:
            refs.extend(load_task_file(self.path(f)))
        return list(dict.fromkeys(refs))

    def check(self) -> LoopConfig:
        """Check names against the registry; raise ConfigError naming what is wrong."""
        from proctor.domains import get_domain
        from proctor.researchers.strategy import SKILLS, variant_names

        refs = self.task_refs()
        if not refs:
            raise ConfigError("tasks: the queue is empty (give domains and seeds, or files)")
        domains = registry.names("domain")
        for ref in refs:
            if ref.domain not in domains:
                raise ConfigError(
                    f"tasks: unknown domain {ref.domain!r}; known: {', '.join(domains)}"
                )
            levels = get_domain(ref.domain).levels
            if ref.level not in levels:
                raise ConfigError(f"tasks: {ref.domain} has levels {list(levels)}, not {ref.level}")
            for p in self.protocols:
                if not registry.applies("protocol", p, ref.domain):
                    known = ", ".join(registry.names("protocol", ref.domain))
                    raise ConfigError(
                        f"protocols: unknown protocol {p!r} for {ref.domain}; known: {known}"
                    )
            for r in self.researchers:
                if r.disposition_variant not in variant_names(ref.domain):
                    raise ConfigError(
                        f"researchers: unknown disposition {r.disposition_variant!r} for "
                        f"{ref.domain}"
                    )
        for p in self.protocol_budgets:
            if p not in self.protocols:
                raise ConfigError(f"protocol_budgets: {p!r} is not one of the loop's protocols")
        for r in self.researchers:
            if r.backend_name == "llm" and (self.models is None or not self.models.researcher):
                raise ConfigError(
                    f"researchers: backend {r.backend!r} needs [models] researcher = <model>"
                )
            if r.backend_name not in ("scripted", "llm"):
                raise ConfigError(f"researchers: unknown backend {r.backend!r}")
            if r.skill not in SKILLS:
                raise ConfigError(f"researchers: unknown skill {r.skill!r}; known: {SKILLS}")
            for d in sorted({ref.domain for ref in refs}):
                strategy = registry.lookup("disposition", r.disposition, d)
                for name, value in r.knobs.items():
                    lo, hi = strategy.knob_bounds.get(name, (0.0, 1.0))
                    if name not in strategy.knob_defaults or not lo <= value <= hi:
                        raise ConfigError(
                            f"researchers: {r.disposition} knob {name!r} = {value:g} is unknown "
                            f"or outside [{lo:g}, {hi:g}] (known: {sorted(strategy.knob_defaults)})"
                        )
        return self


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return read_toml(path, what)
    except ParseError as err:
        raise ConfigError(str(err)) from None


def load_task_file(path: Path) -> list[TaskRef]:
    """Tasks from a task file (``[[task]]`` tables of domain, level, seed)."""
    data = _read_toml(path, "task file")
    unknown = set(data) - {"task"}
    if unknown:
        raise ConfigError(f"{shown(path)}: unknown table(s) {sorted(unknown)}; expected [[task]]")
    items = data.get("task", [])
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{shown(path)}: no [[task]] tables")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(TaskRef.model_validate(item))
        except ValidationError as err:
            raise ConfigError(f"{shown(path)}: task[{i}].{first_error(err, 'task')}") from None
    return out


def load_loop(path: Path) -> LoopConfig:
    """Load and check a loop file; relative paths in it are taken from its folder."""
    data = _read_toml(path, "loop file")
    if "base_dir" in data:
        raise ConfigError("base_dir: Extra inputs are not permitted")
    if "models" in data and isinstance(data["models"], dict):
        model = data["models"].get("researcher")
        researchers = data.get("researchers", [])
        for r in researchers if isinstance(researchers, list) else []:
            if isinstance(r, dict) and r.get("backend") == "llm" and model:
                r["backend"] = f"llm:{model}"
    try:
        cfg = LoopConfig.model_validate(data | {"base_dir": path.parent})
    except ValidationError as err:
        raise ConfigError(first_error(err, "loop")) from None
    return cfg.check()
