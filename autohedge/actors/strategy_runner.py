"""The strategy runner: every symbol's HFT rule of a feed batch decided on one thread (``hft.shared_runner``).

A strategy actor per symbol costs a thread wake-up per symbol per batch: ten symbols triggered on one
tick were ten wake-ups (each of which may wait for a core) before the executor heard of the first
signal. Here the feed's reader thread wakes ONE actor per batch; it decides each symbol's newest quote
in a loop and tells the executor the tick's signals in one message.

Each symbol stays its own supervised child (``strategy:<symbol>``): a **lane** on the runner, started,
restarted with backoff, parked and stopped by the supervisor exactly like a strategy actor. A lane's
source raising fails that lane alone (reported as that child's crash, the loop goes on with the next
symbol); a parked or stopped lane is no longer decided at all. What the supervisor holds for a lane is
a ``LaneRef``: tells and asks reach the runner now running, ``stop`` ends the lane, never the runner.
The lanes (their sources and incarnations) are kept by the composition root in ``StrategyLanes``, so a
crash of the runner itself (a bug outside any source) loses no symbol's window.

The LLM and hybrid strategies keep one actor per symbol (a model request must never hold the others).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pykka

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.actors.inbox import new_inbox
from autohedge.actors.protocol import QuotesPending, TickSignals
from autohedge.actors.strategy import SignalSource
from autohedge.core.actor_names import EXECUTOR, STRATEGY_RUNNER
from autohedge.core.conflate import WatchedSlots
from autohedge.core.gates import Gate
from autohedge.core.messages import ChildFailed, ChildStarted, ChildStopped, Quote, Signal

__all__ = ["LaneRef", "StrategyLanes", "StrategyRunnerActor", "lane_factory"]

_QUOTES_PENDING = QuotesPending()


@dataclass(frozen=True)
class _Lane:
    """One incarnation of a symbol's strategy on the runner."""

    ctx: ActorContext
    source: SignalSource
    ref: LaneRef


def _failed(ctx: ActorContext, error: BaseException, *, in_start: bool) -> ChildFailed:
    return ChildFailed(
        name=ctx.name,
        incarnation=ctx.incarnation,
        error=f"{type(error).__name__}: {error}",
        in_start=in_start,
        ts_init=ctx.clock.wall_ns(),
    )


class StrategyLanes:
    """The running lanes by symbol, shared by the supervisor's thread (start, stop) and the runner's
    (decide, fail). Thread-safe; a lane's source is only ever called on the runner's thread."""

    def __init__(self, slots: WatchedSlots[Quote]) -> None:
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self.slots = slots
        """The runner's quote slots: a lane's symbol is watched while the lane runs."""

    def start(self, ctx: ActorContext, symbol: str, source_factory: Callable[[], SignalSource]) -> LaneRef:
        """Supervisor thread (a child factory): run a new incarnation of ``symbol``'s lane and report it
        started; a source that cannot be built is reported as a start crash."""
        ref = LaneRef(self, symbol, ctx)
        try:
            source = source_factory()
        except Exception as exc:  # noqa: BLE001 - a strategy bug is this lane's crash, never the supervisor's
            ctx.report(_failed(ctx, exc, in_start=True))
            return ref
        with self._lock:
            self._lanes[symbol] = _Lane(ctx, source, ref)
        # Kept in the directory by name while it runs, as an actor keeps itself (actors/base.py).
        ctx.directory.register(ctx.name, ref)
        # A quote that came while no lane ran is not decided: a new incarnation waits for the next, as a
        # new strategy actor does.
        self.slots.watch(symbol)
        ctx.report(ChildStarted(name=ctx.name, incarnation=ctx.incarnation, ts_init=ctx.clock.wall_ns()))
        return ref

    def is_running(self, symbol: str, incarnation: int) -> bool:
        """Any thread."""
        with self._lock:
            lane = self._lanes.get(symbol)
            return lane is not None and lane.ctx.incarnation == incarnation

    def stop(self, symbol: str, incarnation: int) -> bool:
        """Supervisor thread: end the lane (an orderly stop). False if that incarnation was not running."""
        lane = self._end(symbol, incarnation)
        if lane is None:
            return False
        ctx = lane.ctx
        ctx.report(ChildStopped(name=ctx.name, incarnation=ctx.incarnation, ts_init=ctx.clock.wall_ns()))
        return True

    def running(self) -> Mapping[str, _Lane]:
        """Runner thread: the lanes now running (a copy)."""
        with self._lock:
            return dict(self._lanes)

    def fail(self, symbol: str, lane: _Lane, error: BaseException) -> None:
        """Runner thread: ``lane``'s source raised; the lane ends and its crash is reported (the
        supervisor restarts or parks that symbol alone)."""
        ctx = lane.ctx
        if self._end(symbol, ctx.incarnation) is None:
            return  # stopped meanwhile
        if ctx.hooks is not None and ctx.hooks.on_crash is not None:
            ctx.hooks.on_crash(ctx.name, error)
        ctx.report(_failed(ctx, error, in_start=False))

    def _end(self, symbol: str, incarnation: int) -> _Lane | None:
        with self._lock:
            lane = self._lanes.get(symbol)
            if lane is None or lane.ctx.incarnation != incarnation:
                return None
            del self._lanes[symbol]
        self.slots.unwatch(symbol)
        # Only while the name is still this lane's: a successor may have registered already.
        lane.ctx.directory.unregister(lane.ctx.name, lane.ref)
        return lane


class LaneRef(pykka.ActorRef[Any]):
    """A lane as the supervisor and the directory hold it. Tells and asks (a barrier) go to the runner
    now running, looked up by name each time; ``stop`` ends this lane only. Any thread."""

    def __init__(self, lanes: StrategyLanes, symbol: str, ctx: ActorContext) -> None:
        # No actor of its own to point at: the runner's ref is looked up per call (it changes on restart).
        self.actor_class = StrategyRunnerActor
        self.actor_urn = f"{ctx.name}#{ctx.incarnation}"
        self._lanes = lanes
        self._symbol = symbol
        self._incarnation = ctx.incarnation
        self._directory = ctx.directory

    def is_alive(self) -> bool:
        return self._lanes.is_running(self._symbol, self._incarnation)

    @property
    def actor_inbox(self) -> Any:
        """The runner's inbox (what a lane's messages wait in), for inbox depth readings."""
        runner = self._directory.get(STRATEGY_RUNNER)
        return runner.actor_inbox if runner is not None else new_inbox()

    @actor_inbox.setter
    def actor_inbox(self, _: Any) -> None:
        raise AttributeError("a lane's inbox is its runner's")

    def _runner(self) -> pykka.ActorRef[Any]:
        runner = self._directory.get(STRATEGY_RUNNER)
        if runner is None or not self.is_alive():
            raise pykka.ActorDeadError(f"{self} not running")
        return runner

    def tell(self, message: Any) -> None:
        self._runner().tell(message)

    def ask(self, message: Any, *, block: bool = True, timeout: float | None = None) -> Any:
        return self._runner().ask(message, block=block, timeout=timeout)

    def stop(self, *, block: bool = True, timeout: float | None = None) -> Any:
        """Ends the lane at once: the runner decides no quote for it after its current batch."""
        stopped = self._lanes.stop(self._symbol, self._incarnation)
        if block:
            return stopped
        future: pykka.ThreadingFuture[bool] = pykka.ThreadingFuture()
        future.set(stopped)
        return future


class StrategyRunnerActor(SupervisedActor):
    """One per process when ``hft.shared_runner``: decides every running lane's newest quote of a batch."""

    def __init__(self, ctx: ActorContext, *, lanes: StrategyLanes) -> None:
        super().__init__(ctx)
        self._lanes = lanes
        self._slots = lanes.slots

    def started(self) -> None:
        """Runner thread. A wake-up told to a previous incarnation may have died with it: take what
        waits now (the lanes, kept across restarts, go on with their windows)."""
        self.actor_ref.tell(_QUOTES_PENDING)

    def on_quotes_pending(self, _: QuotesPending) -> None:
        """Runner thread: decide the newest quote of every running lane's symbol that has one waiting.

        The first signal goes to the executor at once, ahead of the rest (unless no quote is left to
        decide): its thread's wake-up (tens of microseconds after an idle spell) then runs while the
        rest are decided. The rest follow in one message that closes the tick, sent whatever happens
        here, and the executor writes the tick's entries together at it (their order is moot)."""
        quotes = self._slots.take_all()
        if not quotes:
            return
        lanes = self._lanes.running()
        before = self._before_handle
        first_told = opened = False
        signals: list[Signal] = []
        left = len(quotes)
        try:
            for symbol, quote in quotes.items():
                left -= 1
                lane = lanes.get(symbol)
                if lane is None:
                    continue  # stopped or parked after the quote came
                try:
                    if before is not None:
                        before(lane.ctx.name, quote)
                    signal = lane.source.on_quote(quote)
                except Exception as exc:  # noqa: BLE001 - one symbol's crash is that lane's, never the others'
                    self._lanes.fail(symbol, lane, exc)
                    continue
                if signal is None:
                    continue
                if first_told:
                    signals.append(signal)
                    continue
                self.ctx.directory.tell(EXECUTOR, TickSignals(signals=(signal,), more=left > 0))
                first_told, opened = True, left > 0
        finally:
            if opened:  # the executor holds the first entry until this closes the tick
                self.ctx.directory.tell(EXECUTOR, TickSignals(signals=tuple(signals)))
        if first_told:
            self.ctx.metrics.inc("signals", 1 + len(signals))


def lane_factory(
    lanes: StrategyLanes, symbol: str, source_factory: Callable[[], SignalSource]
) -> Callable[[ActorContext, Mapping[Gate, str]], pykka.ActorRef[Any]]:
    """The supervisor's child factory of ``symbol``'s lane (runs on the supervisor's thread)."""

    def start(ctx: ActorContext, _: Mapping[Gate, str]) -> pykka.ActorRef[Any]:
        return lanes.start(ctx, symbol, source_factory)

    return start
