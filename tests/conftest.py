"""Shared pytest options: ``--run-local-model`` opts into tests against a real local model."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-local-model",
        action="store_true",
        default=False,
        help="run tests against a real llama.cpp server with SmolLM2-135M (see README)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "local_model: needs --run-local-model and llama.cpp")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-local-model"):
        return
    skip = pytest.mark.skip(reason="opt-in: pass --run-local-model (see README)")
    for item in items:
        if "local_model" in item.keywords:
            item.add_marker(skip)
