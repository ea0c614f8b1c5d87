"""The strategy runner (``hft.shared_runner``): a feed batch's symbols decided on one thread, the tick's
signals told to the executor as one tick (its first signal ahead of the rest), and each symbol still
supervised on its own: a lane that raises fails alone, a parked lane is never decided again, a crash of
the runner loses no lane."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from decimal import Decimal

import pytest

from autohedge.actors.protocol import TickSignals
from autohedge.actors.strategy import HftSignalSource, SignalSource, StrategyActor
from autohedge.actors.strategy_runner import LaneRef, StrategyLanes
from autohedge.actors.supervisor import StartTrading, StopTrading
from autohedge.core.actor_names import EXECUTOR, STRATEGY_RUNNER, strategy_name
from autohedge.core.child_states import ChildState
from autohedge.core.config import AppConfig
from autohedge.core.gates import Gate
from autohedge.core.messages import Quote, Signal
from tests.actors.harness import Harness, make_config, wait_for
from tests.actors.proxies import PipedExchange
from tests.actors.test_exit_slots import buy_signal
from tests.actors.test_order_reader import HeldRead
from tests.actors.test_senders import Held

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]


def quote(h: Harness, symbol: str, bid: str, ask: str) -> Quote:
    now = h.clock.wall_ns()
    return Quote(venue="test", symbol=symbol, bid=Decimal(bid), ask=Decimal(ask), ts_event=now, ts_init=now)


def push_batch(h: Harness, quotes: list[Quote]) -> None:
    """One batch through the live stream (the sink runs on this thread), then the pipeline settled."""
    sink = h.streams[-1].sink
    assert sink is not None
    sink.on_quotes(quotes)
    h.settle()


def prime(h: Harness, symbols: list[str]) -> None:
    """Fill every symbol's window at 100 (one quote at a time: no dip yet)."""
    for _ in range(h.config.hft.lookback_periods):
        for symbol in symbols:
            h.quote(symbol, "99.99", "100.01")


def dips(h: Harness, symbols: list[str]) -> list[Quote]:
    """The quote that makes the HFT rule buy, for each symbol."""
    return [quote(h, symbol, "99.90", "99.92") for symbol in symbols]


def all_protected(h: Harness, symbols: list[str]) -> bool:
    return all(h.is_protected(s) for s in symbols)


def lanes_of(h: Harness) -> StrategyLanes:
    lanes = h.engine.parts.lanes
    assert lanes is not None
    return lanes


def runner_config(**overrides: object) -> AppConfig:
    return make_config(symbols=SYMBOLS, executor={"submit_workers": len(SYMBOLS)}, **overrides)


def test_a_batch_triggering_every_symbol_is_one_write_of_all_their_entries(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(runner_config(), pipe=True).start()
    prime(h, SYMBOLS)

    push_batch(h, dips(h, SYMBOLS))  # one tick: every symbol's rule fires on one batch

    wait_for(lambda: all(h.is_protected(s) for s in SYMBOLS), what="every entry filled and protected")
    assert isinstance(h.exchange, PipedExchange)
    (burst,) = h.exchange.bursts  # decided from one message: never split between flushes
    assert sorted(burst) == sorted(e.client_order_id for s in SYMBOLS for e in h.buys(s))
    assert h.metrics.get("signals") == len(SYMBOLS)
    assert h.exchange.collector_on_at_write == [False]  # no collection between the tick and its write


class SecondDecisionHold:
    """Once armed, holds the runner inside the second decision it makes (the runner decides a batch's
    symbols in no set order) until released."""

    def __init__(self) -> None:
        self.held: Held | None = None
        self._decisions = 0

    def source(self, inner: SignalSource) -> SignalSource:
        hold = self

        class Holding:
            def on_quote(self, quote: Quote) -> Signal | None:
                if hold.held is not None:
                    hold._decisions += 1
                    if hold._decisions == 2:
                        hold.held.wait()
                return inner.on_quote(quote)

        return Holding()


def test_a_ticks_first_signal_goes_ahead_and_its_entry_waits_for_the_rest(
    make_harness: Callable[..., Harness],
) -> None:
    """The executor decides the first signal while the runner still decides the rest (its wake-up is
    not on the tick's path), yet writes nothing until the message that closes the tick: one write."""
    config = runner_config()
    hold = SecondDecisionHold()

    def sources(symbol: str) -> SignalSource:
        return hold.source(HftSignalSource(symbol, config.hft, h.clock))

    h = make_harness(config, pipe=True, source_factory=sources)
    h.start()
    pair = ["BTC/USDT", "ETH/USDT"]
    prime(h, pair)
    assert isinstance(h.exchange, PipedExchange)
    deciding_second = hold.held = Held()
    sink = h.streams[-1].sink
    assert sink is not None

    sink.on_quotes(dips(h, pair))  # the runner is held deciding the second symbol

    wait_for(
        lambda: len(h.executor_snapshot().sending) == 1,
        what="the first entry decided while the runner still decides the second symbol",
    )
    assert h.exchange.bursts == []  # held for the rest of the tick
    # Nor does a collection run before the rest (the first entry's allocations made one due).
    assert not gc.isenabled()
    deciding_second.release()
    wait_for(lambda: all_protected(h, pair), what="both entries filled and protected")
    (burst,) = h.exchange.bursts
    assert sorted(burst) == sorted(e.client_order_id for s in pair for e in h.buys(s))
    assert not deciding_second.ran_out
    assert h.exchange.collector_on_at_write == [False]
    assert gc.isenabled()  # given back once the tick was written


def test_a_tick_written_behind_a_backlog_is_still_not_cut_by_a_collection(
    make_harness: Callable[..., Harness],
) -> None:
    """The message closing a tick finds more in the inbox (here the next tick), so the write waits for
    a ``FlushEntries``: the collector stays held until that write, not only until the tick closed."""
    h = make_harness(runner_config(), pipe=True).start()
    assert isinstance(h.exchange, PipedExchange)
    first, second, third = (buy_signal(h, s) for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT"))
    deciding_first = HeldRead()
    h.exchange.hold("symbol_rules", deciding_first.wait)  # the executor's first use of a symbol's rules

    h.directory.tell(EXECUTOR, TickSignals(signals=(first,), more=True))
    wait_for(deciding_first.entered.is_set, what="the executor held deciding the tick's first signal")
    assert deciding_first.thread.startswith("ExecutorActor")
    h.directory.tell(EXECUTOR, TickSignals(signals=(second,)))  # closes the tick
    h.directory.tell(EXECUTOR, TickSignals(signals=(third,)))  # the next tick, already waiting behind it
    deciding_first.release()
    h.barrier(EXECUTOR)  # both ticks decided; the flush the closing message told waits behind this
    h.barrier(EXECUTOR)  # and is written

    (burst,) = h.exchange.bursts  # both ticks' entries, in the one write the flush made
    assert len(burst) == 3
    assert h.exchange.collector_on_at_write == [False]
    assert gc.isenabled()  # given back once the burst was written
    assert not deciding_first.ran_out


def test_an_executor_stopping_with_a_tick_open_gives_the_collector_back(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(runner_config(), pipe=True).start()
    first = buy_signal(h, "BTC/USDT")
    h.directory.tell(EXECUTOR, TickSignals(signals=(first,), more=True))  # its closing message never comes
    h.barrier(EXECUTOR)
    assert not gc.isenabled()

    h.stop()

    assert gc.isenabled()


def test_strategies_are_lanes_of_one_runner_and_per_symbol_actors_without_it(
    make_harness: Callable[..., Harness],
) -> None:
    shared = make_harness(runner_config()).start()
    own = make_harness(runner_config(hft={"shared_runner": False})).start()

    assert all(isinstance(shared.directory.get(strategy_name(s)), LaneRef) for s in SYMBOLS)
    assert shared.directory.get(STRATEGY_RUNNER) is not None
    assert own.directory.get(STRATEGY_RUNNER) is None and own.engine.parts.lanes is None
    for h in (shared, own):
        prime(h, SYMBOLS)
        push_batch(h, dips(h, SYMBOLS))
        wait_for(functools.partial(all_protected, h, SYMBOLS), what="every entry protected")
    strategy = own.directory.get(strategy_name("BTC/USDT"))
    assert strategy is not None and strategy.actor_class is StrategyActor


class ExplodingSource:
    def __init__(self) -> None:
        self.calls = 0

    def on_quote(self, quote: Quote) -> Signal | None:
        self.calls += 1
        raise RuntimeError("strategy bug")


def test_a_lane_raising_fails_alone_within_the_batch_and_stays_parked(
    make_harness: Callable[..., Harness],
) -> None:
    config = runner_config()
    exploding: list[ExplodingSource] = []

    def sources(symbol: str) -> SignalSource:
        if symbol == "ETH/USDT":
            exploding.append(ExplodingSource())
            return exploding[-1]
        return HftSignalSource(symbol, config.hft, h.clock)

    h = make_harness(config, source_factory=sources)
    h.start()
    others = [s for s in SYMBOLS if s != "ETH/USDT"]
    prime(h, others)
    eth = strategy_name("ETH/USDT")

    # ETH first in the batch: its crash must not keep the symbols after it from being decided.
    push_batch(h, dips(h, ["ETH/USDT", *others]))

    wait_for(lambda: all(h.is_protected(s) for s in others), what="the other symbols bought")
    assert h.child(eth).state is ChildState.RESTARTING
    for _ in range(config.supervisor.max_restarts):
        h.clock.advance(h.child(eth).next_restart_in_s or 0.0)
        wait_for(lambda: h.child(eth).state is ChildState.RUNNING, what="ETH lane running again")
        push_batch(h, [quote(h, "ETH/USDT", "99.99", "100.01"), quote(h, "BTC/USDT", "99.99", "100.01")])
    wait_for(lambda: h.child(eth).state is ChildState.PARKED, what="ETH parked")
    calls = sum(source.calls for source in exploding)

    push_batch(h, [quote(h, "ETH/USDT", "99.99", "100.01")])
    h.clock.advance(60.0)
    h.settle()

    view = h.engine.view()
    assert view.parked_symbols == ("ETH/USDT",) and Gate.parked("ETH/USDT") in view.gates
    assert sum(source.calls for source in exploding) == calls  # a parked lane is never decided again
    assert "ETH/USDT" not in lanes_of(h).slots.watching() and h.directory.get(eth) is None
    assert h.child(eth).state is ChildState.PARKED
    assert all(h.child(strategy_name(s)).restarts == 0 for s in others)


def test_a_crash_of_the_runner_keeps_every_lane_and_its_window(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness(runner_config()).start()
    prime(h, SYMBOLS)  # every window full before the crash
    slots = lanes_of(h).slots
    take_all = slots.take_all
    crashes: list[int] = []

    def take_all_once() -> dict[str, Quote]:
        if not crashes:
            crashes.append(1)
            raise RuntimeError("runner bug")
        return take_all()

    monkeypatch.setattr(slots, "take_all", take_all_once)
    h.quote("BTC/USDT", "99.99", "100.01", wait=False)
    wait_for(lambda: h.child(STRATEGY_RUNNER).state is ChildState.RESTARTING, what="runner restarting")
    h.clock.advance(h.child(STRATEGY_RUNNER).next_restart_in_s or 0.0)
    wait_for(lambda: h.child(STRATEGY_RUNNER).state is ChildState.RUNNING, what="runner running again")

    push_batch(h, dips(h, SYMBOLS))  # no window refilled: the lanes kept theirs

    wait_for(lambda: all(h.is_protected(s) for s in SYMBOLS), what="every symbol bought")
    assert all(h.child(strategy_name(s)).state is ChildState.RUNNING for s in SYMBOLS)
    assert all(h.child(strategy_name(s)).restarts == 0 for s in SYMBOLS)


def test_stopping_trading_stops_the_lanes_and_starting_runs_fresh_ones(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(runner_config()).start()
    h.engine.supervisor.ask(StopTrading(), timeout=5)
    wait_for(lambda: all(h.child(strategy_name(s)).state is ChildState.STOPPED for s in SYMBOLS))
    assert lanes_of(h).running() == {} and lanes_of(h).slots.watching() == frozenset()
    assert all(h.directory.get(strategy_name(s)) is None for s in SYMBOLS)

    h.engine.supervisor.ask(StartTrading(), timeout=5)
    wait_for(lambda: len(h.streams) == 2 and h.streams[-1].started.is_set(), what="the feed again")
    wait_for(lambda: all(h.child(strategy_name(s)).state is ChildState.RUNNING for s in SYMBOLS))
    assert lanes_of(h).slots.watching() == frozenset(SYMBOLS)
    h.trigger_buy("SOL/USDT")
    wait_for(lambda: h.is_protected("SOL/USDT"), what="a fresh lane trades")
