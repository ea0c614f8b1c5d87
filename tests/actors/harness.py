"""A whole engine on the paper exchange with a ManualClock and a push-driven market stream.

Tests push quotes on their own thread (the sink runs synchronously), advance the clock to fire
timers, and wait on state through asks; nothing sleeps.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pykka

from autohedge.actors.directory import Directory
from autohedge.actors.executor import ExecutorView
from autohedge.actors.monitor import MonitoredPosition, PositionMonitorActor
from autohedge.actors.protocol import Barrier, GetSnapshot
from autohedge.actors.strategy import SignalSource
from autohedge.actors.supervisor import ChildView
from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.paper.engine import PaperEngine
from autohedge.adapters.paper.stream import PaperUserStream
from autohedge.app import Engine
from autohedge.core.actor_names import (
    EXECUTOR,
    MONITOR,
    ORDER_READER,
    SUPERVISOR,
    ActorKind,
    ActorName,
    kind_of,
    strategy_name,
)
from autohedge.core.clock import ManualClock
from autohedge.core.collection import CollectionPolicy
from autohedge.core.config import AppConfig, PaperFaults, parse_config
from autohedge.core.errors import VenueUnavailable
from autohedge.core.messages import Quote, SyncPositions
from autohedge.core.metrics import Metrics
from autohedge.core.ports import QuoteSink
from autohedge.memory import Heap
from tests.actors.proxies import FaultyExchange, PipedExchange

__all__ = ["Harness", "PushStream", "make_config", "wait_for"]


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    """Wait on state: re-check ``predicate`` until true or the deadline passes. The deadline is read off
    the monotonic clock, not a timer thread: a predicate over the live threads must not see the wait's own."""
    event = threading.Event()
    deadline_s = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline_s:
            raise AssertionError(f"timed out waiting for {what}")
        event.wait(0.002)


class PushStream:
    """MarketStream whose quotes are pushed by the test thread."""

    venue = "test"

    def __init__(self) -> None:
        self.sink: QuoteSink | None = None
        self.started = threading.Event()
        self.stopped = threading.Event()

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        self.sink = sink
        self.started.set()

    def stop(self) -> None:
        self.stopped.set()


def make_config(**overrides: Any) -> AppConfig:
    raw: dict[str, Any] = {
        "symbols": ["BTC/USDT", "ETH/USDT"],
        "defaults": {
            "take_profit_pct": 1,
            "stop_loss_pct": 1,
            "max_position_size": 1000,
            "order_amount": 100,
        },
        "rate_limit_ms": 250,
        "hft": {"min_edge_bps": 5, "max_spread_bps": 20, "lookback_periods": 3},
        "monitor": {"mode": "quote", "poll_interval_s": 1.0, "orphan_retry_s": 30, "orphan_max_attempts": 3},
        "supervisor": {
            "min_backoff_s": 0.5,
            "max_backoff_s": 8,
            "random_factor": 0,
            "reset_after_s": 60,
            "max_restarts": 3,
            "window_s": 60,
        },
        "feed": {"stale_after_s": 10},
        "executor": {"order_poll_interval_s": 0.25, "entry_timeout_s": 30},
        "paper": {"balances": {"USDT": 10000}, "fee_rate": 0.001},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return parse_config(raw)


class Harness:
    def __init__(
        self,
        config: AppConfig | None = None,
        *,
        engine: PaperEngine | None = None,
        source_factory: Callable[[str], SignalSource] | None = None,
        oco: bool = True,
        journal_path: Path | None = None,
        monitor_cls: type[PositionMonitorActor] = PositionMonitorActor,
        pipe: bool = False,
        heap: Heap | None = None,
        collection: CollectionPolicy | None = None,
    ) -> None:
        """``monitor_cls``: a monitor that records what it handles (a subclass of the real one).
        ``pipe``: the exchange also takes bursts of entries in one write (``PipedExchange``).
        ``heap``: the heap the engine trims (default: the process's). ``collection``: the engine
        collects and freezes the interpreter's objects (default: never, as in every test)."""
        self.config = config or make_config()
        self.clock = ManualClock()
        self.paper_engine = engine or PaperEngine(
            clock=self.clock,
            balances={k: Decimal(v) for k, v in self.config.paper.balances.items()},
            fee_rate=self.config.paper.fee_rate,
            fee_in_base=self.config.paper.fee_in_base,
        )
        self.paper = PaperExchange(self.paper_engine, faults=PaperFaults(), seed=1, oco=oco)
        self.exchange = PipedExchange(self.paper) if pipe else FaultyExchange(self.paper)
        self.streams: list[PushStream] = []
        self.user_streams: list[PaperUserStream] = []
        self.user_stream_cls: type[PaperUserStream] = PaperUserStream
        """What each connection of the user stream is (a drill's subclass, set before ``start``)."""
        self.duplicate_fills = False
        self.engine = Engine(
            self.config,
            clock=self.clock,
            exchange=self.exchange,
            stream_factory=self._new_stream,
            user_stream_factory=self._new_user_stream,
            source_factory=source_factory,
            rng=random.Random(0),
            journal_path=journal_path,
            monitor_cls=monitor_cls,
            heap=heap,
            collection=collection,
        )

    def _new_stream(self) -> PushStream:
        stream = PushStream()
        self.streams.append(stream)
        return stream

    def _new_user_stream(self) -> PaperUserStream:
        stream = self.user_stream_cls(self.paper_engine, duplicate_fills=self.duplicate_fills)
        self.user_streams.append(stream)
        return stream

    # -- driving ------------------------------------------------------------------------------------

    def start(self, *, reconciled: bool = True) -> Harness:
        self.engine.start()
        wait_for(lambda: bool(self.streams) and self.streams[-1].started.is_set(), what="feed start")
        if reconciled:
            wait_for(lambda: self.engine.view().reconciled, what="reconciliation")
            wait_for(
                lambda: all(self.directory.get(strategy_name(s)) for s in self.config.symbols),
                what="strategies",
            )
        return self

    @property
    def directory(self) -> Directory:
        return self.engine.parts.directory

    @property
    def metrics(self) -> Metrics:
        return self.engine.parts.metrics

    def quote(self, symbol: str, bid: str, ask: str, *, wait: bool = True) -> None:
        """Push one quote through the live stream (the sink runs on this thread). With ``wait`` the
        strategy and the monitor have handled it on return (so conflation does not merge test quotes)."""
        q = Quote(
            venue="test",
            symbol=symbol,
            bid=Decimal(bid),
            ask=Decimal(ask),
            ts_event=self.clock.wall_ns(),
            ts_init=self.clock.wall_ns(),
        )
        stream = self.streams[-1]
        assert stream.sink is not None
        stream.sink.on_quote(q)
        if wait:
            for name in (strategy_name(symbol), MONITOR):
                self.barrier(name)

    def trigger_buy(self, symbol: str, mid: str = "100", *, settle: bool = True) -> None:
        """Fill the strategy's window around ``mid`` then dip the ask 8 bps below it: one buy signal.
        Without ``settle`` it returns once the strategy has told the signal (the entry may be in flight)."""
        m = Decimal(mid)
        for _ in range(self.config.hft.lookback_periods):
            self.quote(symbol, str(m - Decimal("0.01")), str(m + Decimal("0.01")))
        self.quote(symbol, str(m * Decimal("0.999")), str(m * Decimal("0.9992")))
        if settle:
            self.settle()

    def buy_protected(self, symbol: str, mid: str = "100") -> None:
        """``trigger_buy``, then wait until the monitor holds the position protected (test thread)."""
        self.trigger_buy(symbol, mid)
        wait_for(lambda: self.is_protected(symbol))

    def reach_take_profit(self, symbol: str) -> Decimal:
        """Quote just above the held position's take-profit and run the exit check, which finds the
        take-profit filled; returns its price (test thread)."""
        take_profit = self.held(symbol).take_profit
        assert take_profit is not None
        self.quote(symbol, str(take_profit + Decimal("0.01")), str(take_profit + Decimal("0.02")))
        self.advance(1.0)
        return take_profit

    def open_sells(self, symbol: str) -> list[Any]:
        return [o for o in self.paper_engine.open_orders(symbol) if o.side.value == "sell"]

    def buys(self, symbol: str) -> list[Any]:
        return [o for o in self.paper_engine.all_orders() if o.symbol == symbol and o.side.value == "buy"]

    def settle(self) -> None:
        """Ask barriers down the pipeline (strategies -> executor -> order senders -> executor -> monitor),
        twice, so every message told before this call (and what it caused) has been handled."""
        for _ in range(2):
            self.settle_entries()
            for name in (MONITOR, SUPERVISOR):
                self.barrier(name)

    def settle_entries(self) -> None:
        """Ask barriers down the entry path only (strategies -> executor -> order senders -> user stream
        -> executor -> order reader -> executor): entries decided so far are placed, their order events
        handled and the reads asked so far answered, while the monitor may be held by the test."""
        names = self.directory.names()
        strategies = [n for n in names if kind_of(n) is ActorKind.STRATEGY]
        senders = [n for n in names if kind_of(n) is ActorKind.ORDER_SENDER]
        user_streams = [n for n in names if kind_of(n) is ActorKind.USER_STREAM]
        path = [*strategies, EXECUTOR, *senders, EXECUTOR, *user_streams, EXECUTOR, ORDER_READER, EXECUTOR]
        for name in path:
            self.barrier(name)

    def barrier(self, name: ActorName) -> None:
        """Wait until ``name`` has handled everything told to it so far (if it is running)."""
        ref = self.directory.get(name)
        if ref is not None:
            # It may crash on what it is handling (or be stopped): the test then looks at the supervisor.
            with contextlib.suppress(pykka.ActorDeadError):
                ref.ask(Barrier(), timeout=5)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def positions(self) -> list[MonitoredPosition]:
        return self.engine.positions()

    def position(self, symbol: str) -> MonitoredPosition | None:
        return next((p for p in self.positions() if p.symbol == symbol), None)

    def held(self, symbol: str) -> MonitoredPosition:
        """The monitor's position in ``symbol``; the test fails if there is none."""
        position = self.position(symbol)
        assert position is not None, f"no position in {symbol}"
        return position

    def is_protected(self, symbol: str) -> bool:
        """A position in ``symbol`` exists and has a live exit (a state to wait for)."""
        position = self.position(symbol)
        return position is not None and position.protected

    def executor_snapshot(self) -> ExecutorView:
        view = self.engine.ask(EXECUTOR, GetSnapshot())
        assert isinstance(view, ExecutorView)
        return view

    def child(self, name: ActorName) -> ChildView:
        return next(c for c in self.engine.view().children if c.name == name)

    def stop(self) -> None:
        self.engine.stop(cancel_entries=False)


class Blocker:
    """An error factory that holds the calling actor until released, then refuses the call."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> BaseException:
        self.entered.set()
        self.release.wait(timeout=10)
        return VenueUnavailable("held by the test", venue="paper")


def hold_the_monitor(h: Harness) -> Blocker:
    """Keep the monitor busy (inside a venue read) until the returned blocker is released, so messages
    queue in its inbox in the order the test tells them."""
    blocker = Blocker()
    h.exchange.fail("positions", blocker, thread_prefix="PositionMonitorActor")
    monitor = h.directory.get(MONITOR)
    assert monitor is not None
    monitor.tell(SyncPositions())  # the monitor reads the venue: held there
    assert blocker.entered.wait(timeout=5)
    return blocker
