"""What a researcher backend checks of the sweeps that run it: its own settings' rules.

A sweep's generic checks (:meth:`proctor.bench.spec.SweepSpec.check`: names against the
registry, levels, organisms, knobs, skills) know no backend. What only one backend needs — the
``llm`` backend a researcher model, the ``parametric`` networks no knobs and no adaptive
attacker — the backend checks itself: its registered factory names a :class:`BackendChecks`
as its ``sweep_checks`` attribute (beside ``organisms`` and ``uses_models``), and the sweep
asks it through :func:`backend_checks`. A plug-in backend declares its rules the same way::

    class MineChecks(BackendChecks):
        def check_sweep(self, sweep):
            if sweep.adaptive:
                raise SettingsError("adaptive: 'mine' researchers cannot run adaptive")

    @registry.backend("mine", domain="causal")
    class Mine:
        sweep_checks = MineChecks()
        ...

A check raises :class:`SettingsError` with the one-line message the user sees, naming the
field (``population.0.backend: ...``, ``adaptive: ...``); the sweep reports it as its own
error. Checks read the sweep through :class:`SweepView`, the fields every sweep has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from proctor import registry
from proctor.models.settings import ModelSettings

__all__ = ["BackendChecks", "MemberView", "SettingsError", "SweepView", "backend_checks"]


class SettingsError(ValueError):
    """A sweep setting a backend cannot run with; the message is one line naming the field."""


class MemberView(Protocol):
    """One member of a sweep's population, as a backend's checks read it."""

    @property
    def backend(self) -> str: ...
    @property
    def skill(self) -> str: ...
    @property
    def budget(self) -> float: ...


class SweepView(Protocol):
    """The fields of a sweep a backend's checks read (:class:`~proctor.bench.spec.SweepSpec`
    has them all)."""

    @property
    def domains(self) -> Sequence[str]: ...
    @property
    def levels(self) -> Sequence[int]: ...
    @property
    def population(self) -> Sequence[MemberView]: ...
    @property
    def knobs(self) -> Mapping[str, Mapping[str, float | list[float]]]: ...
    @property
    def adaptive(self) -> bool: ...
    @property
    def models(self) -> ModelSettings | None: ...
    @property
    def model_fields_set(self) -> set[str]:
        """The fields the sweep sets rather than leaves to their defaults."""
        ...


class BackendChecks:
    """A backend's own rules for the sweeps that run it; this base has none.

    Each method raises :class:`SettingsError` on a setting the backend cannot run with. The
    per-member checks get the sweep, the index of the member in its population and the member.
    """

    def check_placement(self, sweep: SweepView, index: int, member: MemberView) -> None:
        """Check where `member` runs (the sweep's domains). Called for every member of the
        population before the sweep's protocols are checked, as they follow its backends."""

    def check_member(self, sweep: SweepView, index: int, member: MemberView) -> None:
        """Check the sweep's settings for `member`. Called for every member of the
        population once its backend and skill are known to exist."""

    def check_sweep(self, sweep: SweepView) -> None:
        """Check the sweep as a whole, which runs researchers on this backend. Called last,
        once for each backend the sweep runs on (with a researcher model,
        ``models.researcher``, every member runs on ``llm:<model>``)."""


def backend_checks(backend: str) -> list[BackendChecks]:
    """The checks the factories of `backend` (``llm`` of ``llm:openai/gpt-4o``) name as their
    ``sweep_checks``, each once, in the order of the domains they are registered for; none for
    an unknown backend or one that names no checks."""
    name = backend.partition(":")[0]
    found: list[BackendChecks] = []
    for domain in registry.names("domain"):
        if registry.applies("backend", name, domain):
            checks = getattr(registry.lookup("backend", name, domain), "sweep_checks", None)
            if checks is not None and not any(checks is c for c in found):
                found.append(checks)
    return found
