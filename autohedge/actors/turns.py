"""Turn-taking: run an actor tree one handler at a time, in message order (the simulator's scheduler).

pykka runs every actor on its own thread, so two actors that call the exchange at the same instant
interleave as the OS pleases; a simulation of such a tree is not repeatable. ``TurnScheduler`` makes
it repeatable without changing any actor: each actor's inbox is a ``TurnInbox`` sharing one turn
(a token). An actor thread holds the turn from taking a message until it comes back for the next one;
the turn always goes to the inbox whose head message was sent first (a global sequence number). The
driver (the simulator's own thread) takes the turn only when the tree is idle: no turn held, no
message waiting. So a step is: take the turn, deliver the step's inputs, give it back, wait idle.

An actor's ``on_start`` also needs the turn: a start marker is queued when the actor is built (on the
thread that builds it, which holds the turn), so start-up runs in its place in the order too.

Blocking on another actor inside a handler (``ref.stop(block=True)``, ``ask(...).get()``) would wait
for a turn that never comes: the scheduler is switched to free running (``release``) before an
orderly shutdown, and then every inbox behaves like a plain queue.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pykka

__all__ = ["SchedulerStalled", "TurnInbox", "TurnScheduler", "run_loop_with_turns", "take_turns"]

_START = object()
"""Queued when an actor is built: its ``on_start`` runs when this reaches the head of the order."""


class SchedulerStalled(RuntimeError):
    """The tree did not become idle within the wall-clock allowance (a handler blocked or looped)."""


class TurnInbox:
    """An actor inbox under a ``TurnScheduler`` (the subset of ``queue.Queue`` pykka uses)."""

    def __init__(self, scheduler: TurnScheduler, name: str) -> None:
        self._scheduler = scheduler
        self.name = name
        self.items: deque[tuple[int, Any]] = deque()
        self.closing = False
        self.closed = False
        self.wakeup = threading.Condition(scheduler.lock)
        """Notified when this inbox may proceed (its turn came, or it runs free)."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Any thread (normally the one holding the turn)."""
        self._scheduler.put(self, item)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """The actor's thread: give back the turn, wait for the next one that is this inbox's."""
        return self._scheduler.take(self)

    def empty(self) -> bool:
        with self._scheduler.lock:
            return not self.items

    def qsize(self) -> int:
        with self._scheduler.lock:
            return len(self.items)


class TurnScheduler:
    """One turn shared by every ``TurnInbox`` it made and by the driver thread. Thread-safe.

    Only the thread that may proceed is woken (the inbox whose turn it is, or the driver when the
    tree is idle): a hand-over costs one thread switch, not one per actor."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._idle = threading.Condition(self.lock)
        self._seq = 0
        self._holder: int | None = None
        self._inboxes: list[TurnInbox] = []
        self._free = False
        self.handled = 0
        """Messages handled under the scheduler (a cost figure for the simulator)."""
        self._peaks: dict[str, int] = {}

    # -- inboxes ----------------------------------------------------------------------------------------

    def inbox(self, name: str) -> TurnInbox:
        """A new inbox, with its start marker queued (call on the thread building the actor)."""
        inbox = TurnInbox(self, name)
        with self.lock:
            self._inboxes.append(inbox)
        self.put(inbox, _START)
        return inbox

    def put(self, inbox: TurnInbox, item: Any) -> None:
        with self.lock:
            self._seq += 1
            inbox.items.append((self._seq, item))
            if len(inbox.items) > self._peaks.get(inbox.name, 0):
                self._peaks[inbox.name] = len(inbox.items)
            if self._free or inbox.closing:
                inbox.wakeup.notify()
            elif self._holder is None:
                self._hand_over()

    def _head(self) -> TurnInbox | None:
        """The open inbox whose first message was sent earliest (lock held)."""
        best: TurnInbox | None = None
        best_seq = 0
        for inbox in self._inboxes:
            if inbox.items and not inbox.closing and (best is None or inbox.items[0][0] < best_seq):
                best, best_seq = inbox, inbox.items[0][0]
        return best

    def _hand_over(self) -> None:
        """No turn is held (lock held): wake the inbox whose turn it is, or the driver when idle."""
        head = self._head()
        if head is not None:
            head.wakeup.notify()
        else:
            self._idle.notify_all()

    def take(self, inbox: TurnInbox) -> Any:
        """Actor thread: release the turn if held, then wait until this inbox's head is next."""
        me = threading.get_ident()
        with self.lock:
            if self._holder == me:
                self._holder = None
                self._hand_over()
            while True:
                if (self._free or inbox.closing) and inbox.items:
                    return inbox.items.popleft()[1]
                if self._holder is None and not self._free and self._head() is inbox:
                    self._holder = me
                    self.handled += 1
                    return inbox.items.popleft()[1]
                inbox.wakeup.wait()

    def begin(self, inbox: TurnInbox) -> None:
        """Actor thread, before ``on_start``: wait for the start marker's turn."""
        item = self.take(inbox)
        assert item is _START, "the start marker is always an inbox's first item"

    def close(self, inbox: TurnInbox) -> None:
        """Actor thread, when its loop ended: later messages are drained without turns."""
        with self.lock:
            inbox.closing = True

    def finish(self, inbox: TurnInbox) -> None:
        """Actor thread, after its teardown: give back the turn and forget the inbox."""
        with self.lock:
            inbox.closed = True
            if inbox in self._inboxes:
                self._inboxes.remove(inbox)
            if self._holder == threading.get_ident():
                self._holder = None
                self._hand_over()

    # -- the driver ---------------------------------------------------------------------------------------

    def _is_idle(self) -> bool:
        return self._free or (self._holder is None and self._head() is None)

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Driver thread: wait until no turn is held and no message waits. Raises ``SchedulerStalled``."""
        with self.lock:
            if not self._idle.wait_for(self._is_idle, timeout=timeout_s):
                raise SchedulerStalled(f"actor tree not idle after {timeout_s}s: inboxes {self._depths()}")

    @contextmanager
    def turn(self, timeout_s: float = 30.0) -> Iterator[None]:
        """Driver thread: hold the turn (once the tree is idle) for the duration of the block."""
        me = threading.get_ident()
        with self.lock:
            if not self._idle.wait_for(self._is_idle, timeout=timeout_s):
                raise SchedulerStalled(f"actor tree not idle after {timeout_s}s: inboxes {self._depths()}")
            if not self._free:
                self._holder = me
        try:
            yield
        finally:
            with self.lock:
                if self._holder == me:
                    self._holder = None
                    self._hand_over()

    def release(self) -> None:
        """Free running from now on: every inbox is a plain queue (before an orderly shutdown)."""
        with self.lock:
            self._free = True
            self._holder = None
            for inbox in self._inboxes:
                inbox.wakeup.notify_all()
            self._idle.notify_all()

    def _depths(self) -> dict[str, int]:
        return {inbox.name: len(inbox.items) for inbox in self._inboxes if not inbox.closed}

    def depths(self) -> dict[str, int]:
        """Messages waiting per live inbox."""
        with self.lock:
            return self._depths()

    def peak_depths(self) -> dict[str, int]:
        """The most messages each inbox name held at once so far (the inbox-growth check)."""
        with self.lock:
            return dict(sorted(self._peaks.items()))


def take_turns(actor: pykka.Actor, scheduler: TurnScheduler, name: str) -> TurnInbox:
    """Put ``actor`` (built, not started) under ``scheduler``; returns its inbox. Creating thread."""
    inbox = scheduler.inbox(name)
    # pykka gives an actor a queue.Queue and its ref a pointer to it; both are replaced before start.
    actor.actor_inbox = inbox
    actor.actor_ref.actor_inbox = inbox
    return inbox


def run_loop_with_turns(actor: pykka.Actor, inbox: TurnInbox, scheduler: TurnScheduler) -> None:
    """The actor's thread: pykka's loop (setup, running, teardown) with the turn taken for setup and
    given back after teardown."""
    scheduler.begin(inbox)
    try:
        actor._actor_loop_setup()  # pykka's own loop, split to take the turn around it
        actor._actor_loop_running()
        scheduler.close(inbox)
        actor._actor_loop_teardown()
    finally:
        scheduler.finish(inbox)
