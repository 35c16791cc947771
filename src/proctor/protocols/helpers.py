"""Helper agents a protocol may call on: opponents, consultants, re-runs (DESIGN.md §2).

A protocol's budget (a fraction of the researcher's spend) is split between its own checks (the
judge's lab client, ``ReviewContext.lab``) and its helpers, by the protocol's declared
``helper_share``. Every helper works through a lab client of its own, under the protocol's
name, so everything a helper spends is logged and reported as the protocol's *helper cost*.

Two kinds of helper:

* :meth:`Helpers.run` — any researcher the protocol names (e.g. an honest expert as debate
  opponent), on the same task, with fresh noise;
* :meth:`Helpers.rerun` — the *reviewed* researcher itself, as a black box, on a brief the
  protocol modifies (another stated hypothesis, another framing): what process-focused
  protocols such as ``consistency`` and ``elicitation_gap`` need. The protocol never learns who
  the researcher is; whether an organism can tell it is being re-run is a knob of the sweep
  (``rerun_recognition``), applied by the bench.
"""

from __future__ import annotations

from collections.abc import Callable

from proctor.core import Brief, LabCall, Report, Task
from proctor.lab import Lab, LabClient

__all__ = ["Helpers", "Rerun"]

Rerun = Callable[[Brief, LabClient], Report]
"""The bench's black-box handle on the reviewed researcher: run it on `brief` through `client`."""


class Helpers:
    """The helper budget of one protocol review, and the helpers it has started."""

    __slots__ = ("_allotted", "_budget", "_caller", "_clients", "_lab", "_rerun")

    def __init__(self, lab: Lab, caller: str, budget: float, rerun: Rerun | None = None) -> None:
        self._lab = lab
        self._caller = caller
        self._budget = budget
        self._rerun = rerun
        self._allotted = 0.0
        self._clients: list[LabClient] = []

    @property
    def budget(self) -> float:
        """The whole helper budget of this review."""
        return self._budget

    @property
    def remaining(self) -> float:
        """Helper budget not yet allotted to a helper."""
        return max(self._budget - self._allotted, 0.0)

    @property
    def spent(self) -> float:
        """What all helpers of this review have spent (the protocol's helper cost)."""
        return sum(c.spent for c in self._clients)

    @property
    def calls(self) -> list[LabCall]:
        """Every lab call the helpers made, in order per helper."""
        return [call for c in self._clients for call in c.calls]

    def client(self, name: str, budget: float) -> LabClient:
        """A lab client for a new helper `name` with `budget` out of the helper budget.

        Raises:
            ValueError: when `budget` exceeds what is left of the helper budget.
        """
        if budget < 0 or budget > self.remaining + 1e-9:
            raise ValueError(
                f"helper {name!r} asks for {budget:g}; {self.remaining:g} of the helper "
                f"budget {self._budget:g} is left"
            )
        self._allotted += budget
        client = self._lab.client(f"{self._caller}/{name}-{len(self._clients)}", budget)
        self._clients.append(client)
        return client

    def run(self, spec: object, brief: Brief, budget: float, name: str = "helper") -> Report:
        """Run the researcher `spec` (a :class:`~proctor.researchers.ResearcherSpec`) on
        `brief` with `budget` of the helper budget and return its report."""
        from proctor.researchers import ResearcherSpec, make_researcher

        if not isinstance(spec, ResearcherSpec):
            raise TypeError(f"a helper is a ResearcherSpec, not {type(spec).__name__}")
        researcher = make_researcher(spec, brief.domain)
        return researcher.investigate(Task(brief, self.client(name, budget)))

    @property
    def can_rerun(self) -> bool:
        """Whether the bench gave this review a handle on the reviewed researcher."""
        return self._rerun is not None

    def rerun(self, brief: Brief, budget: float, name: str = "rerun") -> Report:
        """Re-run the reviewed researcher, as a black box, on `brief` with `budget`.

        Raises:
            RuntimeError: when this review has no handle on the researcher.
        """
        if self._rerun is None:
            raise RuntimeError("no re-run handle: the bench gave this review none")
        return self._rerun(brief, self.client(name, budget))
