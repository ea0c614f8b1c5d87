"""A gate changed while a new executor incarnation starts reaches it.

The supervisor builds the incarnation with a copy of the gates; the incarnation puts its name in the
directory only once its thread runs its start-up. A gate closed or opened in between was told to the
name, found nobody, and the incarnation traded on the stale copy (entries through a closed kill
switch, or none after the gate opened).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from autohedge.actors.executor import ExecutorActor
from autohedge.actors.protocol import ReadOpenEntries
from autohedge.core.actor_names import EXECUTOR
from autohedge.core.child_states import ChildState
from autohedge.core.gates import KILL_SWITCH, Gate
from autohedge.core.messages import SetEntryGate
from tests.actors.harness import Harness, wait_for

HOLD_TIMEOUT_S = 5.0
STALE = Gate.venue_stale("synthetic")


class HeldStart:
    """Holds the executor's second incarnation on its own thread before its start-up (before it is
    in the directory) until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        on_start = ExecutorActor.on_start

        def held_on_start(actor: ExecutorActor) -> None:
            """The executor's thread."""
            if actor.ctx.incarnation == 2:
                self.entered.set()
                self.release.wait(HOLD_TIMEOUT_S)
            on_start(actor)

        monkeypatch.setattr(ExecutorActor, "on_start", held_on_start)


def crash_the_executor(h: Harness) -> None:
    h.exchange.fail("open_orders", lambda: RuntimeError("executor bug"), thread_prefix="ExecutorActor")
    executor = h.directory.get(EXECUTOR)
    assert executor is not None
    executor.tell(ReadOpenEntries())
    wait_for(lambda: h.child(EXECUTOR).state is ChildState.RESTARTING, what="executor restarting")


@pytest.mark.parametrize(("gate", "closed"), [(KILL_SWITCH, True), (STALE, False)], ids=["closed", "opened"])
def test_a_gate_changed_while_the_executor_restarts_reaches_the_new_incarnation(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch, gate: Gate, closed: bool
) -> None:
    h = make_harness().start()
    supervisor = h.engine.supervisor
    if not closed:
        supervisor.ask(SetEntryGate(gate=gate, closed=True, reason="no market data"), timeout=HOLD_TIMEOUT_S)
    held = HeldStart(monkeypatch)
    crash_the_executor(h)
    delay_s = h.child(EXECUTOR).next_restart_in_s
    assert delay_s is not None

    h.clock.advance(delay_s)  # the supervisor builds the new incarnation with the gates as they are
    try:
        assert held.entered.wait(HOLD_TIMEOUT_S)
        supervisor.ask(SetEntryGate(gate=gate, closed=closed, reason="changed"), timeout=HOLD_TIMEOUT_S)
    finally:
        held.release.set()
    wait_for(lambda: h.child(EXECUTOR).state is ChildState.RUNNING, what="executor running again")
    h.settle()

    assert (gate in h.executor_snapshot().gates) is closed
    h.trigger_buy("BTC/USDT")
    assert len(h.buys("BTC/USDT")) == (0 if closed else 1)
