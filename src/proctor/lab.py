"""Lab mechanics: declared actions, per-caller budgets and logs, one random stream per call.

A :class:`World` is a domain's hidden implementation. A :class:`Lab` wraps it, logs every call,
and hands out :class:`LabClient` objects, one per caller, each with its own budget. The noise
of a call is drawn from a stream keyed by (task seed, caller, call index), so a replication by
a protocol draws fresh noise on the same hidden world, and adding a protocol never changes a
researcher's numbers.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from proctor.core import Action, LabCall


class LabError(Exception):
    """A lab call was refused (unknown action, bad arguments, over budget)."""


class BudgetExceeded(LabError):
    """The caller cannot afford the call."""


class World(ABC):
    """A task's hidden world. Only the lab holds it; nothing else may import its state."""

    @property
    @abstractmethod
    def actions(self) -> Sequence[Action]:
        """The declared actions."""

    @abstractmethod
    def execute(self, action: str, args: dict[str, Any], rng: np.random.Generator) -> Any:
        """Run a validated action and return a JSON-serialisable result.

        Raises:
            LabError: when arguments are invalid for this world (e.g. unknown variable).
        """


def stream(seed: int, *keys: str | int) -> np.random.Generator:
    """A random generator keyed by a seed and any labels, stable across runs and machines."""
    folded = seed % (1 << 64)  # negative seeds are valid too
    words = [folded & 0xFFFFFFFF, folded >> 32]
    for key in keys:
        digest = hashlib.sha256(str(key).encode()).digest()
        words.append(int.from_bytes(digest[:4], "little"))
    return np.random.default_rng(words)


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "integer": int,
    "number": (int, float),
    "object": dict,
    "array": list,
    "string": str,
}


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones, recursively, so every logged argument is plain JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _validate(action: Action, args: dict[str, Any]) -> None:
    """Check arguments against the action's JSON schema (types, required, ranges, finiteness)."""
    schema = action.parameters
    props: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in args:
            raise LabError(f"{action.name}: missing argument {name!r}")
    for name, value in args.items():
        if name not in props:
            raise LabError(f"{action.name}: unknown argument {name!r}")
        spec = props[name]
        expected = _JSON_TYPES.get(spec.get("type", ""))
        if expected is not None and (not isinstance(value, expected) or isinstance(value, bool)):
            raise LabError(f"{action.name}: argument {name!r} must be {spec['type']}")
        if isinstance(value, float) and not np.isfinite(value):
            raise LabError(f"{action.name}: argument {name!r} must be finite")
        if "minimum" in spec and value < spec["minimum"]:
            raise LabError(f"{action.name}: argument {name!r} must be >= {spec['minimum']}")
        if "maximum" in spec and value > spec["maximum"]:
            raise LabError(f"{action.name}: argument {name!r} must be <= {spec['maximum']}")


class Lab:
    """The world behind one task: executes declared actions and logs every call."""

    def __init__(self, world: World, seed: int) -> None:
        self._world = world
        self._seed = seed
        self._actions = {a.name: a for a in world.actions}
        self._log: list[LabCall] = []
        self._spent: dict[str, float] = {}
        self._count: dict[str, int] = {}

    @property
    def log(self) -> list[LabCall]:
        """Every call so far, from every caller, in order."""
        return list(self._log)

    def calls_by(self, caller: str) -> list[LabCall]:
        """The calls made by one caller."""
        return [c for c in self._log if c.caller == caller]

    def spent(self, caller: str) -> float:
        """Total charged to a caller."""
        return self._spent.get(caller, 0.0)

    def client(self, caller: str, budget: float) -> LabClient:
        """A client for `caller` with its own budget; budgets are not shared between callers."""
        if budget < 0:
            raise ValueError(f"budget for {caller!r} must be >= 0, got {budget}")
        return LabClient(self, caller, budget)

    def _call(self, caller: str, budget: float, name: str, args: dict[str, Any]) -> LabCall:
        index = self._count.get(caller, 0)
        self._count[caller] = index + 1
        call_id = f"{caller}-{index:04d}"
        action = self._actions.get(name)
        args = _plain(args)
        try:
            if action is None:
                raise LabError(f"unknown action {name!r}")
            _validate(action, args)
            cost = action.price(args)
            if self.spent(caller) + cost > budget + 1e-9:
                raise BudgetExceeded(
                    f"{name} costs {cost:g}, {budget - self.spent(caller):g} of {budget:g} left"
                )
            result = self._world.execute(name, args, stream(self._seed, caller, index))
        except Exception as err:  # refused (LabError) or a fault in the world: log, re-raise
            reason = str(err) if isinstance(err, LabError) else f"{type(err).__name__}: {err}"
            call = LabCall(
                id=call_id,
                caller=caller,
                index=index,
                action=name,
                args=args,
                cost=0.0,
                error=reason,
            )
            self._log.append(call)
            raise
        self._spent[caller] = self.spent(caller) + cost
        call = LabCall(
            id=call_id,
            caller=caller,
            index=index,
            action=name,
            args=args,
            cost=cost,
            result=result,
        )
        self._log.append(call)
        return call


class LabClient:
    """What a researcher or protocol holds: the declared actions, its budget, and nothing else."""

    __slots__ = ("__budget", "__caller", "__lab")

    def __init__(self, lab: Lab, caller: str, budget: float) -> None:
        self.__lab = lab
        self.__caller = caller
        self.__budget = float(budget)

    @property
    def actions(self) -> tuple[Action, ...]:
        """The declared actions of this lab."""
        return tuple(self.__lab._actions.values())

    @property
    def caller(self) -> str:
        """The name calls are logged under."""
        return self.__caller

    @property
    def budget(self) -> float:
        """This client's total budget."""
        return self.__budget

    @property
    def spent(self) -> float:
        """Spent so far by this client."""
        return self.__lab.spent(self.__caller)

    @property
    def remaining(self) -> float:
        """Budget left."""
        return self.__budget - self.spent

    def price(self, action: str, **args: Any) -> float:
        """What a call would cost, without making it."""
        for a in self.actions:
            if a.name == action:
                args = _plain(args)
                _validate(a, {k: v for k, v in args.items() if k in args})
                return a.price(args)
        raise LabError(f"unknown action {action!r}")

    def call(self, action: str, **args: Any) -> LabCall:
        """Make a declared call. Raises LabError (logged) if it is refused."""
        return self.__lab._call(self.__caller, self.__budget, action, args)

    @property
    def calls(self) -> list[LabCall]:
        """This client's own calls."""
        return self.__lab.calls_by(self.__caller)


def max_units(client: LabClient, action: str, budget: float, calls: int = 1) -> int:
    """The most units (e.g. samples) each of `calls` calls of `action` can have within `budget`,
    from the action's declared costs; 0 when not even one unit fits."""
    declared = next((a for a in client.actions if a.name == action), None)
    if declared is None:
        raise LabError(f"unknown action {action!r}")
    if declared.cost_per_unit <= 0:
        raise LabError(f"{action} is not priced per unit")
    per_call = budget / calls - declared.cost
    return max(int(per_call // declared.cost_per_unit), 0)
