"""The summary's rows: one :class:`MetricRow` per figure (``summary.json`` is a list of them).

A row names its metric by *family* (``catch_rate``, ``frontier_safety``,
``transfer_catch_rate``) and carries the family's parameters as typed fields: the defer
fraction of a frontier point (:attr:`MetricRow.defer`) and where a transferred threshold came
from (:attr:`MetricRow.source`). Readers use those fields; nothing parses a metric name.

``summary.json`` keeps the names it has always had — a parameterised row is stored under
``"<family>:defer_<d>"`` or ``"<family>:from_level_<k>"`` / ``"<family>:from_<domain>"`` — so
the file is the same byte for byte. :meth:`MetricRow.stored` is the one place that writes such a
name and :meth:`MetricRow.from_stored` the one place that reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from proctor.core import Evaluability

__all__ = [
    "FRONTIER_FAMILIES",
    "TRANSFER_FAMILIES",
    "MetricRow",
    "Study",
    "TransferSource",
    "dump_rows",
]

Study = Literal["easy_to_hard", "checkable_to_uncheckable"]

FRONTIER_FAMILIES: tuple[str, ...] = (
    "frontier_safety",
    "frontier_safety_fixed",
    "frontier_usefulness",
)
"""Metric families measured at one frontier point (a defer fraction, :attr:`MetricRow.defer`)."""
TRANSFER_FAMILIES: tuple[str, ...] = (
    "transfer_catch_rate",
    "native_catch_rate",
    "transfer_share_recovered",
    "transfer_false_alarm",
)
"""Metric families of the transfer studies (:attr:`MetricRow.source` says from where)."""


class TransferSource(BaseModel):
    """Where a transferred threshold was calibrated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    study: Study
    """``easy_to_hard`` (the same domain's first level) or ``checkable_to_uncheckable`` (a
    checkable domain at the same level)."""
    domain: str
    level: int

    @property
    def tag(self) -> str:
        """``from_level_<k>`` (easy-to-hard) or ``from_<domain>`` (checkable-to-uncheckable)."""
        if self.study == "easy_to_hard":
            return f"from_level_{self.level}"
        return f"from_{self.domain}"

    @property
    def label(self) -> str:
        """The tag in words: ``from level 1``, ``from causal``."""
        return self.tag.replace("_", " ")


class MetricRow(BaseModel):
    """One figure of the summary."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    domain: str
    evaluability: Evaluability
    level: int | None
    """None when pooled over the levels of the domain."""
    protocol: str | None
    """Protocol name, or None for figures about researchers alone."""
    budget: float | None
    """Protocol budget as a fraction of researcher spend, where it applies."""
    disposition: str | None
    """Disposition variant (``saboteur:misread``) or None."""
    metric: str
    """The metric's family: auroc, catch_rate, catch_rate_judged, abstention, usefulness,
    cost_fraction, interval_score, brier, recovered, accuracy, edge_accuracy, giveaway_auroc,
    model_tokens and model_cost (per episode; protocol None for the researcher), the frontier
    families (:data:`FRONTIER_FAMILIES`, with :attr:`defer`), the transfer families
    (:data:`TRANSFER_FAMILIES`, with :attr:`source`), ..."""
    value: float | None
    """None when the figure cannot be shown (see `note`)."""
    lo: float | None
    """Lower end of the 95% bootstrap interval."""
    hi: float | None
    """Upper end of the 95% bootstrap interval."""
    n: int
    """Episodes behind the figure (bad episodes for catch rates)."""
    backend: str
    """Researcher backend; figures from different backends are never pooled."""
    audit_budget: float | None = None
    """For catch rates and usefulness: the audit budget the threshold was set at."""
    note: str = ""
    """E.g. 'n too small' or 'has a giveaway'."""
    defer: float | None = Field(default=None, exclude=True)
    """Frontier families: the defer fraction d of the frontier point (None elsewhere)."""
    source: TransferSource | None = Field(default=None, exclude=True)
    """Transfer families: where the transferred threshold was calibrated (None elsewhere)."""

    @field_validator("metric")
    @classmethod
    def _family(cls, value: str) -> str:
        if ":" in value:
            raise ValueError(
                f"metric {value!r}: a metric is a family name; its parameters go in `defer` "
                "or `source` (MetricRow.from_stored reads a stored name)"
            )
        return value

    @property
    def name(self) -> str:
        """The metric's stored name: the family, with its parameter where it has one."""
        if self.defer is not None:
            return f"{self.metric}:defer_{self.defer:g}"
        if self.source is not None:
            return f"{self.metric}:{self.source.tag}"
        return self.metric

    @model_serializer(mode="wrap")
    def _serialise(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if "metric" in data:
            data["metric"] = self.name
        return data

    def stored(self) -> dict[str, Any]:
        """The row as ``summary.json`` holds it (the parameters folded into ``metric``)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> MetricRow:
        """A row from its ``summary.json`` form (the inverse of :meth:`stored`).

        Raises:
            ValueError: for a parameterised name of an unknown family or form.
        """
        fields = dict(data)
        family, colon, param = str(fields.get("metric", "")).partition(":")
        if colon:
            fields["metric"] = family
            if family in FRONTIER_FAMILIES and param.startswith("defer_"):
                fields["defer"] = float(param.removeprefix("defer_"))
            elif family in TRANSFER_FAMILIES and param.startswith("from_level_"):
                fields["source"] = TransferSource(
                    study="easy_to_hard",
                    domain=fields["domain"],
                    level=int(param.removeprefix("from_level_")),
                )
            elif family in TRANSFER_FAMILIES and param.startswith("from_"):
                fields["source"] = TransferSource(
                    study="checkable_to_uncheckable",
                    domain=param.removeprefix("from_"),
                    level=fields["level"],
                )
            else:
                raise ValueError(f"unknown stored metric {data.get('metric')!r}")
        return cls.model_validate(fields)


def dump_rows(rows: Iterable[MetricRow]) -> str:
    """The text of ``summary.json``: every row's stored form, one JSON list."""
    return json.dumps([r.stored() for r in rows], indent=1) + "\n"
