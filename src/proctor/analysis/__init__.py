"""What a bench run shows: pure functions from stored episodes to typed rows (DESIGN.md §4).

The bench (:mod:`proctor.bench`) runs episodes and stores them; everything measured on them is
here, apart from the engine: the measurement frame (:mod:`~proctor.analysis.frame`), the
metric functions (:mod:`~proctor.analysis.metrics`), the summary table
(:mod:`~proctor.analysis.summary`), the trust map and coverage
(:mod:`~proctor.analysis.trust`), the safety/usefulness frontier
(:mod:`~proctor.analysis.frontier`), transfer (:mod:`~proctor.analysis.transfer`) and the
giveaway audit (:mod:`~proctor.analysis.audit`). Every figure is a
:class:`~proctor.analysis.rows.MetricRow`; the same episodes, in any order, give the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from proctor.analysis.rows import MetricRow, TransferSource, dump_rows
from proctor.analysis.summary import DEFAULT_AUDIT_BUDGETS, summarise
from proctor.analysis.trust import TrustRow, coverage_rows, trust_map
from proctor.bench.records import EpisodeRecord
from proctor.researchers import ResearcherSpec

__all__ = [
    "DEFAULT_AUDIT_BUDGETS",
    "MetricRow",
    "Summary",
    "TransferSource",
    "TrustRow",
    "dump_rows",
    "summarise",
    "summarise_run",
]


@dataclass(frozen=True)
class Summary:
    """Everything a run's report shows: its metric rows and its trust map."""

    rows: list[MetricRow]
    """The summary table, then the coverage rows (``summary.json``)."""
    trust: list[TrustRow]
    """The trust map at the first audit budget."""


def summarise_run(
    episodes: Sequence[EpisodeRecord],
    audit_budgets: Sequence[float],
    trusted: ResearcherSpec | None = None,
) -> Summary:
    """The summary of a run's episodes: :func:`summarise` at `audit_budgets` (with the sweep's
    trusted researcher for the defer-to-trusted frontier), then the trust map and the coverage
    rows at the first of them."""
    budgets = list(audit_budgets)
    rows = summarise(episodes, audit_budgets=budgets, trusted=trusted)
    trust = trust_map(rows, audit_budget=budgets[0])
    rows = rows + coverage_rows(rows, audit_budget=budgets[0])
    return Summary(rows, trust)
