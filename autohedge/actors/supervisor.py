"""Supervisor: one_for_one restarts with exponential backoff, escalation, entry gates, orderly shutdown.

Policy (DESIGN section 5):
* Delay before restart n: ``Backoff.delay_s(n)``; n resets to 0 when the child had run ``reset_after_s``
  without failing. Reports from an older incarnation are ignored.
* More than ``max_restarts`` failures within ``window_s``: a strategy's symbol is **parked** (not
  restarted; its position stays protected); a feed's (or a user stream's) venue is **degraded**
  (entries paused, restarts continue at max backoff); the executor or monitor trips the **kill switch**
  (no new entries; exits and protection keep going; restarts continue at max backoff).
* Strategies start only after the monitor's first ``ReconciliationCompleted``.
* ``StopAll`` stops children in reverse start order; their stops schedule no restarts.

Everything here runs on the supervisor's own actor thread; it is the root and is never restarted.
"""

from __future__ import annotations

import contextlib
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import pykka
from loguru import logger

from autohedge.actors.base import ActorContext, ActorHooks, handler_name
from autohedge.actors.directory import Directory
from autohedge.actors.inbox import new_inbox
from autohedge.actors.protocol import Barrier, GetSnapshot
from autohedge.actors.turns import TurnInbox, run_loop_with_turns, take_turns
from autohedge.core.actor_names import EXECUTOR, SUPERVISOR, ActorKind, ActorName
from autohedge.core.child_states import ChildState
from autohedge.core.clock import NS_PER_S, Clock, TimerHandle
from autohedge.core.config import SupervisorConfig
from autohedge.core.eventlog import EventLog
from autohedge.core.gates import KILL_SWITCH, MONITOR_DOWN, STARTUP, STOPPED, Gate, GateKind, start_refusal
from autohedge.core.messages import (
    ChildFailed,
    ChildStarted,
    ChildStopped,
    Message,
    ReconciliationCompleted,
    RestartChild,
    SetEntryGate,
    UserStreamDegraded,
    UserStreamResumed,
    VenueDataResumed,
    VenueDataStale,
)
from autohedge.core.metrics import Metrics

__all__ = [
    "ChildSpec",
    "ChildView",
    "RestartType",
    "ShutdownBegun",
    "StartTrading",
    "StopAll",
    "StopTrading",
    "Supervisor",
    "SupervisorView",
]


class RestartType(StrEnum):
    PERMANENT = "permanent"
    """Always restarted."""
    TRANSIENT = "transient"
    """Restarted after a crash, not after a normal stop."""
    TEMPORARY = "temporary"
    """Never restarted."""


ChildFactory = Callable[[ActorContext, Mapping[Gate, str]], pykka.ActorRef[Any]]
"""Starts one incarnation. Gets the context and the entry gates closed right now; the executor is
told each later change through the ref this returns (``Supervisor._tell_executor``)."""


@dataclass(frozen=True)
class ChildSpec:
    name: ActorName
    kind: ActorKind
    factory: ChildFactory
    restart: RestartType = RestartType.PERMANENT
    symbol: str | None = None
    venue: str | None = None
    max_restart_delay_s: float | None = None
    """The longest this child stays down after a crash, escalated or not (the backoff is cut to it)."""


@dataclass
class _Child:
    spec: ChildSpec
    incarnation: int = 0
    ref: pykka.ActorRef[Any] | None = None
    state: ChildState = ChildState.NEW
    restarts: int = 0
    backoff_n: int = 0
    started_ns: int | None = None
    failures: deque[int] = field(default_factory=deque)
    next_restart_ns: int | None = None
    timer: TimerHandle | None = None
    last_error: str = ""


@dataclass(frozen=True)
class ChildView:
    name: ActorName
    kind: ActorKind
    state: ChildState
    incarnation: int
    restarts: int
    next_restart_in_s: float | None
    last_error: str


@dataclass(frozen=True)
class SupervisorView:
    children: tuple[ChildView, ...]
    gates: Mapping[Gate, str]
    """Closed entry gates and why."""
    parked_symbols: tuple[str, ...]
    degraded_venues: tuple[str, ...]
    kill_switch: bool
    reconciled: bool


class StopAll(Message):
    """Ask: stop every child in reverse start order; nothing is restarted afterwards."""


class StopTrading(Message):
    """Ask: stop feeds and strategies and close the ``stopped`` gate; executor and monitor stay."""


class StartTrading(Message):
    """Ask: restart feeds and strategies and open the ``stopped`` gate. Answers None, or why it did
    nothing (``core.gates.start_refusal``)."""


class ShutdownBegun(Message):
    """Ask (``Engine.stop``): close the ``stopped`` gate for good; a ``StartTrading`` after it opens
    nothing (the stop waits for senders meanwhile, and no entry may go after it began)."""


class Supervisor(pykka.ThreadingActor):
    _create_actor_inbox = staticmethod(new_inbox)

    def __init__(
        self,
        *,
        specs: Sequence[ChildSpec],
        config: SupervisorConfig,
        clock: Clock,
        directory: Directory,
        metrics: Metrics,
        events: EventLog,
        rng: random.Random | None = None,
        hooks: ActorHooks | None = None,
    ) -> None:
        super().__init__()
        self._hooks = hooks
        self._turn_inbox: TurnInbox | None = None
        if hooks is not None and hooks.scheduler is not None:
            self._turn_inbox = take_turns(self, hooks.scheduler, SUPERVISOR)
        self._children: dict[ActorName, _Child] = {spec.name: _Child(spec) for spec in specs}
        self._order: list[ActorName] = []
        self._config = config
        self._backoff = config.backoff
        self._clock = clock
        self._directory = directory
        self._metrics = metrics
        self._events = events
        self._rng = rng if rng is not None else random.Random(config.seed)
        self._gates: dict[Gate, str] = {STARTUP: "waiting for start-up reconciliation"}
        self._stopping = False
        self._shutting_down = False
        """The process stop began (``ShutdownBegun``): the ``stopped`` gate stays closed."""
        self._reconciled = False
        self._handlers: dict[type, str] = {}

    # -- pykka plumbing (supervisor thread) ----------------------------------------------------------

    def _actor_loop(self) -> None:
        """Supervisor thread: pykka's loop, inside turns when a scheduler is armed."""
        scheduler = self._hooks.scheduler if self._hooks is not None else None
        if scheduler is None or self._turn_inbox is None:
            super()._actor_loop()
        else:
            run_loop_with_turns(self, self._turn_inbox, scheduler)

    def on_start(self) -> None:
        self._directory.register(SUPERVISOR, self.actor_ref)
        for name, child in self._children.items():
            if child.spec.kind is not ActorKind.STRATEGY:
                self._start(name)

    def on_receive(self, message: Any) -> Any:
        cls = type(message)
        name = self._handlers.get(cls)
        if name is None:
            name = self._handlers[cls] = handler_name(cls)
        handler = getattr(self, name, None)
        if handler is None:
            if not isinstance(message, Barrier):
                logger.warning("supervisor has no handler for {}", cls.__name__)
            return None
        return handler(message)

    def _report(self, message: Message) -> None:
        """Runs on children's threads: lifecycle reports become messages to this actor."""
        _tell(self.actor_ref, message)

    # -- starting --------------------------------------------------------------------------------------

    def _start(self, name: ActorName) -> None:
        child = self._children[name]
        child.incarnation += 1
        child.state = ChildState.STARTING
        child.next_restart_ns = None
        child.timer = None
        ctx = ActorContext(
            name=name,
            incarnation=child.incarnation,
            clock=self._clock,
            directory=self._directory,
            metrics=self._metrics,
            events=self._events,
            report=self._report,
            hooks=self._hooks,
        )
        # The child registers its name itself, before its start-up runs (actors/base.py).
        child.ref = child.spec.factory(ctx, dict(self._gates))
        if name not in self._order:
            self._order.append(name)

    def on_child_started(self, message: ChildStarted) -> None:
        child = self._children.get(message.name)
        if (
            child is None
            or message.incarnation != child.incarnation
            or child.state is not ChildState.STARTING
        ):
            return
        child.state = ChildState.RUNNING
        child.started_ns = self._clock.monotonic_ns()
        if child.incarnation > 1:
            self._events.record(
                "actor_restarted", f"{message.name} running again (incarnation {child.incarnation})"
            )

    def on_reconciliation_completed(self, message: ReconciliationCompleted) -> None:
        if self._stopping:
            return  # told as the tree stopped: strategies started now would outlive it
        self._set_gate(MONITOR_DOWN, closed=False)
        if self._reconciled:
            return
        self._reconciled = True
        self._set_gate(STARTUP, closed=False)
        for name, child in self._children.items():
            if child.spec.kind is ActorKind.STRATEGY and child.state is ChildState.NEW:
                self._start(name)
        self._events.record(
            "strategies_started", f"start-up reconciliation done ({message.positions} positions)"
        )

    # -- failures --------------------------------------------------------------------------------------

    def on_child_failed(self, message: ChildFailed) -> None:
        child = self._children.get(message.name)
        if child is None or message.incarnation != child.incarnation:
            return  # a report from an older incarnation
        if self._stopping or child.state in (ChildState.STOPPED, ChildState.PARKED):
            return
        now = self._clock.monotonic_ns()
        self._directory.unregister(message.name, child.ref)
        child.ref = None
        child.last_error = message.error
        if child.started_ns is not None and now - child.started_ns >= self._config.reset_after_s * NS_PER_S:
            child.backoff_n = 0
        child.started_ns = None
        child.failures.append(now)
        window_ns = int(self._config.window_s * NS_PER_S)
        while child.failures and now - child.failures[0] > window_ns:
            child.failures.popleft()
        if child.spec.kind is ActorKind.MONITOR:
            # Fills during the monitor's absence would reach nobody: no entries until it has reconciled.
            self._set_gate(MONITOR_DOWN, closed=True, reason="position monitor restarting")
        where = " in start-up" if message.in_start else ""
        if child.spec.restart is RestartType.TEMPORARY:
            child.state = ChildState.STOPPED
            self._events.record(
                "actor_failed",
                f"{message.name} crashed{where}: {message.error}; not restarted",
                level="ERROR",
            )
            return
        escalated = len(child.failures) > self._config.max_restarts
        if escalated:
            if self._escalate(child, message.error):
                return
            # Max backoff, with jitter; a child protection depends on keeps restarting within its limit.
            delay_s = self._backoff.delay_s(10**6, self._rng, limit_s=child.spec.max_restart_delay_s)
        else:
            delay_s = self._backoff.delay_s(
                child.backoff_n, self._rng, limit_s=child.spec.max_restart_delay_s
            )
        child.backoff_n += 1
        child.restarts += 1
        self._metrics.inc("restarts")
        child.state = ChildState.RESTARTING
        child.next_restart_ns = now + int(delay_s * NS_PER_S)
        restart = RestartChild(name=message.name, incarnation=child.incarnation + 1)
        ref = self.actor_ref
        child.timer = self._clock.call_later(delay_s, lambda: _tell(ref, restart))
        self._events.record(
            "actor_restarting",
            f"{message.name} crashed{where} ({message.error}); restart {child.restarts} in {delay_s:.3f}s",
            symbol=child.spec.symbol or "",
            level="WARNING",
        )

    def _escalate(self, child: _Child, error: str) -> bool:
        """Too many crashes in the window. True = the child stays down (parked)."""
        spec = child.spec
        if spec.kind is ActorKind.STRATEGY and spec.symbol is not None:
            child.state = ChildState.PARKED
            self._set_gate(Gate.parked(spec.symbol), closed=True, reason=f"strategy crash loop: {error}")
            self._events.record(
                "symbol_parked",
                f"strategy crashed {len(child.failures)} times in {self._config.window_s:.0f}s; "
                "no new entries, its position stays protected",
                symbol=spec.symbol or "",
                level="ERROR",
            )
            return True
        if spec.kind is ActorKind.FEED and spec.venue is not None:
            self._set_gate(Gate.venue_degraded(spec.venue), closed=True, reason=f"feed crash loop: {error}")
            self._events.record(
                "venue_degraded",
                f"{spec.venue} feed keeps failing; entries paused, reconnecting at max backoff",
                level="ERROR",
            )
            return False
        if spec.kind is ActorKind.USER_STREAM:
            # Polling covers while it is down: the venue is degraded, never the whole process.
            self._set_gate(
                Gate.user_stream_degraded(spec.venue or ""),
                closed=True,
                reason=f"user stream crash loop: {error}",
            )
            self._events.record(
                "venue_degraded",
                f"{spec.venue} user stream keeps failing; entries paused, orders polled, reconnecting at max "
                "backoff",
                level="ERROR",
            )
            return False
        if KILL_SWITCH not in self._gates:
            self._set_gate(KILL_SWITCH, closed=True, reason=f"{spec.name} crash loop: {error}")
            self._events.record(
                "kill_switch",
                f"{spec.name} crash loop: no new entries; exits and protection continue",
                level="CRITICAL",
            )
        return False

    def on_restart_child(self, message: RestartChild) -> None:
        child = self._children.get(message.name)
        if (
            child is None
            or self._stopping
            or child.state is not ChildState.RESTARTING
            or message.incarnation != child.incarnation + 1
        ):
            return
        self._start(message.name)

    def on_child_stopped(self, message: ChildStopped) -> None:
        child = self._children.get(message.name)
        if child is None or message.incarnation != child.incarnation:
            return
        self._directory.unregister(message.name, child.ref)
        if child.state not in (ChildState.PARKED, ChildState.RESTARTING):
            child.state = ChildState.STOPPED

    # -- data liveness and gates -------------------------------------------------------------------------

    def on_venue_data_stale(self, message: VenueDataStale) -> None:
        self._set_gate(
            Gate.venue_stale(message.venue), closed=True, reason=f"no market data for {message.silent_s:.1f}s"
        )

    def on_venue_data_resumed(self, message: VenueDataResumed) -> None:
        self._set_gate(Gate.venue_stale(message.venue), closed=False)
        for child in self._children.values():
            if child.spec.kind is ActorKind.FEED and child.spec.venue == message.venue:
                child.failures.clear()
        self._set_gate(Gate.venue_degraded(message.venue), closed=False)

    def on_user_stream_degraded(self, message: UserStreamDegraded) -> None:
        """The user stream reconnects in place but keeps failing: entries pause, orders are polled."""
        gate = Gate.user_stream_degraded(message.venue)
        if gate in self._gates:
            return
        self._set_gate(gate, closed=True, reason=message.reason)
        self._events.record(
            "venue_degraded",
            f"{message.venue} user stream keeps failing ({message.reason}); entries paused, orders polled, "
            "reconnecting",
            level="ERROR",
        )

    def on_user_stream_resumed(self, message: UserStreamResumed) -> None:
        """Connected and reconciled: entries may go again. The failure window is kept, so a stream
        that drops right after every connect still counts as a crash loop."""
        self._set_gate(Gate.user_stream_degraded(message.venue), closed=False)

    def _set_gate(self, gate: Gate, *, closed: bool, reason: str = "") -> None:
        if closed:
            if gate in self._gates:
                return
            self._gates[gate] = reason
        elif self._gates.pop(gate, None) is None:
            return
        self._tell_executor(SetEntryGate(gate=gate, closed=closed, reason=reason))

    def _tell_executor(self, message: SetEntryGate) -> None:
        """Supervisor thread. To the incarnation this supervisor built last, by its ref, not by name: a
        new incarnation is in the directory only once its own thread runs its start-up, and a change told
        to the name before then found nobody, while the incarnation kept the copy of the gates it was built
        with. Told to the ref, the change waits in its inbox behind its start-up, after that copy."""
        child = self._children.get(EXECUTOR)
        if child is None or child.ref is None:
            return  # not started, or restarting: the next incarnation is built with the gates as they are
        with contextlib.suppress(pykka.ActorDeadError):  # it died: its successor is built with them too
            child.ref.tell(message)

    # -- operator control ------------------------------------------------------------------------------

    def on_stop_trading(self, _: StopTrading) -> None:
        self._set_gate(STOPPED, closed=True, reason="stopped by the operator")
        for name in reversed(self._order):
            child = self._children[name]
            if child.spec.kind in (ActorKind.FEED, ActorKind.STRATEGY):
                self._stop_child(child)

    def on_start_trading(self, _: StartTrading) -> str | None:
        """None once started; else why not, with nothing changed (the answer to the operator)."""
        refusal = start_refusal(self._gates, shutting_down=self._stopping or self._shutting_down)
        if refusal is not None:
            return refusal
        for name in self._order:
            child = self._children[name]
            if child.spec.kind in (ActorKind.FEED, ActorKind.STRATEGY) and child.state is ChildState.STOPPED:
                child.failures.clear()
                child.backoff_n = 0
                self._start(name)
        self._set_gate(STOPPED, closed=False)
        return None

    def on_shutdown_begun(self, message: ShutdownBegun) -> None:
        self._shutting_down = True
        self._set_gate(STOPPED, closed=True, reason="the process is stopping")

    def on_set_entry_gate(self, message: SetEntryGate) -> None:
        self._set_gate(message.gate, closed=message.closed, reason=message.reason)

    def _stop_child(self, child: _Child) -> None:
        if child.timer is not None:
            child.timer.cancel()
            child.timer = None
        ref = child.ref
        child.state = ChildState.STOPPED
        child.next_restart_ns = None
        if ref is not None:
            self._directory.unregister(child.spec.name, ref)
            # Already dead, or stuck in a handler past the timeout: either way it is out of the tree.
            with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
                ref.stop(block=True, timeout=5.0)
        child.ref = None

    def on_stop_all(self, _: StopAll) -> None:
        """Reverse start order; strategies first (they were started last)."""
        self._stopping = True
        for child in self._children.values():
            if child.timer is not None:
                child.timer.cancel()
        for name in reversed(self._order):
            self._stop_child(self._children[name])
        self._directory.unregister(SUPERVISOR, self.actor_ref)

    # -- views -----------------------------------------------------------------------------------------

    def on_get_snapshot(self, _: GetSnapshot) -> SupervisorView:
        now = self._clock.monotonic_ns()
        children = tuple(
            ChildView(
                name=name,
                kind=c.spec.kind,
                state=c.state,
                incarnation=c.incarnation,
                restarts=c.restarts,
                next_restart_in_s=None
                if c.next_restart_ns is None
                else max(0.0, (c.next_restart_ns - now) / NS_PER_S),
                last_error=c.last_error,
            )
            for name, c in self._children.items()
        )
        return SupervisorView(
            children=children,
            gates=MappingProxyType(dict(self._gates)),
            parked_symbols=tuple(
                sorted(c.spec.symbol or "" for c in self._children.values() if c.state is ChildState.PARKED)
            ),
            degraded_venues=tuple(
                sorted(
                    {
                        g.subject
                        for g in self._gates
                        if g.kind in (GateKind.VENUE_DEGRADED, GateKind.USER_STREAM_DEGRADED)
                    }
                )
            ),
            kill_switch=KILL_SWITCH in self._gates,
            reconciled=self._reconciled,
        )


def _tell(ref: pykka.ActorRef[Any], message: Message) -> None:
    """Tell, unless the receiver is gone (shutdown): then there is nothing left to deliver to."""
    with contextlib.suppress(pykka.ActorDeadError):
        ref.tell(message)
