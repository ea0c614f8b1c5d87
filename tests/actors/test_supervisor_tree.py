"""The supervisor's tree: a child is reachable by name while its start-up runs, also after a restart; a
stopped tree starts nothing more.

The supervisor learns the new ref only when the child's ``start()`` returns; the child's start-up runs
on its own thread meanwhile. What the start-up made others tell its name (the answers to its
reconciliation) must wait in its inbox, not be dropped as a dead letter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pykka
import pytest

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.actors.directory import Directory
from autohedge.actors.protocol import Barrier, GetSnapshot
from autohedge.actors.supervisor import ChildSpec, StartTrading, StopAll, Supervisor, SupervisorView
from autohedge.core.actor_names import ActorKind, ActorName, feed_name, strategy_name
from autohedge.core.child_states import ChildState
from autohedge.core.clock import ManualClock
from autohedge.core.config import SupervisorConfig
from autohedge.core.eventlog import EventLog
from autohedge.core.gates import Gate
from autohedge.core.messages import Message, ReconciliationCompleted
from autohedge.core.metrics import Metrics
from tests.actors.harness import wait_for

NAME = feed_name("synthetic")
STRATEGY = strategy_name("BTC/USDT")
ASK_TIMEOUT_S = 5.0


class Hello(Message):
    """Told to the child's name during its start-up."""

    incarnation: int


class Crash(Message):
    """Makes the child fail in a handler (a bug)."""


class Greeter(SupervisedActor):
    """Its start-up has its own name told a message, as a restarted monitor's reconciliation has others
    answer it by name; ``started_up`` is set when the start-up is over."""

    def __init__(self, ctx: ActorContext, heard: list[int], started_up: threading.Event) -> None:
        """Runs on the supervisor's thread."""
        super().__init__(ctx)
        self._heard = heard
        self._started_up = started_up

    def started(self) -> None:
        """Actor thread."""
        self.ctx.directory.tell(self.ctx.name, Hello(incarnation=self.ctx.incarnation))
        self._started_up.set()

    def on_hello(self, message: Hello) -> None:
        """Actor thread."""
        self._heard.append(message.incarnation)

    def on_crash(self, _: Crash) -> None:
        """Actor thread."""
        raise RuntimeError("greeter bug")


class Tree:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.metrics = Metrics()
        self.directory = Directory(self.metrics)
        self.heard: list[int] = []
        specs = [
            ChildSpec(NAME, ActorKind.FEED, self._start_greeter),
            ChildSpec(STRATEGY, ActorKind.STRATEGY, self._start_greeter, symbol="BTC/USDT"),
        ]
        self.supervisor = Supervisor.start(
            specs=specs,
            config=SupervisorConfig(random_factor=0.0),
            clock=self.clock,
            directory=self.directory,
            metrics=self.metrics,
            events=EventLog(self.clock),
        )

    def _start_greeter(self, ctx: ActorContext, _gates: Mapping[Gate, str]) -> pykka.ActorRef[Any]:
        """Supervisor thread. Returns only once the child's start-up is over: the supervisor's thread
        resumes late, as it may on a loaded machine; the child's start-up never waits for it."""
        started_up = threading.Event()
        ref = Greeter.start(ctx, self.heard, started_up)
        assert started_up.wait(ASK_TIMEOUT_S)
        return ref

    def view(self) -> SupervisorView:
        view = self.supervisor.ask(GetSnapshot(), timeout=ASK_TIMEOUT_S)
        assert isinstance(view, SupervisorView)
        return view

    def state(self, name: ActorName = NAME) -> ChildState:
        return next(child.state for child in self.view().children if child.name == name)

    def child(self) -> pykka.ActorRef[Any]:
        ref = self.directory.get(NAME)
        assert ref is not None
        return ref


@pytest.fixture
def tree() -> Iterator[Tree]:
    tree = Tree()
    yield tree
    tree.supervisor.ask(StopAll(), timeout=ASK_TIMEOUT_S)
    tree.supervisor.stop(timeout=ASK_TIMEOUT_S)


def test_a_child_is_told_by_name_during_its_start_up(tree: Tree) -> None:
    wait_for(lambda: tree.state() is ChildState.RUNNING, what="child running")
    tree.child().ask(Barrier(), timeout=ASK_TIMEOUT_S)

    assert tree.heard == [1]
    assert tree.metrics.get("dead_letters") == 0


def test_a_restarted_child_is_told_by_name_during_its_start_up(tree: Tree) -> None:
    wait_for(lambda: tree.state() is ChildState.RUNNING, what="child running")
    first = tree.child()
    first.tell(Crash())
    wait_for(lambda: tree.state() is ChildState.RESTARTING, what="child restarting")
    child = next(child for child in tree.view().children if child.name == NAME)
    assert child.next_restart_in_s is not None
    tree.clock.advance(child.next_restart_in_s)
    wait_for(lambda: tree.state() is ChildState.RUNNING, what="child running again")
    second = tree.child()
    second.ask(Barrier(), timeout=ASK_TIMEOUT_S)

    assert second is not first
    assert tree.heard == [1, 2]
    assert tree.metrics.get("dead_letters") == 0


def test_a_stopped_child_leaves_the_directory(tree: Tree) -> None:
    wait_for(lambda: tree.state() is ChildState.RUNNING, what="child running")
    tree.supervisor.ask(StopAll(), timeout=ASK_TIMEOUT_S)

    assert tree.directory.get(NAME) is None


def test_a_reconciliation_or_start_reported_after_the_stop_starts_nothing(tree: Tree) -> None:
    # The monitor finished its start-up reconciliation as the process was being stopped: its report
    # reached the supervisor after the stop. Strategies started then outlived the tree (their threads
    # kept the process from exiting); so would feeds started again by a late "start trading".
    wait_for(lambda: tree.state() is ChildState.RUNNING, what="child running")
    tree.supervisor.ask(StopAll(), timeout=ASK_TIMEOUT_S)
    late = ReconciliationCompleted(positions=0, incarnation=1, ts_init=tree.clock.wall_ns())
    tree.supervisor.tell(late)
    tree.supervisor.ask(StartTrading(), timeout=ASK_TIMEOUT_S)

    assert tree.state(STRATEGY) is ChildState.NEW
    assert tree.state(NAME) is ChildState.STOPPED
    assert tree.directory.names() == []
    assert tree.heard == [1]  # the feed's first start-up only
