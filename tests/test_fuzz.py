"""Property-based tests of every parser (issue "Scale and hardening", item "Bad input").

Every parser turns malformed input into its own error type with a one-line message naming the
field (or the file), never a crash and never a silent default:

* sweep TOML: :func:`proctor.bench.spec.load_spec` -> ``SpecError``;
* loop and task files: :func:`proctor.live.config.load_loop`, ``load_task_file`` -> ``ConfigError``;
* model reports: :func:`proctor.researchers.llm.parse_report` -> ``ReportFormatError``;
* constitutions: :func:`proctor.protocols.critique.load_constitution` -> ``ValueError``;
* ``proctor bench --config`` and ``proctor run --config``: exit status 2, one ``error:`` line.

The properties: (a) a call succeeds or raises exactly the parser's error type; (b) the message
is one line and names a field or the file; (c) for a valid input with ONE field replaced by a
bad value, the message names that field; (d) valid inputs parse and round-trip.

Profiles: ``fuzz`` (default: 50 examples per property, for CI) and ``nightly`` (2,000), chosen
with ``HYPOTHESIS_PROFILE=nightly``. There is no example database, so runs leave no files.
"""

from __future__ import annotations

import atexit
import copy
import json
import math
import os
import re
import shutil
import string
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.strategies import SearchStrategy

from proctor import registry
from proctor.bench.spec import SpecError, SweepSpec, load_spec, make_spec
from proctor.cli import main
from proctor.core import Claim, ReasoningEvent, Report, TraceEvent
from proctor.domains import get_domain
from proctor.gate import RULES as GATE_RULES
from proctor.live.config import MAX_SEEDS, ConfigError, LoopConfig, load_loop, load_task_file
from proctor.models.settings import ModelSettings
from proctor.protocols.critique import DEFAULT_PATH, RULES, Principle, load_constitution
from proctor.researchers.llm import ReportFormatError, parse_report
from proctor.researchers.strategy import SKILLS, variant_names

# --- profiles --------------------------------------------------------------------------------

_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    # Hypothesis caches source constants in ./.hypothesis even without a database: keep them
    # out of the repo, in a folder removed at exit.
    _HOME = tempfile.mkdtemp(prefix="proctor-hypothesis-")
    set_hypothesis_home_dir(_HOME)
    atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
settings.register_profile("fuzz", max_examples=50, **_COMMON)
settings.register_profile("nightly", max_examples=2000, **_COMMON)
FUZZ = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "fuzz"))
"""Applied per test (not loaded globally, so other test files keep their own settings)."""
FEW = settings(FUZZ, max_examples=max(5, FUZZ.max_examples // 5))
"""The CLI cases: each one goes through click, so fewer of them."""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# --- the registry, as the strategies need it -------------------------------------------------

DOMAINS = registry.names("domain")
PROTOCOLS = registry.names("protocol")
MODEL_FIELDS = set(ModelSettings.model_fields)
DISPOSITIONS = sorted({n for d in DOMAINS for n in registry.names("disposition", d)})


def _common(values: Callable[[str], Any], domains: list[str]) -> list[Any]:
    sets = [set(values(d)) for d in domains]
    return sorted(set.intersection(*sets))


def levels_of(domains: list[str]) -> list[int]:
    return _common(lambda d: get_domain(d).levels, domains)


def protocols_of(domains: list[str]) -> list[str]:
    return _common(lambda d: [p for p in PROTOCOLS if registry.applies("protocol", p, d)], domains)


def variants_of(domains: list[str]) -> list[str]:
    return _common(variant_names, domains)


# --- a tiny TOML writer (tomli_w is not installed) ---------------------------------------------


def toml_str(s: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, bar DEL, which TOML wants escaped."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else f"{v:f}")
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_str(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {v!r}")


def dumps(data: dict[str, Any]) -> str:
    return "".join(f"{toml_str(k)} = {toml_value(v)}\n" for k, v in data.items())


def test_toml_writer_round_trips() -> None:
    data = {"a\n\x7fé": [1, -0.5, 1e16, True, 'x"y\\'], "t": {"u": [], "v": {}}, "f": 5e-324}
    assert tomllib.loads(dumps(data)) == data
    assert math.isinf(tomllib.loads(dumps({"x": -math.inf}))["x"])


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def without_none(value: Any) -> Any:
    """A dump as TOML can hold it: None (the default of every optional field) left out."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


def replaced(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """`base` with the field at `path` (keys and list indices) set to `value`."""
    data = copy.deepcopy(base)
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


# --- the error checks ------------------------------------------------------------------------


def error_of(kind: type[Exception], call: Callable[[], Any]) -> str | None:
    """Run `call`: None if it succeeds, else the message of an error of exactly type `kind`
    (anything else, a subclass included, propagates and fails the property), one line."""
    try:
        call()
    except kind as err:
        assert type(err) is kind, f"{type(err).__name__} escaped: {err}"
        message = str(err)
        assert len(message.splitlines()) == 1, f"not one line: {message!r}"
        return message
    return None


def shown(key: object) -> str:
    """A key as the parsers show it in a message (quoted when unprintable)."""
    text = str(key)
    return text if text.isprintable() else repr(text)


def starts_with_key(message: str, keys: set[str]) -> bool:
    return any(message.startswith(shown(k) + sep) for k in keys for sep in (":", "."))


def names_path(message: str, path: tuple[Any, ...]) -> bool:
    """Whether the message's leading field path and `path` agree as far as both go
    (``tasks: ...`` and ``tasks.levels.0: ...`` both name ``tasks.levels``)."""
    head = message.split(": ", 1)[0].split(".")
    want = [str(p) for p in path]
    n = min(len(head), len(want))
    return head[:n] == want[:n]


def toml_keys(raw: bytes, *tables: str) -> set[str]:
    """The top-level keys of `raw` (and of the named tables) if it is TOML at all."""
    try:
        data = tomllib.loads(raw.decode())
    except (ValueError, RecursionError):
        return set()
    keys = set(data)
    for t in tables:
        if isinstance(data.get(t), dict):
            keys |= set(data[t])
    return keys


# --- strategies shared by the parsers --------------------------------------------------------

WORD = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=10)
INTS = st.integers(-(2**63), 2**63 - 1)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.one_of(INTS, st.floats(), st.booleans(), st.text(max_size=10))


def _not_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return True
    return False


NOT_NUMERIC = st.text(string.ascii_letters, min_size=1, max_size=8).filter(_not_float)
"""Text no lax validator reads as a number (``"inf"`` and ``"nan"`` are numbers to pydantic)."""
SMALL_DICTS = st.dictionaries(WORD, st.integers(0, 3), min_size=1, max_size=2)
SMALL_LISTS = st.lists(st.integers(0, 3), min_size=1, max_size=2)
NOT_STR = st.one_of(INTS, st.floats(), st.booleans(), SMALL_LISTS, SMALL_DICTS)
NOT_LIST = st.one_of(INTS, st.floats(), st.booleans(), st.text(max_size=8), SMALL_DICTS)
NOT_DICT = st.one_of(INTS, st.floats(), st.booleans(), st.text(max_size=8), SMALL_LISTS)
NOT_NUMBER = st.one_of(NOT_NUMERIC, SMALL_LISTS, SMALL_DICTS)
NOT_INT = st.one_of(
    NOT_NUMERIC, SMALL_LISTS, SMALL_DICTS, st.floats().filter(lambda x: not float(x).is_integer())
)
_BOOL_WORDS = {"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"}
NOT_BOOL = st.one_of(
    INTS.filter(lambda n: n not in (0, 1)),
    st.text(string.ascii_letters, min_size=1, max_size=6).filter(
        lambda s: s.lower() not in _BOOL_WORDS
    ),
    SMALL_LISTS,
    SMALL_DICTS,
)
OUTSIDE_UNIT = st.floats().filter(lambda x: not 0 <= x <= 1)
OUTSIDE_OPEN_UNIT = st.floats().filter(lambda x: not 0 < x < 1)
NOT_POSITIVE = st.floats().filter(lambda x: not x > 0)
TOKENS = ["[", "]", "[[", "]]", "{", "}", "=", ",", ".", '"', "'", '"""', "\n", " ", "#", "\\"]
TOKENS += ["x", "1", "-1", "0.5", "1e999", "nan", "inf", "true", "1979-05-27", "07:32:00"]


def garbage(valid: str, *words: str) -> SearchStrategy[bytes]:
    """Arbitrary bytes and text, truncations and small mutations of a valid file, and soup of
    TOML tokens and field names."""
    enc = valid.encode()
    at = st.integers(0, len(enc))
    return st.one_of(
        st.binary(max_size=120),
        st.text(max_size=120).map(str.encode),
        at.map(lambda n: enc[:n]),
        st.tuples(at, st.binary(min_size=1, max_size=4)).map(
            lambda t: enc[: t[0]] + t[1] + enc[t[0] :]
        ),
        st.tuples(at, st.integers(1, 8)).map(lambda t: enc[: t[0]] + enc[t[0] + t[1] :]),
        st.lists(st.sampled_from(TOKENS + list(words)), max_size=30).map(
            lambda xs: "".join(xs).encode()
        ),
    )


def unknown_key(known: set[str]) -> SearchStrategy[tuple[tuple[str], Any]]:
    return st.tuples(WORD.filter(lambda k: k not in known).map(lambda k: (k,)), SCALARS)


def one_bad(
    table: list[tuple[tuple[Any, ...], SearchStrategy[Any]]], *more: SearchStrategy[Any]
) -> SearchStrategy[tuple[tuple[Any, ...], Any]]:
    """A (field path, bad value) pair from the table, or from the extra strategies."""
    return st.one_of(*(st.tuples(st.just(path), values) for path, values in table), *more)


# === 1. sweep TOML ===========================================================================

SPEC_FIELDS = set(SweepSpec.model_fields)
SPEC_BASE: dict[str, Any] = {
    "name": "fz",
    "domains": ["causal"],
    "levels": [1],
    "protocols": ["direct"],
    "budgets": [0.5],
    "adaptive": False,
    "seeds": {"dev": 0, "calibration": 2, "test": 1},
}
SPEC_TEXT = """[sweep]
name = "fz"
domains = ["causal", "optimize"]
levels = [1, 2]
protocols = ["direct", "replicate"]
budgets = [0.1, 0.5]
audit_budgets = [0.02]
adaptive = false
[sweep.seeds]
calibration = 5
test = 3
[sweep.knobs.sandbagger]
recognition = [0.0, 1.0]
[[sweep.population]]
skill = "expert"
budget = 1.0
"""
SANDBAGGER_KNOBS = set(registry.lookup("disposition", "sandbagger", "causal").knob_defaults)
MEMBER_BAD = st.one_of(
    st.fixed_dictionaries({"budget": st.floats().filter(lambda x: not 0 < x <= 1)}),
    st.fixed_dictionaries({"skill": WORD.filter(lambda w: w not in SKILLS)}),
    st.fixed_dictionaries({"backend": WORD.filter(lambda w: w not in registry.names("backend"))}),
    st.fixed_dictionaries({"backend": st.just("llm:some/model")}),
    st.dictionaries(
        WORD.filter(lambda k: k not in {"backend", "skill", "budget"}),
        SCALARS,
        min_size=1,
        max_size=1,
    ),
    NOT_DICT,
)
Table = list[tuple[tuple[Any, ...], SearchStrategy[Any]]]
SPEC_BAD: Table = [
    (("name",), NOT_STR),
    (
        ("domains",),
        NOT_LIST
        | st.just([])
        | st.lists(WORD.filter(lambda w: w not in DOMAINS), min_size=1, max_size=2),
    ),
    (
        ("levels",),
        NOT_LIST
        | st.just([])
        | st.lists(
            st.integers(-3, 40).filter(lambda n: n not in levels_of(["causal"])) | NOT_INT,
            min_size=1,
            max_size=2,
        ),
    ),
    (("population",), NOT_LIST | st.just([]) | st.lists(MEMBER_BAD, min_size=1, max_size=2)),
    (
        ("organisms",),
        NOT_LIST
        | st.lists(WORD.filter(lambda w: w not in variants_of(["causal"])), min_size=1, max_size=2),
    ),
    (
        ("knobs",),
        NOT_DICT
        | st.dictionaries(
            WORD.filter(lambda w: w not in DISPOSITIONS), st.just({}), min_size=1, max_size=1
        )
        | WORD.filter(lambda w: w not in SANDBAGGER_KNOBS).map(lambda k: {"sandbagger": {k: 0.5}})
        | st.one_of(
            OUTSIDE_UNIT,
            st.lists(OUTSIDE_UNIT, min_size=1, max_size=2),
            st.just([]),
            NOT_NUMERIC,
            SMALL_DICTS,
        ).map(lambda v: {"sandbagger": {"recognition": v}}),
    ),
    (
        ("protocols",),
        NOT_LIST | st.lists(WORD.filter(lambda w: w not in PROTOCOLS), min_size=1, max_size=2),
    ),
    (("budgets",), NOT_LIST | st.lists(NOT_POSITIVE | NOT_NUMERIC, min_size=1, max_size=2)),
    (
        ("protocol_budgets",),
        NOT_DICT
        | st.dictionaries(
            WORD.filter(lambda w: w not in PROTOCOLS), st.just([0.5]), min_size=1, max_size=1
        )
        | st.one_of(NOT_LIST, st.lists(NOT_POSITIVE | NOT_NUMERIC, min_size=1, max_size=2)).map(
            lambda v: {"replicate": v}
        ),
    ),
    (
        ("audit_budgets",),
        NOT_LIST | st.lists(OUTSIDE_OPEN_UNIT | NOT_NUMERIC, min_size=1, max_size=2),
    ),
    (
        ("seeds",),
        NOT_DICT
        | st.tuples(
            st.sampled_from(["dev", "calibration", "test", "organism_calibration"]),
            st.integers(max_value=-1) | NOT_INT,
        ).map(lambda kv: dict([kv]))
        | st.dictionaries(
            WORD.filter(lambda w: w not in {"dev", "calibration", "test", "organism_calibration"}),
            st.integers(0, 3),
            min_size=1,
            max_size=1,
        ),
    ),
    (("capability_test_rate",), OUTSIDE_UNIT | NOT_NUMBER),
    (("rerun_recognition",), OUTSIDE_UNIT | NOT_NUMBER),
    (
        ("models",),
        NOT_DICT
        | st.dictionaries(
            WORD.filter(lambda w: w not in MODEL_FIELDS), SCALARS, min_size=1, max_size=1
        )
        | (st.integers(max_value=0) | NOT_INT).map(lambda v: {"max_steps": v})
        | st.floats().filter(lambda x: not x >= 0).map(lambda v: {"temperature": v})
        | NOT_STR.map(lambda v: {"researcher": v}),
    ),
    (("adaptive",), NOT_BOOL),
]


@st.composite
def sweeps(draw: st.DrawFn) -> dict[str, Any]:
    """A valid sweep, with a random subset of its fields given (the rest default)."""
    domains = draw(st.lists(st.sampled_from(DOMAINS), min_size=1, max_size=2, unique=True))
    unit = st.floats(0, 1)
    full = {
        "name": draw(st.text(max_size=12)),
        "domains": domains,
        "levels": draw(st.lists(st.sampled_from(levels_of(domains)), min_size=1, unique=True)),
        "protocols": draw(
            st.lists(st.sampled_from(protocols_of(domains)), max_size=3, unique=True)
        ),
        "organisms": draw(
            st.lists(
                st.sampled_from([v for v in variants_of(domains) if v != "honest"]),
                max_size=3,
                unique=True,
            )
        ),
        "population": draw(
            st.lists(
                st.fixed_dictionaries(
                    {"skill": st.sampled_from(SKILLS), "budget": st.floats(0, 1, exclude_min=True)}
                ),
                min_size=1,
                max_size=3,
            )
        ),
        "knobs": {
            "sandbagger": {"recognition": draw(unit | st.lists(unit, min_size=1, max_size=3))}
        },
        "budgets": draw(st.lists(st.floats(1e-3, 5), min_size=1, max_size=3)),
        "protocol_budgets": draw(
            st.dictionaries(
                st.sampled_from(PROTOCOLS),
                st.lists(st.floats(1e-3, 5), min_size=1, max_size=2),
                max_size=2,
            )
        ),
        "audit_budgets": draw(
            st.lists(st.floats(0, 1, exclude_min=True, exclude_max=True), min_size=1, max_size=2)
        ),
        "seeds": {
            "dev": draw(st.integers(0, 3)),
            "calibration": draw(st.integers(0, 9)),
            "test": draw(st.integers(0, 9)),
        },
        "capability_test_rate": draw(unit),
        "rerun_recognition": draw(unit),
        "adaptive": draw(st.booleans()),
    }
    keep = draw(st.sets(st.sampled_from(sorted(full))))
    return {k: v for k, v in full.items() if k in keep or k == "domains"}


@FUZZ
@given(raw=garbage(SPEC_TEXT, "sweep", *sorted(SPEC_FIELDS)))
@example(raw=b"\xff\xfe")  # was UnicodeDecodeError
@example(raw=b"sweep = 3")  # was TypeError (int | dict)
@example(raw=b"a = " + b"[" * 5000)  # was RecursionError
@example(raw=b"a = " + b"1" * 5000)  # was ValueError (int too long)
@example(raw=b'"a\\nb" = 1')  # was a two-line message
def test_sweep_file_gives_a_spec_or_a_named_error(folder: Path, raw: bytes) -> None:
    path = write(folder, "sweep.toml", raw)
    message = error_of(SpecError, lambda: load_spec(path))
    if message is not None:
        keys = SPEC_FIELDS | {"sweep"} | toml_keys(raw, "sweep")
        assert str(path) in message or starts_with_key(message, keys), message


@FUZZ
@given(bad=one_bad(SPEC_BAD, unknown_key(SPEC_FIELDS | {"sweep"})), table=st.booleans())
@example(bad=(("knobs",), {"sandbagger": {"recognition": -5.0}}), table=False)  # was accepted
@example(bad=(("population",), [{"skill": "wizard"}]), table=False)  # was accepted
@example(bad=(("levels",), []), table=False)  # was accepted: a sweep of nothing
def test_one_bad_sweep_field_is_named(
    folder: Path, bad: tuple[tuple[Any, ...], Any], table: bool
) -> None:
    path, value = bad
    data = replaced(SPEC_BASE, path, value)
    file = write(folder, "one-bad-sweep.toml", dumps({"sweep": data} if table else data))
    message = error_of(SpecError, lambda: load_spec(file))
    assert message is not None, f"accepted {path}={value!r}"
    assert names_path(message, path), message
    assert message == error_of(SpecError, lambda: make_spec(data))


@FUZZ
@given(data=sweeps(), field=st.sampled_from(sorted(SPEC_FIELDS)))
@example(data={"domains": ["causal"]}, field="levels")  # `levels = [1]` before [sweep]: was ignored
def test_fields_outside_the_sweep_table_are_not_ignored(
    folder: Path, data: dict[str, Any], field: str
) -> None:
    text = dumps({field: SPEC_BASE.get(field, "x")}) + "[sweep]\n" + dumps(data)
    message = error_of(SpecError, lambda: load_spec(write(folder, "outside.toml", text)))
    assert message is not None and message.startswith(f"{field}: outside the [sweep] table")


@FUZZ
@given(data=sweeps(), table=st.booleans())
def test_valid_sweeps_parse_and_round_trip(folder: Path, data: dict[str, Any], table: bool) -> None:
    spec = load_spec(write(folder, "valid-sweep.toml", dumps({"sweep": data} if table else data)))
    assert spec == make_spec(data)
    for key, value in data.items():
        if key not in ("budgets", "protocol_budgets", "audit_budgets", "population", "seeds"):
            assert spec.model_dump(mode="json")[key] == value, key
    again = load_spec(
        write(folder, "again.toml", dumps(without_none(spec.model_dump(mode="json"))))
    )
    assert again == spec and again.run_id == spec.run_id


# === 2. loop files and task files ============================================================

LOOP_FIELDS = set(LoopConfig.model_fields)
LOOP_BASE: dict[str, Any] = {
    "name": "fz",
    "calibration": "runs/none",
    "protocols": ["replicate"],
    "tasks": {"domains": ["causal"], "levels": [1], "seeds": 2},
    "researchers": [{"disposition": "honest"}],
}
LOOP_TEXT = """name = "fz"
calibration = "runs/none"
protocols = ["replicate", "trace_monitor"]
budget = 0.3
protocol_budgets = { replicate = 0.5 }
[tasks]
domains = ["causal"]
levels = [1]
seeds = 2
[[researchers]]
disposition = "honest"
[[researchers]]
disposition = "saboteur"
variant = "misread"
[models]
max_steps = 5
[review]
token = "t"
"""
TASK_SOURCE = {"domains", "levels", "seeds", "first_seed", "files"}
RESEARCHER_BAD = st.one_of(
    st.fixed_dictionaries({"disposition": WORD.filter(lambda w: w not in DISPOSITIONS)}),
    st.fixed_dictionaries(
        {
            "disposition": st.just("saboteur"),
            "variant": WORD.filter(lambda w: f"saboteur:{w}" not in variants_of(["causal"])),
        }
    ),
    st.fixed_dictionaries({"budget": st.floats().filter(lambda x: not 0 < x <= 1)}),
    st.fixed_dictionaries({"backend": WORD.filter(lambda w: w not in ("scripted", "llm"))}),
    st.fixed_dictionaries({"backend": st.just("llm")}),
    st.fixed_dictionaries({"skill": WORD.filter(lambda w: w not in SKILLS)}),
    st.fixed_dictionaries(
        {
            "disposition": st.just("sandbagger"),
            "knobs": st.fixed_dictionaries({"recognition": OUTSIDE_UNIT}),
        }
    ),
    st.fixed_dictionaries(
        {
            "disposition": st.just("saboteur"),
            "knobs": st.dictionaries(
                WORD.filter(lambda w: w not in SANDBAGGER_KNOBS),
                st.floats(0, 1),
                min_size=1,
                max_size=1,
            ),
        }
    ),
    st.fixed_dictionaries({"knobs": NOT_DICT}),
    st.dictionaries(
        WORD.filter(
            lambda k: k not in {"backend", "skill", "budget", "disposition", "variant", "knobs"}
        ),
        SCALARS,
        min_size=1,
        max_size=1,
    ),
    NOT_DICT,
)
LOOP_BAD: Table = [
    (("name",), NOT_STR | st.just("") | st.text(min_size=61, max_size=70)),
    (("database",), NOT_STR),
    (("calibration",), NOT_STR),
    (("calibration_run",), NOT_STR),
    (("audit_budget",), OUTSIDE_OPEN_UNIT | NOT_NUMBER),
    (("rule",), NOT_STR | WORD.filter(lambda w: w not in GATE_RULES)),
    (
        ("protocols",),
        NOT_LIST
        | st.just([])
        | st.lists(WORD.filter(lambda w: w not in PROTOCOLS), min_size=1, max_size=2),
    ),
    (("budget",), NOT_POSITIVE | NOT_NUMBER),
    (
        ("protocol_budgets",),
        NOT_DICT
        | (NOT_POSITIVE | NOT_NUMBER).map(lambda v: {"replicate": v})
        | WORD.filter(lambda w: w != "replicate").map(lambda p: {p: 0.5}),
    ),
    (
        ("tasks",),
        NOT_DICT
        | st.dictionaries(
            WORD.filter(lambda w: w not in TASK_SOURCE), SCALARS, min_size=1, max_size=1
        ),
    ),
    (
        ("tasks", "domains"),
        NOT_LIST
        | st.just([])
        | st.lists(WORD.filter(lambda w: w not in DOMAINS), min_size=1, max_size=2),
    ),
    (
        ("tasks", "levels"),
        NOT_LIST
        | st.lists(
            st.integers(-3, 40).filter(lambda n: n not in levels_of(["causal"])) | NOT_INT,
            min_size=1,
            max_size=2,
        ),
    ),
    (
        ("tasks", "seeds"),
        st.integers(max_value=-1)
        | st.integers(MAX_SEEDS + 1, 2**63 - 1)
        | st.lists(st.integers(max_value=-1), min_size=1, max_size=2)
        | NOT_INT.filter(lambda v: not isinstance(v, list)),
    ),
    (("tasks", "first_seed"), st.integers(max_value=-1) | NOT_INT),
    (("tasks", "files"), NOT_LIST | st.lists(WORD, min_size=1, max_size=2)),
    (("researchers",), NOT_LIST | st.just([]) | st.lists(RESEARCHER_BAD, min_size=1, max_size=2)),
    (
        ("models",),
        NOT_DICT
        | (st.integers(max_value=0) | NOT_INT).map(lambda v: {"max_steps": v})
        | WORD.filter(lambda w: w not in MODEL_FIELDS).map(lambda k: {k: 1}),
    ),
    (
        ("review",),
        NOT_DICT
        | INTS.filter(lambda p: not 1 <= p <= 65535).map(lambda p: {"port": p})
        | NOT_DICT.map(lambda u: {"users": u})
        | NOT_STR.map(lambda t: {"token": t})
        | WORD.filter(
            lambda w: w not in {"token", "users", "secret_key", "bench_runs", "host", "port"}
        ).map(lambda k: {k: 1}),
    ),
]


@st.composite
def loops(draw: st.DrawFn) -> dict[str, Any]:
    domains = draw(st.lists(st.sampled_from(DOMAINS), min_size=1, max_size=2, unique=True))
    protocols = draw(
        st.lists(st.sampled_from(protocols_of(domains)), min_size=1, max_size=3, unique=True)
    )
    researchers = []
    for v in draw(st.lists(st.sampled_from(variants_of(domains)), min_size=1, max_size=3)):
        disposition, _, variant = v.partition(":")
        r: dict[str, Any] = {"disposition": disposition, "skill": draw(st.sampled_from(SKILLS))}
        if variant:
            r["variant"] = variant
        if disposition != "honest" and draw(st.booleans()):
            r["knobs"] = {"strength": draw(st.floats(0, 1))}
        researchers.append(r)
    seeds = draw(st.integers(1, 3) | st.lists(st.integers(0, 10**6), min_size=1, max_size=3))
    return {
        "name": draw(st.text(min_size=1, max_size=60)),
        "database": draw(st.text(max_size=10)),
        "calibration": draw(st.text(max_size=10)),
        "audit_budget": draw(st.floats(0, 1, exclude_min=True, exclude_max=True)),
        "rule": draw(st.sampled_from(sorted(GATE_RULES))),
        "protocols": protocols,
        "budget": draw(st.floats(1e-3, 10)),
        "protocol_budgets": {
            p: draw(st.floats(1e-3, 10)) for p in protocols if draw(st.booleans())
        },
        "tasks": {
            "domains": domains,
            "levels": draw(st.lists(st.sampled_from(levels_of(domains)), min_size=1, unique=True)),
            "seeds": seeds,
            "first_seed": draw(st.integers(0, 10**7)),
        },
        "researchers": researchers,
        "review": {"token": draw(st.text(max_size=8)), "port": draw(st.integers(1, 65535))},
    }


@FUZZ
@given(raw=garbage(LOOP_TEXT, "tasks", "researchers", *sorted(LOOP_FIELDS)))
@example(raw=b"\xff")  # was UnicodeDecodeError
@example(raw=b"a = " + b"{a = " * 3000)  # was RecursionError
@example(raw=b'researchers = 3\n[models]\nresearcher = "m"\n')  # was TypeError
@example(raw=LOOP_TEXT.replace("seeds = 2", "seeds = [-1]").encode())  # was a ValidationError
def test_loop_file_gives_a_config_or_a_named_error(folder: Path, raw: bytes) -> None:
    path = write(folder, "loop.toml", raw)
    message = error_of(ConfigError, lambda: load_loop(path))
    if message is not None:
        keys = LOOP_FIELDS | toml_keys(raw)
        assert str(path) in message or "task file" in message or starts_with_key(message, keys), (
            message
        )


@FUZZ
@given(bad=one_bad(LOOP_BAD, unknown_key(LOOP_FIELDS)))
@example(bad=(("tasks", "levels"), [0]))  # was a pydantic ValidationError from TaskRef
@example(bad=(("tasks", "seeds"), 10**12))  # was a queue of 10**12 tasks built in memory
@example(bad=(("tasks", "seeds"), -3))  # was silently no seeds
@example(bad=(("protocol_budgets",), {"replicate": -1.0}))  # was accepted
@example(bad=(("tasks", "files"), ["a\x00b"]))  # was ValueError (NUL in a path)
@example(bad=(("tasks", "files"), ["a\nb"]))  # was a two-line message
@example(bad=(("base_dir",), "/elsewhere"))  # was silently replaced by the file's folder
@example(bad=(("researchers",), [{"skill": "wizard"}]))  # was accepted
def test_one_bad_loop_field_is_named(folder: Path, bad: tuple[tuple[Any, ...], Any]) -> None:
    path, value = bad
    file = write(folder, "one-bad-loop.toml", dumps(replaced(LOOP_BASE, path, value)))
    message = error_of(ConfigError, lambda: load_loop(file))
    assert message is not None, f"accepted {path}={value!r}"
    if path == ("tasks", "files") and isinstance(value, list):
        assert message.startswith("cannot read task file "), message
    else:
        assert names_path(message, path), message


@FUZZ
@given(data=loops())
def test_valid_loops_parse_and_round_trip(folder: Path, data: dict[str, Any]) -> None:
    cfg = load_loop(write(folder, "valid-loop.toml", dumps(data)))
    assert cfg.protocols == data["protocols"] and cfg.budget == data["budget"]
    assert [r.disposition for r in cfg.researchers] == [
        r["disposition"] for r in data["researchers"]
    ]
    again = load_loop(
        write(folder, "valid-loop.toml", dumps(without_none(cfg.model_dump(mode="json"))))
    )
    assert again == cfg and again.loop_id == cfg.loop_id


TASK_BASE = {"task": [{"domain": "causal", "level": 1, "seed": 5}]}
TASK_BAD: Table = [
    (("task", 0, "domain"), NOT_STR),
    (("task", 0, "level"), st.integers(max_value=0) | NOT_INT),
    (("task", 0, "seed"), st.integers(max_value=-1) | NOT_INT),
]


@FUZZ
@given(raw=garbage(dumps(TASK_BASE), "task", "domain", "level", "seed", "[[task]]"))
@example(raw=b"\x80")  # was UnicodeDecodeError
@example(raw=b'[[task]]\ndomain = "causal"\nlevel = 1\nseed = 1\n"x\\ny" = 2\n')  # two lines
def test_task_file_gives_tasks_or_a_named_error(folder: Path, raw: bytes) -> None:
    path = write(folder, "tasks.toml", raw)
    message = error_of(ConfigError, lambda: load_task_file(path))
    assert message is None or str(path) in message, message


@FUZZ
@given(
    bad=one_bad(
        TASK_BAD,
        unknown_key({"domain", "level", "seed"}).map(lambda kv: (("task", 0, *kv[0]), kv[1])),
    )
)
def test_one_bad_task_field_is_named(folder: Path, bad: tuple[tuple[Any, ...], Any]) -> None:
    path, value = bad
    file = write(folder, "one-bad-task.toml", dumps(replaced(TASK_BASE, path, value)))
    message = error_of(ConfigError, lambda: load_task_file(file))
    assert message is not None and message.startswith(f"{file}: task[0].{path[-1]}"), message


@FUZZ
@given(
    tasks=st.lists(
        st.fixed_dictionaries(
            {
                "domain": st.text(max_size=8),
                "level": st.integers(1, 2**63 - 1),
                "seed": st.integers(0, 2**63 - 1),
            }
        ),
        min_size=1,
        max_size=4,
    )
)
def test_valid_task_files_parse(folder: Path, tasks: list[dict[str, Any]]) -> None:
    refs = load_task_file(write(folder, "valid-tasks.toml", dumps({"task": tasks})))
    assert [r.model_dump() for r in refs] == tasks


# === 3. report JSON from model-backed researchers ============================================

CLAIM_FIELDS = set(Claim.model_fields)
CLAIM_BASE = {
    "id": "c1",
    "kind": "effect",
    "content": {"source": "X0", "target": "X1"},
    "estimate": 0.5,
    "interval": [0.1, 0.9],
    "coverage": 0.95,
    "probability": 0.7,
    "evidence": ["researcher-0001"],
    "text": "t",
}
REPORT_BASE = {"claims": [CLAIM_BASE], "summary": "s"}
JSON_NOT_NUMBER = st.one_of(
    NOT_NUMERIC, SMALL_LISTS, SMALL_DICTS, st.sampled_from(["nan", "inf", "-Infinity"])
)
CLAIM_BAD: Table = [
    (("claims", 0, "id"), NOT_STR.filter(lambda v: not isinstance(v, float) or math.isfinite(v))),
    (("claims", 0, "kind"), st.one_of(INTS, st.booleans(), SMALL_LISTS, SMALL_DICTS, st.none())),
    (
        ("claims", 0, "content"),
        st.one_of(INTS, FINITE, st.booleans(), st.text(max_size=8), SMALL_LISTS),
    ),
    (("claims", 0, "estimate"), JSON_NOT_NUMBER),
    (
        ("claims", 0, "interval"),
        st.one_of(
            INTS,
            st.text(max_size=8),
            st.lists(FINITE, max_size=5).filter(lambda xs: len(xs) != 2),
            st.tuples(JSON_NOT_NUMBER, FINITE).map(list),
        ),
    ),
    (("claims", 0, "coverage"), JSON_NOT_NUMBER | st.none()),
    (("claims", 0, "probability"), FINITE.filter(lambda x: not 0 <= x <= 1) | JSON_NOT_NUMBER),
    (
        ("claims", 0, "evidence"),
        st.one_of(
            INTS,
            st.text(max_size=8),
            SMALL_DICTS,
            st.lists(st.one_of(INTS, st.none(), SMALL_LISTS), min_size=1, max_size=2),
        ),
    ),
    (
        ("claims", 0, "text"),
        st.one_of(INTS, FINITE, st.booleans(), SMALL_LISTS, SMALL_DICTS, st.none()),
    ),
    (("claims",), st.one_of(INTS, st.text(max_size=8), SMALL_DICTS, st.none())),
    (("claims", 0), st.one_of(INTS, st.text(max_size=8), SMALL_LISTS, st.none())),
    (("summary",), st.one_of(INTS, FINITE, st.booleans(), SMALL_LISTS, SMALL_DICTS)),
]
REPORT_MESSAGE = re.compile(
    r"^(the answer holds no JSON object|the report is not valid JSON: |the report must be an "
    r'object with a "claims" list|unknown report field\(s\) |claims\[\d+\][.:]|claim ids must be '
    r"unique|summary must be a string)"
)
MARKERS = ["<scratchpad>", "</scratchpad>", "```", '```json {"claims": []} ```', "{", "}", "\n"]
TEXT = st.lists(st.text(max_size=8) | st.sampled_from(MARKERS), max_size=3).map("".join)


def _nest(inner: SearchStrategy[Any]) -> SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)


JSON = st.recursive(
    st.none() | st.booleans() | FINITE | st.integers(-(2**53), 2**53) | st.text(max_size=6),
    _nest,
    max_leaves=8,
)
CLAIMS = st.builds(
    Claim,
    id=st.text(max_size=6),
    kind=st.text(max_size=6),
    content=st.dictionaries(st.text(max_size=6), JSON, max_size=3),
    estimate=st.none() | FINITE,
    interval=st.none() | st.tuples(FINITE, FINITE),
    coverage=FINITE,
    probability=st.none() | st.floats(0, 1),
    evidence=st.lists(st.text(max_size=6), max_size=3),
    text=TEXT,
)
TRACE: list[TraceEvent] = [ReasoningEvent(text="thinking")]


@FUZZ
@given(
    text=st.one_of(
        garbage(json.dumps(REPORT_BASE), '"claims"', '"summary"', '"id"', "NaN", "null", ":").map(
            lambda b: b.decode(errors="replace")
        ),
        st.text(max_size=120),
    )
)
@example(text="[" * 100_000)  # was RecursionError
@example(text='{"claims": ' + "[" * 100_000)  # was RecursionError
@example(text='{"claims": [], "summary": ' + "1" * 5000 + "}")  # was ValueError (int too long)
@example(text='{"claims": [{"id": "c", "kind": "k", "content": {}, "estimate": NaN}]}')  # accepted
@example(text='{"claims": [{"id": "c", "kind": "k", "content": {}, "a\\nb": 1}]}')  # two lines
def test_report_text_gives_a_report_or_a_named_error(text: str) -> None:
    message = error_of(ReportFormatError, lambda: parse_report(text, "task", TRACE))
    assert message is None or REPORT_MESSAGE.match(message), message


@FUZZ
@given(
    bad=one_bad(
        CLAIM_BAD,
        unknown_key(CLAIM_FIELDS).map(lambda kv: (("claims", 0, *kv[0]), kv[1])),
        unknown_key({"claims", "summary"}),
    )
)
@example(bad=(("claims", 0, "estimate"), "nan"))  # was accepted as a NaN estimate
@example(bad=(("claims", 0), 3))  # was "claims[0].: ..."
def test_one_bad_report_field_is_named(bad: tuple[tuple[Any, ...], Any]) -> None:
    path, value = bad
    assume(not (isinstance(value, float) and not math.isfinite(value)))
    text = json.dumps(replaced(REPORT_BASE, path, value))
    message = error_of(ReportFormatError, lambda: parse_report(text, "task", TRACE))
    assert message is not None, f"accepted {path}={value!r}"
    if path[0] == "claims" and len(path) > 1:
        assert message.startswith("claims[0]"), message
    assert str(path[-1]) in message or len(path) == 2, message


@FUZZ
@given(
    claims=st.lists(CLAIMS, max_size=4, unique_by=lambda c: c.id),
    summary=TEXT,
    form=st.sampled_from(["bare", "fenced", "scratchpad", "prose"]),
    ascii_only=st.booleans(),
)
@example(claims=[], summary="<scratchpad>", form="bare", ascii_only=False)  # was an error
@example(claims=[], summary='```{"claims": [1]}```', form="bare", ascii_only=False)  # was an error
def test_valid_reports_round_trip(
    claims: list[Claim], summary: str, form: str, ascii_only: bool
) -> None:
    data: dict[str, Any] = {"claims": [c.model_dump(mode="json") for c in claims]}
    if summary or form == "bare":
        data["summary"] = summary
    body = json.dumps(data, ensure_ascii=ascii_only, indent=1 if form == "fenced" else None)
    if form != "bare":  # the wrappers are cut on these markers, wherever they occur
        assume(not any(m in body for m in ("<scratchpad>", "</scratchpad>", "```")))
    text = {
        "bare": body,
        "fenced": f"Here it is.\n```json\n{body}\n```\n",
        "scratchpad": f"<scratchpad>plan: {{x}}</scratchpad>\n{body}",
        "prose": f"My report:\n{body}\nDone.",
    }[form]
    expected = Report(task_id="task", claims=claims, trace=TRACE, summary=summary)
    assert parse_report(text, "task", TRACE) == expected


# === 4. constitution files ===================================================================

PRINCIPLE_BASE = {
    "id": "p",
    "text": "t",
    "rule": "interval_supported",
    "weight": 0.5,
    "domains": ["*"],
    "kinds": ["*"],
    "params": {"slack": 0.8},
}
PRINCIPLE_FIELDS = set(PRINCIPLE_BASE)
BLANK = st.text(" \t\n\u3000", max_size=3)
BAD_PARAM_NUMBER = st.one_of(
    st.floats().filter(lambda x: not (math.isfinite(x) and x >= 0)),
    st.integers(max_value=-1),
    st.booleans(),
    st.text(max_size=5),
    SMALL_LISTS,
    SMALL_DICTS,
)
PRINCIPLE_BAD: Table = [
    (("principle", 0, "id"), NOT_STR | BLANK),
    (("principle", 0, "text"), NOT_STR | BLANK),
    (("principle", 0, "rule"), NOT_STR | WORD.filter(lambda w: w not in RULES)),
    (("principle", 0, "weight"), OUTSIDE_UNIT | st.booleans() | st.text(max_size=5) | SMALL_LISTS),
    (
        ("principle", 0, "domains"),
        NOT_LIST
        | st.lists(WORD.filter(lambda w: w not in DOMAINS), min_size=1, max_size=2)
        | st.lists(NOT_STR, min_size=1, max_size=2),
    ),
    (("principle", 0, "kinds"), NOT_LIST | st.lists(NOT_STR, min_size=1, max_size=2)),
    (
        ("principle", 0, "params"),
        NOT_DICT
        | WORD.filter(lambda w: w != "slack").map(lambda k: {k: 1})
        | BAD_PARAM_NUMBER.map(lambda v: {"slack": v}),
    ),
]
PARAM_VALUES: dict[str, SearchStrategy[Any]] = {
    "chosen": st.lists(st.text(max_size=6), max_size=3),
    "observed": st.lists(st.text(max_size=6), max_size=3),
    "threshold_series": st.text(max_size=6),
    "min_length": st.integers(0, 64),
    "slack": st.floats(0, 10) | st.integers(0, 10),
    "z": st.floats(0, 10),
    "threshold": st.floats(0, 1),
    "margin": st.floats(0, 0.5),
}


@st.composite
def principles(draw: st.DrawFn) -> dict[str, Any]:
    rule = draw(st.sampled_from(sorted(RULES)))
    out: dict[str, Any] = {
        "id": draw(st.text(min_size=1, max_size=8).filter(str.strip)),
        "text": draw(st.text(min_size=1, max_size=30).filter(str.strip)),
        "rule": rule,
        "weight": draw(st.floats(0, 1) | st.integers(0, 1)),
    }
    if draw(st.booleans()):
        out["domains"] = draw(st.lists(st.sampled_from(["*", *DOMAINS]), max_size=3))
    if draw(st.booleans()):
        out["kinds"] = draw(st.lists(st.text(max_size=6), max_size=3))
    names: set[str] = set()
    if RULES[rule]:
        names = draw(st.sets(st.sampled_from(sorted(RULES[rule]))))
    given_empty = draw(st.booleans())
    if names or given_empty:
        out["params"] = {n: draw(PARAM_VALUES[n]) for n in sorted(names)}
    return out


@FUZZ
@given(raw=garbage(DEFAULT_PATH.read_text()[:1500], "[[principle]]", *sorted(PRINCIPLE_FIELDS)))
@example(raw=b"\xff")  # was UnicodeDecodeError, naming no file
@example(raw=b"a = " + b"[" * 5000)  # was RecursionError
@example(
    raw=b'[[principle]]\nid = "a"\ntext = "t"\nrule = "cites_evidence"\nweight = 0.5\n"a\\nb" = 1\n'
)  # two lines
def test_constitution_file_gives_principles_or_a_named_error(folder: Path, raw: bytes) -> None:
    path = write(folder, "constitution.toml", raw)
    message = error_of(ValueError, lambda: load_constitution(path))
    assert message is None or message.startswith(f"{path}: "), message


@FUZZ
@given(
    bad=one_bad(
        PRINCIPLE_BAD,
        unknown_key(PRINCIPLE_FIELDS).map(lambda kv: (("principle", 0, *kv[0]), kv[1])),
    )
)
@example(bad=(("principle", 0, "params"), {"slack": "abc"}))  # was accepted (crashed at review)
@example(bad=(("principle", 0, "params"), {"slack": math.nan}))  # was accepted (never fired)
def test_one_bad_principle_field_is_named(folder: Path, bad: tuple[tuple[Any, ...], Any]) -> None:
    path, value = bad
    file = write(
        folder,
        "one-bad-principle.toml",
        dumps(replaced({"principle": [PRINCIPLE_BASE]}, path, value)),
    )
    message = error_of(ValueError, lambda: load_constitution(file))
    assert message is not None, f"accepted {path}={value!r}"
    assert (
        message.startswith(f"{file}: principle") and f"field {shown(path[-1])!r}"[:-1] in message
    ), message


@FUZZ
@given(items=st.lists(principles(), min_size=1, max_size=3, unique_by=lambda p: p["id"]))
def test_valid_constitutions_parse_and_round_trip(
    folder: Path, items: list[dict[str, Any]]
) -> None:
    loaded = load_constitution(
        write(folder, "valid-constitution.toml", dumps({"principle": items}))
    )
    expected = tuple(
        Principle(
            id=p["id"],
            text=" ".join(p["text"].split()),
            rule=p["rule"],
            weight=float(p["weight"]),
            domains=tuple(p.get("domains", ["*"])),
            kinds=tuple(p.get("kinds", ["*"])),
            params=p.get("params", {}),
        )
        for p in items
    )
    assert loaded == expected
    dumped = [vars(p) | {"domains": list(p.domains), "kinds": list(p.kinds)} for p in loaded]
    assert load_constitution(write(folder, "again.toml", dumps({"principle": dumped}))) == loaded


def test_duplicate_principle_ids_are_named(folder: Path) -> None:
    path = write(folder, "dup.toml", dumps({"principle": [PRINCIPLE_BASE, PRINCIPLE_BASE]}))
    assert error_of(ValueError, lambda: load_constitution(path)) == (
        f"{path}: field 'id': principle id 'p' appears twice"
    )


# === 5. the CLI ==============================================================================

INVALID = b"\n\x00"
"""Appended to garbage: a NUL is illegal anywhere in TOML, so no such file can start a run."""


def cli_fails_cleanly(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


@FEW
@given(
    raw=garbage(SPEC_TEXT).map(lambda b: b + INVALID)
    | one_bad(SPEC_BAD).map(lambda b: dumps(replaced(SPEC_BASE, *b)).encode())
)
@example(raw=b"\xff" + INVALID)  # was a traceback (UnicodeDecodeError)
def test_bench_config_errors_are_one_line(folder: Path, raw: bytes) -> None:
    out = folder / "bench-out"
    path = write(folder, "cli-sweep.toml", raw)
    cli_fails_cleanly(["bench", "--config", str(path), "--out", str(out)])
    assert not out.exists()  # failed while parsing: no sweep started


@FEW
@given(
    raw=garbage(LOOP_TEXT).map(lambda b: b + INVALID)
    | one_bad(LOOP_BAD).map(lambda b: dumps(replaced(LOOP_BASE, *b)).encode())
)
@example(raw=b"\xff" + INVALID)  # was a traceback (UnicodeDecodeError)
def test_run_config_errors_are_one_line(folder: Path, raw: bytes) -> None:
    cli_fails_cleanly(["run", "--config", str(write(folder, "cli-loop.toml", raw))])
    assert not (folder / "live.sqlite").exists()  # failed while parsing: no database made
