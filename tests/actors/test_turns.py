"""The turn scheduler: one handler at a time, in the order messages were sent."""

from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest

from autohedge.actors.turns import SchedulerStalled, TurnScheduler, run_loop_with_turns, take_turns


class Relay(pykka.ThreadingActor):
    """Logs every message and forwards ``hops`` more times to its peer."""

    def __init__(self, scheduler: TurnScheduler, name: str, log: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.peer: pykka.ActorRef[Any] | None = None
        self.busy = threading.Lock()
        self.overlaps = 0
        self.gate: threading.Event | None = None
        self._scheduler = scheduler
        self._inbox = take_turns(self, scheduler, name)

    def _actor_loop(self) -> None:
        run_loop_with_turns(self, self._inbox, self._scheduler)

    def on_start(self) -> None:
        self.log.append((self.name, "start"))

    def on_receive(self, message: Any) -> Any:
        if not self.busy.acquire(blocking=False):
            self.overlaps += 1
        try:
            if message == "block" and self.gate is not None:
                self.gate.wait()
                return None
            tag, hops = message
            self.log.append((self.name, tag))
            if hops > 0 and self.peer is not None:
                self.peer.tell((f"{tag}>", hops - 1))
        finally:
            if self.busy.locked():
                self.busy.release()
        return None


def start_pair(scheduler: TurnScheduler, log: list[tuple[str, Any]]) -> tuple[Any, Any]:
    with scheduler.turn():
        a, b = Relay.start(scheduler, "a", log), Relay.start(scheduler, "b", log)
    scheduler.wait_idle()
    a.proxy().peer = b
    b.proxy().peer = a
    scheduler.wait_idle()
    return a, b


def stop_all(scheduler: TurnScheduler, *refs: Any) -> None:
    scheduler.release()
    for ref in refs:
        ref.stop(block=True, timeout=5)


def test_turns_messages_are_handled_in_send_order_across_actors() -> None:
    scheduler, log = TurnScheduler(), list[tuple[str, Any]]()
    a, b = start_pair(scheduler, log)
    with scheduler.turn():
        a.tell(("x", 3))
        b.tell(("y", 3))
        a.tell(("z", 0))
    scheduler.wait_idle()

    assert log == [
        ("a", "start"),
        ("b", "start"),
        ("a", "x"),
        ("b", "y"),
        ("a", "z"),
        ("b", "x>"),
        ("a", "y>"),
        ("a", "x>>"),
        ("b", "y>>"),
        ("b", "x>>>"),
        ("a", "y>>>"),
    ]
    stop_all(scheduler, a, b)


def test_turns_never_run_two_handlers_at_once() -> None:
    scheduler, log = TurnScheduler(), list[tuple[str, Any]]()
    a, b = start_pair(scheduler, log)
    with scheduler.turn():
        for n in range(200):
            (a if n % 2 else b).tell((str(n), 5))
    scheduler.wait_idle()

    overlaps = a.proxy().overlaps.get() + b.proxy().overlaps.get()
    assert overlaps == 0 and len(log) == 2 + 200 * 6
    stop_all(scheduler, a, b)


def test_turns_peak_depth_counts_messages_waiting_at_once() -> None:
    scheduler, log = TurnScheduler(), list[tuple[str, Any]]()
    a, b = start_pair(scheduler, log)
    with scheduler.turn():
        for n in range(5):
            a.tell((str(n), 0))
    scheduler.wait_idle()

    assert scheduler.peak_depths()["a"] == 5
    stop_all(scheduler, a, b)


def test_turns_a_blocked_handler_is_reported_as_stalled() -> None:
    scheduler, log = TurnScheduler(), list[tuple[str, Any]]()
    a, b = start_pair(scheduler, log)
    gate = threading.Event()
    a.proxy().gate = gate
    scheduler.wait_idle()
    with scheduler.turn():
        a.tell("block")

    with pytest.raises(SchedulerStalled, match="not idle"):
        scheduler.wait_idle(timeout_s=0.2)
    gate.set()
    scheduler.wait_idle()
    stop_all(scheduler, a, b)


def test_turns_released_scheduler_lets_a_blocking_stop_through() -> None:
    scheduler, log = TurnScheduler(), list[tuple[str, Any]]()
    a, b = start_pair(scheduler, log)
    scheduler.release()

    a.stop(block=True, timeout=5)
    b.stop(block=True, timeout=5)

    assert not a.is_alive() and not b.is_alive()
