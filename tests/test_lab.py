"""Lab mechanics: declared actions, argument checks, logging, budgets and random streams.

Most tests use a small toy world, so each property is pinned down without a domain's
statistics in the way; the stream tests are repeated on the ``causal`` world and with the real
scripted researcher, because "adding a protocol never changes a researcher's numbers"
(DESIGN.md §2) is a property of the whole path, not only of the lab.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import pytest

from proctor.core import Action, LabCall, Task
from proctor.domains import get_domain
from proctor.lab import (
    WORKSPACE_ACTION_NAMES,
    BudgetExceeded,
    Lab,
    LabClient,
    LabError,
    World,
    stream,
)
from proctor.researchers import ResearcherSpec, make_researcher

DRAW = Action(
    name="draw",
    description="Draw n standard normal numbers.",
    parameters={
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 50}},
        "required": ["n"],
    },
    cost=1.0,
    cost_per_unit=0.5,
    unit="n",
)
PROBE = Action(
    name="probe",
    description="Look at a point; optional label, tags and options.",
    parameters={
        "type": "object",
        "properties": {
            "x": {"type": "number", "minimum": -1, "maximum": 1},
            "label": {"type": "string"},
            "tags": {"type": "array"},
            "opts": {"type": "object"},
        },
        "required": ["x"],
    },
    cost=2.0,
)
REFUSE = Action(
    name="refuse",
    description="An action the world always refuses.",
    parameters={"type": "object", "properties": {}},
    cost=3.0,
)

CLIENT_SURFACE = {"actions", "budget", "call", "calls", "caller", "price", "remaining", "spent"}
WORKSPACE = ["list_files", "read_file", "write_file", "fetch", "run_python"]


class ToyWorld(World):
    """A world whose results are pure draws from the call's stream; counts what it runs."""

    def __init__(self) -> None:
        self.executed = 0

    @property
    def actions(self) -> tuple[Action, ...]:
        return (DRAW, PROBE, REFUSE)

    def execute(self, action: str, args: dict[str, Any], rng: np.random.Generator) -> Any:
        self.executed += 1
        if action == "draw":
            return [float(v) for v in rng.standard_normal(args["n"])]
        if action == "probe":
            return {"x": args["x"], "u": float(rng.random())}
        raise LabError("refuse: the world says no")


def toy_lab(seed: int = 7) -> tuple[Lab, ToyWorld]:
    world = ToyWorld()
    return Lab(world, seed), world


def assert_refused(lab: Lab, client: LabClient, call: LabCall, spent_before: float) -> None:
    """A refused call: logged last, with an error, charged nothing, no result."""
    assert lab.log[-1] == call
    assert call.error
    assert call.cost == 0.0
    assert call.result is None
    assert client.spent == spent_before


# -- declared actions only -----------------------------------------------------------------


def test_client_exposes_only_the_declared_surface() -> None:
    lab, _ = toy_lab()
    client = lab.client("researcher", 10.0)
    assert {n for n in dir(client) if not n.startswith("_")} == CLIENT_SURFACE
    assert not hasattr(client, "__dict__")
    with pytest.raises(AttributeError):
        client.world = "smuggled"  # type: ignore[attr-defined]
    # The world's own actions, then the workspace actions every lab shares.
    assert [a.name for a in client.actions] == ["draw", "probe", "refuse", *WORKSPACE]
    assert set(WORKSPACE) == WORKSPACE_ACTION_NAMES
    assert all(isinstance(a, Action) for a in client.actions)
    assert client.caller == "researcher"


def test_causal_client_exposes_only_the_declared_surface() -> None:
    s = get_domain("causal").sample(1, 3)
    client = Lab(s.world, 3).client("researcher", s.brief.budget)
    assert {n for n in dir(client) if not n.startswith("_")} == CLIENT_SURFACE
    assert not hasattr(client, "__dict__")
    assert {a.name for a in client.actions} == {"observe", "intervene", *WORKSPACE}


def test_unknown_action_is_refused_logged_and_free() -> None:
    lab, world = toy_lab()
    client = lab.client("researcher", 100.0)
    with pytest.raises(LabError, match="teleport") as info:
        client.call("teleport", n=3)
    assert not isinstance(info.value, BudgetExceeded)
    (call,) = lab.log
    assert call.action == "teleport"
    assert call.caller == "researcher"
    assert call.args == {"n": 3}
    assert_refused(lab, client, call, 0.0)
    assert world.executed == 0
    with pytest.raises(LabError, match="teleport"):
        client.price("teleport")


def test_world_refusal_is_logged_and_not_charged() -> None:
    lab, world = toy_lab()
    client = lab.client("researcher", 100.0)
    with pytest.raises(LabError, match="world says no"):
        client.call("refuse")
    assert world.executed == 1
    assert_refused(lab, client, lab.log[-1], 0.0)
    assert "world says no" in (lab.log[-1].error or "")


def test_causal_world_refusal_is_logged_and_not_charged() -> None:
    s = get_domain("causal").sample(1, 3)
    lab = Lab(s.world, 3)
    client = lab.client("researcher", s.brief.budget)
    for values in ({"X99": 1.0}, {}, {"X0": "high"}, {"X0": math.inf}, {"X0": 1e6}):
        with pytest.raises(LabError):
            client.call("intervene", values=values, n=10)
        assert_refused(lab, client, lab.log[-1], 0.0)
    assert client.spent == 0.0


# -- argument validation -------------------------------------------------------------------

BAD_ARGS: list[tuple[str, dict[str, Any], str]] = [
    ("draw", {}, "n"),  # missing
    ("draw", {"n": 3, "m": 1}, "m"),  # unknown
    ("draw", {"n": "3"}, "n"),  # wrong type
    ("draw", {"n": 3.0}, "n"),
    ("draw", {"n": True}, "n"),  # bool is not an integer here
    ("draw", {"n": [3]}, "n"),
    ("draw", {"n": 0}, "n"),  # out of range
    ("draw", {"n": -5}, "n"),
    ("draw", {"n": 51}, "n"),
    ("probe", {"label": "a"}, "x"),
    ("probe", {"x": "0.5"}, "x"),
    ("probe", {"x": False}, "x"),
    ("probe", {"x": -1.5}, "x"),
    ("probe", {"x": 1.0001}, "x"),
    ("probe", {"x": math.inf}, "x"),
    ("probe", {"x": 0.0, "label": 3}, "label"),
    ("probe", {"x": 0.0, "tags": "a,b"}, "tags"),
    ("probe", {"x": 0.0, "opts": [1, 2]}, "opts"),
]


@pytest.mark.parametrize(("action", "args", "bad"), BAD_ARGS)
def test_bad_arguments_are_refused_naming_the_argument(
    action: str, args: dict[str, Any], bad: str
) -> None:
    lab, world = toy_lab()
    client = lab.client("researcher", 1000.0)
    client.call("draw", n=2)
    spent = client.spent
    with pytest.raises(LabError) as info:
        client.call(action, **args)
    assert not isinstance(info.value, BudgetExceeded)
    assert repr(bad) in str(info.value), str(info.value)
    assert action in str(info.value)
    assert world.executed == 1
    call = lab.log[-1]
    assert_refused(lab, client, call, spent)
    assert call.error == str(info.value)
    assert call.args == args


@pytest.mark.parametrize(
    ("action", "args"),
    [
        ("draw", {"n": 1}),
        ("draw", {"n": 50}),
        ("probe", {"x": -1}),
        ("probe", {"x": 1.0}),
        ("probe", {"x": 0, "label": "a", "tags": ["t"], "opts": {"k": 1}}),
    ],
)
def test_valid_boundary_arguments_are_accepted(action: str, args: dict[str, Any]) -> None:
    lab, world = toy_lab()
    client = lab.client("researcher", 1000.0)
    call = client.call(action, **args)
    assert call.error is None
    assert call.result is not None
    assert world.executed == 1


def test_nan_number_is_refused() -> None:
    lab, world = toy_lab()
    client = lab.client("researcher", 1000.0)
    with pytest.raises(LabError, match="'x'"):
        client.call("probe", x=math.nan)
    assert world.executed == 0


# -- logging ------------------------------------------------------------------------------


def test_every_call_is_logged_with_id_caller_index_cost_and_result() -> None:
    lab, _ = toy_lab()
    researcher = lab.client("researcher", 30.0)
    protocol = lab.client("replicate@0.25", 30.0)
    attempts: list[tuple[LabClient, str, dict[str, Any]]] = [
        (researcher, "draw", {"n": 4}),
        (protocol, "probe", {"x": 0.5}),
        (researcher, "teleport", {}),
        (researcher, "draw", {"n": 0}),
        (protocol, "draw", {"n": 2}),
        (researcher, "probe", {"x": -0.25, "label": "p"}),
        (researcher, "draw", {"n": 50}),  # 26 > 30 - 3 - 2: over budget
        (protocol, "refuse", {}),
        (researcher, "draw", {"n": 1}),
    ]
    returned: list[LabCall] = []
    for client, action, args in attempts:
        with contextlib.suppress(LabError):
            returned.append(client.call(action, **args))
    log = lab.log
    assert len(log) == len(attempts)
    assert [(c.caller, c.action, c.args) for c in log] == [
        (cl.caller, a, args) for cl, a, args in attempts
    ]
    assert len({c.id for c in log}) == len(log)
    for caller in ("researcher", "replicate@0.25"):
        mine = lab.calls_by(caller)
        assert [c.index for c in mine] == list(range(len(mine)))
        assert all(c.id == f"{caller}-{c.index:04d}" for c in mine)
    ok = [c for c in log if c.error is None]
    assert ok == returned
    assert [c.action for c in ok] == ["draw", "probe", "draw", "probe", "draw"]
    for call in ok:
        assert call.result is not None
        assert call.cost == DRAW.price(call.args) if call.action == "draw" else call.cost == 2.0
    for call in log:
        if call.error is not None:
            assert call.cost == 0.0 and call.result is None
    assert researcher.calls == lab.calls_by("researcher")
    assert protocol.calls == lab.calls_by("replicate@0.25")
    assert researcher.spent == pytest.approx(sum(c.cost for c in researcher.calls))
    assert lab.spent("researcher") == researcher.spent
    assert researcher.spent == pytest.approx(3.0 + 2.0 + 1.5)
    assert protocol.spent == pytest.approx(2.0 + 2.0)
    # The log handed out is a copy: editing it does not edit the lab's record.
    log.clear()
    assert len(lab.log) == len(attempts)


def test_log_entries_are_frozen() -> None:
    lab, _ = toy_lab()
    call = lab.client("researcher", 10.0).call("draw", n=1)
    with pytest.raises(ValueError):
        call.cost = 0.0  # type: ignore[misc]


# -- budgets ------------------------------------------------------------------------------


def test_negative_budget_is_a_value_error() -> None:
    lab, _ = toy_lab()
    with pytest.raises(ValueError, match="researcher"):
        lab.client("researcher", -0.01)


def test_zero_budget_refuses_every_paid_call() -> None:
    lab, world = toy_lab()
    client = lab.client("auditor", 0.0)
    with pytest.raises(BudgetExceeded):
        client.call("draw", n=1)
    assert world.executed == 0
    assert_refused(lab, client, lab.log[-1], 0.0)


def test_over_budget_raises_without_charging_and_exact_budget_is_allowed() -> None:
    lab, world = toy_lab()
    client = lab.client("researcher", 10.0)
    client.call("draw", n=10)  # 6
    assert client.spent == 6.0 and client.remaining == 4.0
    with pytest.raises(BudgetExceeded) as info:
        client.call("draw", n=10)  # 6 > 4
    assert isinstance(info.value, LabError)
    assert world.executed == 1
    assert_refused(lab, client, lab.log[-1], 6.0)
    assert "draw" in str(info.value)
    call = client.call("draw", n=6)  # 4 == remaining
    assert call.cost == 4.0
    assert client.remaining == 0.0
    with pytest.raises(BudgetExceeded):
        client.call("probe", x=0.0)
    assert client.spent == 10.0
    assert world.executed == 2


def test_budgets_are_per_caller_and_independent() -> None:
    lab, _ = toy_lab()
    small = lab.client("researcher", 5.0)
    big = lab.client("spot_check@0.5", 100.0)
    small.call("draw", n=8)  # 5: exhausted
    with pytest.raises(BudgetExceeded):
        small.call("draw", n=1)
    for _ in range(10):
        big.call("draw", n=10)  # 6 each
    assert big.spent == 60.0 and big.remaining == 40.0
    assert small.spent == 5.0 and small.remaining == 0.0
    assert small.budget == 5.0 and big.budget == 100.0
    with pytest.raises(BudgetExceeded):
        small.call("probe", x=0.0)


@pytest.mark.parametrize("n", [1, 2, 7, 33, 50])
def test_price_matches_the_charge(n: int) -> None:
    lab, _ = toy_lab()
    client = lab.client("researcher", 1000.0)
    before = client.spent
    quoted = client.price("draw", n=n)
    call = client.call("draw", n=n)
    assert quoted == call.cost == client.spent - before == 1.0 + 0.5 * n
    assert client.price("probe", x=0.1) == client.call("probe", x=0.1).cost == 2.0
    assert client.spent == before + quoted + 2.0


def test_causal_price_matches_the_charge() -> None:
    s = get_domain("causal").sample(2, 11)
    lab = Lab(s.world, 11)
    client = lab.client("researcher", s.brief.budget)
    for action, args in [
        ("observe", {"n": 1}),
        ("observe", {"n": 250}),
        ("intervene", {"values": {"X1": 0.5}, "n": 40}),
        ("intervene", {"values": {"X0": 1.0, "X3": -2.0}, "n": 1000}),
    ]:
        before = client.spent
        quoted = client.price(action, **args)
        assert client.call(action, **args).cost == quoted == client.spent - before
    with pytest.raises(BudgetExceeded):
        client.call("intervene", values={"X2": 1.0}, n=5000)


# -- random streams -----------------------------------------------------------------------


def draws(client: LabClient, k: int = 5, n: int = 6) -> list[list[float]]:
    return [client.call("draw", n=n).result for _ in range(k)]


def test_stream_is_keyed_by_seed_and_labels() -> None:
    a = stream(5, "researcher", 3).standard_normal(4)
    assert np.array_equal(a, stream(5, "researcher", 3).standard_normal(4))
    for other in (stream(6, "researcher", 3), stream(5, "protocol", 3), stream(5, "researcher", 4)):
        assert not np.array_equal(a, other.standard_normal(4))
    big = 2**40 + 5
    assert not np.array_equal(
        stream(big, "x").standard_normal(4), stream(5, "x").standard_normal(4)
    )


def test_same_seed_caller_and_index_give_identical_results() -> None:
    first = draws(toy_lab(seed=42)[0].client("researcher", 1000.0))
    second = draws(toy_lab(seed=42)[0].client("researcher", 1000.0))
    assert first == second
    # Successive calls of one caller draw fresh numbers (the index is part of the key).
    assert len({tuple(r) for r in first}) == len(first)
    assert draws(toy_lab(seed=43)[0].client("researcher", 1000.0)) != first


def test_different_caller_gets_different_noise() -> None:
    lab, _ = toy_lab(seed=42)
    researcher = draws(lab.client("researcher", 1000.0))
    replication = draws(lab.client("replicate@0.25", 1000.0))
    assert all(a != b for a, b in zip(researcher, replication, strict=True))


def test_interleaved_protocol_calls_do_not_change_researcher_results() -> None:
    alone_lab, _ = toy_lab(seed=9)
    alone = draws(alone_lab.client("researcher", 1000.0), k=8)

    lab, _ = toy_lab(seed=9)
    researcher = lab.client("researcher", 1000.0)
    protocol = lab.client("direct@0.1", 3.0)
    mixed: list[list[float]] = []
    for k in range(8):
        for _ in range(k % 3):
            with contextlib.suppress(BudgetExceeded):
                protocol.call("draw", n=2)
        with pytest.raises(LabError):
            protocol.call("teleport")
        mixed.append(researcher.call("draw", n=6).result)
    assert mixed == alone
    assert [c.id for c in researcher.calls] == [c.id for c in alone_lab.log]
    assert len(lab.log) > len(alone_lab.log)


def test_causal_replication_draws_fresh_noise_on_the_same_world() -> None:
    s = get_domain("causal").sample(1, 21)
    lab = Lab(s.world, 21)
    args: dict[str, Any] = {"values": {"X0": 1.0}, "n": 4000}
    mine = np.asarray(lab.client("researcher", 1e6).call("intervene", **args).result["samples"])
    theirs = np.asarray(
        lab.client("replicate@0.25", 1e6).call("intervene", **args).result["samples"]
    )
    again = np.asarray(
        Lab(s.world, 21).client("researcher", 1e6).call("intervene", **args).result["samples"]
    )
    assert np.array_equal(mine, again)
    assert not np.array_equal(mine[:, 1:], theirs[:, 1:])
    assert np.all(mine[:, 0] == 1.0) and np.all(theirs[:, 0] == 1.0)
    # Same hidden world: the means agree within sampling error (noise sd <= a few units).
    se = np.sqrt(mine.var(axis=0, ddof=1) / len(mine) + theirs.var(axis=0, ddof=1) / len(theirs))
    diff = np.abs(mine.mean(axis=0) - theirs.mean(axis=0))
    assert np.all(diff[1:] < 5 * se[1:])


class InterleavingClient:
    """Wraps a researcher's client and lets a protocol call the lab before each of its calls."""

    def __init__(self, inner: LabClient, protocol: LabClient) -> None:
        self._inner = inner
        self._protocol = protocol

    def call(self, action: str, **args: Any) -> LabCall:
        self._protocol.call("observe", n=17)
        self._protocol.call("intervene", values={"X1": 3.0}, n=9)
        return self._inner.call(action, **args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("level", [1, 2])
def test_protocol_between_researcher_calls_does_not_change_the_report(level: int) -> None:
    seed = 314
    domain = get_domain("causal")
    spec = ResearcherSpec()

    s = domain.sample(level, seed)
    lab = Lab(s.world, seed)
    alone = make_researcher(spec, "causal").investigate(
        Task(s.brief, lab.client("researcher", s.brief.budget))
    )

    s2 = domain.sample(level, seed)
    lab2 = Lab(s2.world, seed)
    wrapped = InterleavingClient(
        lab2.client("researcher", s2.brief.budget), lab2.client("consistency@1", 1e7)
    )
    mixed = make_researcher(spec, "causal").investigate(Task(s2.brief, wrapped))  # type: ignore[arg-type]

    assert len(lab2.calls_by("consistency@1")) == 2 * len(lab2.calls_by("researcher"))
    assert lab2.calls_by("researcher") == lab.calls_by("researcher")
    assert mixed == alone


def test_negative_seeds_and_numpy_arguments_are_fine() -> None:
    sampled = get_domain("causal").sample(1, -5)
    lab = Lab(sampled.world, -5)
    client = lab.client("researcher", 1000)
    call = client.call("observe", n=np.int64(5))
    assert call.args == {"n": 5} and type(call.args["n"]) is int


def test_a_fault_in_the_world_is_logged_before_it_propagates() -> None:
    class Broken(World):
        @property
        def actions(self) -> list[Action]:
            return [Action(name="poke", description="", parameters={"type": "object"}, cost=1)]

        def execute(self, action: str, args: dict, rng: np.random.Generator) -> object:
            raise ZeroDivisionError("bug in the world")

    lab = Lab(Broken(), 0)
    with pytest.raises(ZeroDivisionError):
        lab.client("r", 10).call("poke")
    (call,) = lab.log
    assert call.error is not None and "ZeroDivisionError" in call.error and call.cost == 0
