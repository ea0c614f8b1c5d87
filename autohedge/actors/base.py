"""SupervisedActor: the base of every actor autohedge supervises.

pykka gives no supervision, so this base keeps the actor in the directory by name from before
``started()`` until it ends, and reports lifecycle to the supervisor: ``ChildStarted`` after
``started()``, ``ChildFailed`` from ``on_failure`` *and* from a crash in ``on_start`` (which pykka
would otherwise swallow), ``ChildStopped`` from ``on_stop``. Every report carries the incarnation so
the supervisor ignores reports of an older incarnation.

Messages are dispatched by type: ``QuoteReceived`` -> ``on_quote_received``. Timers are messages told
to oneself by the clock's scheduler (``schedule``); they are cancelled when the actor ends.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar

import pykka
from loguru import logger

from autohedge.actors.directory import Directory
from autohedge.actors.inbox import new_inbox
from autohedge.actors.protocol import Barrier
from autohedge.actors.turns import TurnInbox, TurnScheduler, run_loop_with_turns, take_turns
from autohedge.core.actor_names import ActorName
from autohedge.core.clock import Clock, TimerHandle
from autohedge.core.eventlog import EventLog
from autohedge.core.messages import ChildFailed, ChildStarted, ChildStopped, Message
from autohedge.core.metrics import Metrics

__all__ = ["ActorContext", "ActorHooks", "SupervisedActor", "handler_name"]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def handler_name(message_type: type) -> str:
    return "on_" + _CAMEL.sub("_", message_type.__name__).lower()


@dataclass(frozen=True)
class ActorHooks:
    """Instrumentation the simulator arms (none in production; every field may be None)."""

    scheduler: TurnScheduler | None = None
    """Run the tree one handler at a time, in message order (actors/turns.py)."""
    before_handle: Callable[[str, object], None] | None = None
    """Actor thread, before each message is dispatched: (actor name, message). May raise, to inject a
    crash inside a handler."""
    on_crash: Callable[[str, BaseException | None], None] | None = None
    """Actor thread, when a told message's handler raised: (actor name, the exception)."""


@dataclass(frozen=True)
class ActorContext:
    """What every supervised actor gets from the composition root."""

    name: ActorName
    incarnation: int
    clock: Clock
    directory: Directory
    metrics: Metrics
    events: EventLog
    report: Callable[[Message], None]
    """Delivers lifecycle reports to the supervisor (a tell; never blocks)."""
    hooks: ActorHooks | None = None


class SupervisedActor(pykka.ThreadingActor):
    """Thin shell: subclasses implement ``started``/``stopping`` and ``on_<message>`` handlers."""

    _create_actor_inbox = staticmethod(new_inbox)

    _handlers: ClassVar[dict[type, str | None]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}

    def __init__(self, ctx: ActorContext) -> None:
        """Runs in the creating thread."""
        super().__init__()
        self.ctx = ctx
        self._timers: list[TimerHandle] = []
        self._before_handle = ctx.hooks.before_handle if ctx.hooks is not None else None
        self._scheduler = ctx.hooks.scheduler if ctx.hooks is not None else None
        self._turn_inbox: TurnInbox | None = None
        if self._scheduler is not None:
            self._turn_inbox = take_turns(self, self._scheduler, ctx.name)

    def _actor_loop(self) -> None:
        """Actor thread: pykka's loop, inside turns when a scheduler is armed."""
        if self._scheduler is None or self._turn_inbox is None:
            super()._actor_loop()
        else:
            run_loop_with_turns(self, self._turn_inbox, self._scheduler)

    # -- hooks for subclasses (all run in the actor's thread) ---------------------------------------

    def started(self) -> None:
        """Set up; runs first in the actor's thread. An exception here is reported as a start crash."""

    def stopping(self) -> None:
        """Release resources; runs in the actor's thread when the actor stops or crashes."""

    # -- pykka hooks --------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Actor thread. Register by name, then start up, then report start (or a start crash: pykka runs
        no other hook for it). Registered first, so what the start-up makes others tell this name (the
        answers to its reconciliation, its own timers by name) waits in the inbox instead of being
        dropped as a dead letter while the supervisor has not registered the new ref yet."""
        self.ctx.directory.register(self.ctx.name, self.actor_ref)
        try:
            self.started()
        except Exception as exc:
            self._cleanup()
            self.ctx.report(
                ChildFailed(
                    name=self.ctx.name,
                    incarnation=self.ctx.incarnation,
                    error=f"{type(exc).__name__}: {exc}",
                    in_start=True,
                    ts_init=self.ctx.clock.wall_ns(),
                )
            )
            raise
        self.ctx.report(
            ChildStarted(
                name=self.ctx.name, incarnation=self.ctx.incarnation, ts_init=self.ctx.clock.wall_ns()
            )
        )

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Actor thread, after an exception in a told message's handler. The actor dies next."""
        if self.ctx.hooks is not None and self.ctx.hooks.on_crash is not None:
            self.ctx.hooks.on_crash(self.ctx.name, exception_value)
        self._cleanup()
        self.ctx.report(
            ChildFailed(
                name=self.ctx.name,
                incarnation=self.ctx.incarnation,
                error=f"{exception_type.__name__ if exception_type else 'Error'}: {exception_value}",
                ts_init=self.ctx.clock.wall_ns(),
            )
        )

    def on_stop(self) -> None:
        """Actor thread, on an orderly stop."""
        self._cleanup()
        self.ctx.report(
            ChildStopped(
                name=self.ctx.name, incarnation=self.ctx.incarnation, ts_init=self.ctx.clock.wall_ns()
            )
        )

    def on_receive(self, message: Any) -> Any:
        """Actor thread. Dispatch by message type to ``on_<snake_case_type>``."""
        if self._before_handle is not None:
            self._before_handle(self.ctx.name, message)
        cls = type(message)
        name = self._handlers.get(cls, "")
        if name == "":
            name = handler_name(cls)
            if not hasattr(self, name):
                name = None
            self._handlers[cls] = name
        if name is None:
            if isinstance(message, Barrier):
                return None
            logger.warning("{} has no handler for {}", self.ctx.name, cls.__name__)
            return None
        return getattr(self, name)(message)

    # -- helpers ------------------------------------------------------------------------------------

    def teller(self, message: Message) -> Callable[[], None]:
        """A callable any thread may call to tell ``message`` to this incarnation (a timer, a callback).
        A dead incarnation drops it: its successor has its own timers and callbacks."""
        ref = self.actor_ref

        def tell() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(message)

        return tell

    def schedule(self, delay_s: float, message: Message) -> TimerHandle:
        """Tell ``message`` to this actor after ``delay_s`` (a timer is a message)."""
        handle = self.ctx.clock.call_later(delay_s, self.teller(message))
        self._timers.append(handle)
        if len(self._timers) > 256:
            self._timers = self._timers[-128:]
        return handle

    def _cleanup(self) -> None:
        # Only while the name is still ours: a successor may have registered already.
        self.ctx.directory.unregister(self.ctx.name, self.actor_ref)
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        try:
            self.stopping()
        except Exception:  # noqa: BLE001 - a failing hook must not keep the actor from stopping
            logger.exception("{} failed while stopping", self.ctx.name)
