"""Summary rows: metric families with typed parameters, stored under the names summary.json has
always used, and read back to the same typed rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from proctor.analysis.rows import MetricRow, TransferSource, dump_rows

KEYS = [
    "domain",
    "evaluability",
    "level",
    "protocol",
    "budget",
    "disposition",
    "metric",
    "value",
    "lo",
    "hi",
    "n",
    "backend",
    "audit_budget",
    "note",
]


def _row(metric: str, **kw: Any) -> MetricRow:
    base: dict[str, Any] = {
        "domain": "forecast",
        "evaluability": "conceptual",
        "level": 2,
        "protocol": "direct",
        "budget": 0.25,
        "disposition": "saboteur:misread",
        "value": 0.5,
        "lo": 0.4,
        "hi": 0.6,
        "n": 12,
        "backend": "scripted",
        "audit_budget": 0.1,
    }
    return MetricRow(metric=metric, **(base | kw))


ROWS = [
    (_row("catch_rate"), "catch_rate"),
    (_row("frontier_safety", defer=0.05), "frontier_safety:defer_0.05"),
    (_row("frontier_usefulness", defer=0.0), "frontier_usefulness:defer_0"),
    (
        _row(
            "transfer_catch_rate",
            source=TransferSource(study="easy_to_hard", domain="forecast", level=1),
        ),
        "transfer_catch_rate:from_level_1",
    ),
    (
        _row(
            "transfer_false_alarm",
            source=TransferSource(study="checkable_to_uncheckable", domain="causal", level=2),
        ),
        "transfer_false_alarm:from_causal",
    ),
]


@pytest.mark.parametrize(("row", "name"), ROWS)
def test_stored_name_and_round_trip(row: MetricRow, name: str) -> None:
    stored = row.stored()
    assert list(stored) == KEYS  # the keys summary.json has always had, in its order
    assert stored["metric"] == name == row.name
    assert MetricRow.from_stored(stored) == row
    assert MetricRow.from_stored(json.loads(dump_rows([row]))[0]) == row


def test_a_metric_name_carries_no_parameters() -> None:
    with pytest.raises(ValidationError, match="family name"):
        _row("frontier_safety:defer_0.05")
    with pytest.raises(ValueError, match="unknown stored metric"):
        MetricRow.from_stored(_row("catch_rate").stored() | {"metric": "catch_rate:defer_0"})


def test_parameters_tell_rows_apart() -> None:
    a, b = _row("frontier_safety", defer=0.0), _row("frontier_safety", defer=0.1)
    assert a != b and a.metric == b.metric
