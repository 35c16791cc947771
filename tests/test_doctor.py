"""`proctor doctor` and `proctor --version`: what is present, what each enables, no secrets."""

from __future__ import annotations

import re
import socket
import stat
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from proctor import __version__
from proctor import doctor as doc
from proctor.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_extras_table_matches_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    table = {e.name: set(e.distributions) for e in doc.EXTRAS}
    assert table.keys() == declared.keys()
    for name, requirements in declared.items():
        assert table[name] == _names(requirements), name


def test_extras_name_what_is_missing_and_how_to_install_it() -> None:
    versions = {"inspect-ai": "0.3.285", "openai": "2.1", "quicktok-v1": "0.4.0", "ray": None}
    checks = doc.check_extras(
        [e for e in doc.EXTRAS if e.name in ("llm", "ray")], version=versions.get
    )
    llm, ray = checks
    assert llm.ok and "inspect-ai 0.3.285" in llm.detail and "--researcher-model" in llm.enables
    assert not ray.ok and ray.detail == "missing ray: install `proctor[ray]`"


def test_credentials_show_names_never_values() -> None:
    secret = "sk-do-not-print-this-0123456789"
    env = {
        "OPENAI_API_KEY": secret,
        "ANTHROPIC_API_KEY": secret,
        "LOCAL_BASE_URL": "http://127.0.0.1:8000/v1",
        "LOCAL_API_KEY": secret,
        "OTHER_BASE_URL": "http://127.0.0.1:8001/v1",
    }
    have = {"inspect_ai": True, "openai": True, "anthropic": False}
    checks = doc.check_credentials(env, have_module=lambda m: have.get(m, False))
    text = "\n".join(doc.render(checks))
    assert secret not in text
    by = {c.name: c for c in checks}
    assert by["openai"].ok and by["openai"].detail == "OPENAI_API_KEY set"
    assert not by["anthropic"].ok and "`anthropic` package is missing" in by["anthropic"].detail
    assert not by["google"].ok and "GOOGLE_API_KEY not set" in by["google"].detail
    assert by["openai-api/local"].ok and by["openai-api/local"].enables.startswith("openai-api/")
    assert (
        not by["openai-api/other"].ok and "OTHER_API_KEY not set" in by["openai-api/other"].detail
    )
    assert "inspect-ai" not in by
    without = doc.check_credentials(env, have_module=lambda m: False)
    assert without[0].name == "inspect-ai" and "proctor[llm]" in without[0].detail


def test_store_checks_hide_passwords(tmp_path: Path) -> None:
    sqlite = doc.check_store(f"sqlite:///{tmp_path / 'e.sqlite'}", "--store")
    assert sqlite.ok and "SQLite" in sqlite.detail
    bad = doc.check_store("not a url", "--store")
    assert not bad.ok and "not a SQLAlchemy URL" in bad.detail
    pytest.importorskip("psycopg")
    with socket.socket() as s:  # a port nobody listens on: bound, never listened
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        url = f"postgresql+psycopg://proctor:hunter2secret@127.0.0.1:{port}/none"
        down = doc.check_store(url, "PROCTOR_TEST_POSTGRES", timeout=1)
    assert not down.ok and "unreachable" in down.detail, down
    assert "hunter2secret" not in down.detail and "proctor:***@" in down.detail
    assert "storage tests" in down.enables


def test_missing_driver_says_which_extra(tmp_path: Path) -> None:
    check = doc.check_store("mysql+nosuchdriver://u:pw@127.0.0.1/x", "--store")
    assert not check.ok and "pw@" not in check.detail


def test_chromium_found_by_its_version(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'Chromium 156.0.1 built on Debian'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    found = doc.check_chromium(fake)
    assert found.ok and "Chromium 156.0.1" in found.detail
    missing = doc.check_chromium(tmp_path / "absent")
    assert not missing.ok and "apt-get install chromium" in missing.detail
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    assert not doc.check_chromium(broken).ok


def test_doctor_command_exits_0_with_every_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-shown-42")
    monkeypatch.delenv("PROCTOR_TEST_POSTGRES", raising=False)
    result = CliRunner().invoke(main, ["doctor", "--store", str(tmp_path / "e.sqlite")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith(f"proctor {__version__} · Python ")
    for heading in ("extras:", "services:", "credentials:"):
        assert f"\n{heading}\n" in out
    for extra in doc.EXTRAS:
        assert re.search(rf"^  (ok|--) {extra.name} ", out, re.M), extra.name
    assert "chromium" in out and "store (--store)" in out
    assert re.search(r"^  (ok|--) sandbox ", out, re.M)
    assert "OPENAI_API_KEY set" in out and "sk-never-shown-42" not in out


def test_doctor_bad_loop_file_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["doctor", "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and len(result.output.splitlines()) == 1


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"proctor, version {__version__}"


def test_sandbox_check_says_why_it_cannot_run() -> None:
    down = doc.check_sandbox(why_not="the sandbox needs Landlock; this kernel has none", abi=0)
    assert not down.ok and "Landlock" in down.detail and "run_python" in down.enables
    up = doc.check_sandbox(why_not=None, abi=7)
    assert up.ok and up.detail == "Landlock ABI 7, seccomp filter"
