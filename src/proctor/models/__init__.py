"""Model access for LLM-backed researchers, judges, debaters and monitors (DESIGN.md §3).

Nothing here imports Inspect AI until a model is called (:mod:`proctor.models.client`), so the
scripted path never needs the ``llm`` extra. An episode gets one :class:`ModelAccess`: the
sweep's :class:`ModelSettings` and the episode's :class:`Meter`, through which every model
call is counted and every conversation kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from proctor.models.meter import Meter, ModelLog, ModelUsage, Transcript
from proctor.models.settings import ROLES, ModelSettings, Price, Role

if TYPE_CHECKING:
    from proctor.models.client import ModelClient

__all__ = [
    "ROLES",
    "Meter",
    "ModelAccess",
    "ModelLog",
    "ModelSettings",
    "ModelUsage",
    "Price",
    "ProtocolModels",
    "Role",
    "Transcript",
]


@dataclass(frozen=True)
class ModelAccess:
    """One episode's models: the settings, the meter, and the researcher's caller name."""

    settings: ModelSettings
    meter: Meter = field(default_factory=Meter)
    caller: str = "researcher"
    """Name the researcher's model calls are metered under (a re-run's is the protocol's)."""

    def has(self, role: Role) -> bool:
        """Whether `role` is model-backed in this episode."""
        return self.settings.model_for(role) is not None

    def client(self, role: Role, caller: str | None = None) -> ModelClient:
        """A metered client for `role`'s model, calls logged under `caller`.

        Raises:
            ModelError: no model is set for the role, or Inspect AI is not installed.
        """
        from proctor.models.client import ModelClient, ModelError

        name = self.settings.model_for(role)
        if name is None:
            raise ModelError(f"no model is set for the {role} role")
        return ModelClient(name, role, self.settings, self.meter, caller or self.caller)

    def with_caller(self, caller: str) -> ModelAccess:
        """The same access with the researcher's calls metered under `caller`."""
        return replace(self, caller=caller)

    def for_protocols(self) -> ProtocolModels:
        """What protocols get: clients for the roles, not the meter (whose transcripts hold
        the researcher's own prompt)."""
        return ProtocolModels(self)


class ProtocolModels:
    """A protocol's handle on the episode's models: :meth:`has` and :meth:`client` only."""

    __slots__ = ("__access",)

    def __init__(self, access: ModelAccess) -> None:
        self.__access = access

    def has(self, role: Role) -> bool:
        """Whether `role` is model-backed in this episode."""
        return self.__access.has(role)

    def client(self, role: Role, caller: str) -> ModelClient:
        """A metered client for `role`'s model, calls logged under `caller`."""
        return self.__access.client(role, caller)
