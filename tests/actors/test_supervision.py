"""Supervision: exact restart delays, count reset, parking, kill switch, start crashes, watchdog."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import pytest

from autohedge.actors.strategy import HftSignalSource, SignalSource
from autohedge.core.actor_names import EXECUTOR, ActorName, feed_name, strategy_name
from autohedge.core.child_states import ChildState
from autohedge.core.gates import Gate
from autohedge.core.messages import Quote, Signal
from tests.actors.harness import Harness, make_config, wait_for

FEED = feed_name("synthetic")


def crash_feed(h: Harness) -> None:
    stream = h.streams[-1]
    assert stream.sink is not None
    stream.sink.on_disconnected("socket closed by peer")
    wait_for(lambda: h.child(FEED).state is ChildState.RESTARTING, what="feed restarting")


def restart_delay(h: Harness, name: ActorName) -> float:
    delay = h.child(name).next_restart_in_s
    assert delay is not None
    return delay


def stream_started(h: Harness, streams: int) -> bool:
    return len(h.streams) == streams and h.streams[-1].started.is_set()


def feed_running_on_stream(h: Harness, streams: int) -> bool:
    return len(h.streams) == streams and h.child(FEED).state is ChildState.RUNNING


def test_feed_crash_restarts_after_exact_backoff_delays(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(make_config(feed={"stale_after_s": 1000})).start()
    delays = []
    for n in range(3):
        crash_feed(h)
        delays.append(restart_delay(h, FEED))
        h.clock.advance(delays[-1] - 0.001)
        assert h.child(FEED).state is ChildState.RESTARTING  # not a moment early
        h.clock.advance(0.001)
        wait_for(functools.partial(stream_started, h, n + 2), what="new stream")
        wait_for(lambda: h.child(FEED).state is ChildState.RUNNING)
    assert delays == [0.5, 1.0, 2.0]
    assert h.child(FEED).restarts == 3


def test_feed_restart_count_resets_after_stable_period(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(make_config(feed={"stale_after_s": 1000})).start()
    for n in range(2):
        crash_feed(h)
        h.clock.advance(restart_delay(h, FEED))
        wait_for(functools.partial(feed_running_on_stream, h, n + 2))

    h.clock.advance(60.0)  # reset_after_s of stable running
    h.settle()
    crash_feed(h)

    assert restart_delay(h, FEED) == 0.5


class ExplodingSource:
    def on_quote(self, quote: Quote) -> Signal | None:
        raise RuntimeError("strategy bug")


@pytest.mark.parametrize("shared_runner", [True, False])
def test_strategy_crash_loop_parks_only_that_symbol(
    make_harness: Callable[..., Harness], shared_runner: bool
) -> None:
    config = make_config(hft={"shared_runner": shared_runner})

    def sources(symbol: str) -> SignalSource:
        return ExplodingSource() if symbol == "ETH/USDT" else HftSignalSource(symbol, config.hft, h.clock)

    h = make_harness(config, source_factory=sources)
    h.start()
    name = strategy_name("ETH/USDT")
    for _ in range(config.supervisor.max_restarts):
        h.quote("ETH/USDT", "2999", "3001")
        wait_for(lambda: h.child(name).state is ChildState.RESTARTING)
        h.clock.advance(restart_delay(h, name))
        wait_for(lambda: h.child(name).state is ChildState.RUNNING)
    h.quote("ETH/USDT", "2999", "3001")
    wait_for(lambda: h.child(name).state is ChildState.PARKED, what="parked")

    h.trigger_buy("BTC/USDT")

    view = h.engine.view()
    assert view.parked_symbols == ("ETH/USDT",)
    assert Gate.parked("ETH/USDT") in view.gates
    assert len(h.buys("BTC/USDT")) == 1
    assert h.child(strategy_name("BTC/USDT")).restarts == 0


def test_executor_crash_loop_trips_kill_switch_exits_keep_working(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(oco=False).start()
    h.buy_protected("BTC/USDT")
    stop = h.held("BTC/USDT").stop_loss
    assert stop is not None
    h.exchange.fail(
        "open_orders", lambda: RuntimeError("executor start bug"), times=100, thread_prefix="ExecutorActor"
    )
    h.exchange.fail("symbol_rules", lambda: RuntimeError("executor bug"), thread_prefix="ExecutorActor")

    h.trigger_buy("ETH/USDT", "3000")  # the executor crashes sizing it, then in every start-up
    for _ in range(4):
        wait_for(lambda: h.child(EXECUTOR).state is ChildState.RESTARTING or h.engine.view().kill_switch)
        if h.engine.view().kill_switch:
            break
        h.clock.advance(restart_delay(h, EXECUTOR))
        h.settle()
    wait_for(lambda: h.engine.view().kill_switch, what="kill switch")

    h.quote("BTC/USDT", str(stop - 1), str(stop))  # the monitor still guards the stop
    h.settle()
    assert "position_closing" in h.engine.parts.events.kinds()


def test_crash_in_on_start_is_reported_and_restarted(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(make_config(feed={"stale_after_s": 1000}))
    new_stream = h.engine._stream_factory
    attempts: list[int] = []

    def stream_failing_once():  # type: ignore[no-untyped-def]
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("boom in start")  # a bug in a start-up: the only kind of start crash
        return new_stream()

    h.engine._stream_factory = stream_failing_once

    h.engine.start()

    wait_for(lambda: h.child(FEED).restarts == 1, what="start crash reported")
    assert "in start-up" in next(
        e.text for e in h.engine.parts.events.recent() if e.kind == "actor_restarting"
    )
    h.clock.advance(restart_delay(h, FEED))
    wait_for(lambda: h.child(FEED).state is ChildState.RUNNING)


def test_watchdog_restarts_a_silent_feed_and_pauses_entries(make_harness: Callable[..., Harness]) -> None:
    h = make_harness().start()
    h.quote("BTC/USDT", "99.99", "100.01")
    h.settle()

    h.clock.advance(5.0)
    h.settle()
    h.clock.advance(5.0)
    h.settle()
    h.clock.advance(5.0)  # 15 s of silence > stale_after_s 10

    wait_for(lambda: h.child(FEED).state is ChildState.RESTARTING, what="stale feed restart")
    wait_for(lambda: Gate.venue_stale("synthetic") in h.engine.view().gates)
    h.clock.advance(restart_delay(h, FEED))
    wait_for(lambda: len(h.streams) == 2 and h.child(FEED).state is ChildState.RUNNING)
    h.quote("BTC/USDT", "99.99", "100.01")
    h.clock.advance(5.0)
    wait_for(lambda: Gate.venue_stale("synthetic") not in h.engine.view().gates, what="entries resumed")


class BlockingSource:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.seen: list[Quote] = []

    def on_quote(self, quote: Quote) -> Signal | None:
        self.entered.set()
        self.release.wait(timeout=10)
        self.seen.append(quote)
        return None


@pytest.mark.parametrize("shared_runner", [True, False])
def test_quotes_are_conflated_while_a_strategy_is_busy(
    make_harness: Callable[..., Harness], shared_runner: bool
) -> None:
    source = BlockingSource()
    config = make_config(symbols=["BTC/USDT"], hft={"shared_runner": shared_runner})
    h = make_harness(config, source_factory=lambda symbol: source).start()
    h.quote("BTC/USDT", "99.00", "99.02", wait=False)
    assert source.entered.wait(timeout=5)

    for i in range(1000):
        h.quote("BTC/USDT", f"{100 + i}.00", f"{100 + i}.02", wait=False)
    source.release.set()
    h.settle()

    assert len(source.seen) == 2  # the one in progress, then only the newest
    assert source.seen[-1].bid == pytest.approx(1099)
    assert h.metrics.get("quotes_conflated") == 999


def test_executor_crash_loop_restarts_within_the_protection_limit(
    make_harness: Callable[..., Harness],
) -> None:
    # A fill reaches its exits only through the executor: the backoff (0.5, 1, 2 s ...) is cut to half
    # the promise, escalated or not, so a fill whose event died with a crash is protected in time.
    h = make_harness().start()
    h.exchange.fail(
        "open_orders", lambda: RuntimeError("executor start bug"), times=100, thread_prefix="ExecutorActor"
    )
    h.exchange.fail("symbol_rules", lambda: RuntimeError("executor bug"), thread_prefix="ExecutorActor")
    limit_s = h.engine.config.monitor.max_unprotected_s / 2

    h.trigger_buy("ETH/USDT", "3000")  # the executor crashes sizing it, then in every start-up
    delays = []
    for _ in range(h.engine.config.supervisor.max_restarts + 2):
        wait_for(lambda: h.child(EXECUTOR).state is ChildState.RESTARTING, what="executor restarting")
        delays.append(restart_delay(h, EXECUTOR))
        h.clock.advance(delays[-1])
        h.settle()

    assert h.engine.view().kill_switch
    assert len(delays) == h.engine.config.supervisor.max_restarts + 2
    assert max(delays) <= limit_s
