"""The feed's wake-up budget under the real actors: a batch wakes each strategy at most once with its
newest quote, the monitor takes quotes only for what it holds, and stop-loss guarding still acts on
the newest quote of every held symbol."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from autohedge.core.messages import Quote, Signal
from tests.actors.harness import Harness, make_config, wait_for


class RecordingSource:
    def __init__(self) -> None:
        self.seen: list[Quote] = []

    def on_quote(self, quote: Quote) -> Signal | None:
        self.seen.append(quote)
        return None


def make_quote(h: Harness, symbol: str, bid: Decimal, ask: Decimal) -> Quote:
    now = h.clock.wall_ns()
    return Quote(venue="test", symbol=symbol, bid=bid, ask=ask, ts_event=now, ts_init=now)


def push_batch(h: Harness, quotes: list[Quote]) -> None:
    sink = h.streams[-1].sink
    assert sink is not None
    sink.on_quotes(quotes)
    h.settle()


@pytest.mark.parametrize("shared_runner", [True, False])
def test_a_batch_wakes_each_strategy_once_with_its_newest_quote(
    make_harness: Callable[..., Harness], shared_runner: bool
) -> None:
    sources: dict[str, RecordingSource] = {}

    def source_for(symbol: str) -> RecordingSource:
        return sources.setdefault(symbol, RecordingSource())

    config = make_config(symbols=["BTC/USDT", "ETH/USDT"], hft={"shared_runner": shared_runner})
    h = make_harness(config, source_factory=source_for).start()
    batch = [
        make_quote(h, symbol, Decimal(100 + i), Decimal(101 + i))
        for i in range(500)
        for symbol in ("BTC/USDT", "ETH/USDT")
    ]
    push_batch(h, batch)

    for symbol in ("BTC/USDT", "ETH/USDT"):
        assert [q.bid for q in sources[symbol].seen] == [Decimal(599)]
    assert h.metrics.get("quotes") == 1000
    assert h.metrics.get("quotes_conflated") == 998


def test_the_monitor_watches_exactly_the_symbols_it_holds(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(make_config(symbols=["BTC/USDT", "ETH/USDT"])).start()
    slots = h.engine.parts.monitor_slots
    push_batch(h, [make_quote(h, "ETH/USDT", Decimal("99.99"), Decimal("100.01"))])
    assert slots.watching() == frozenset()

    h.trigger_buy("BTC/USDT")
    wait_for(lambda: h.position("BTC/USDT") is not None, what="BTC held")
    assert slots.watching() == frozenset({"BTC/USDT"})
    push_batch(h, [make_quote(h, "ETH/USDT", Decimal("99.98"), Decimal("100.00"))])
    assert slots.take_all() == {}  # a move of a symbol not held leaves nothing for the monitor


def test_stop_loss_guarding_acts_on_the_newest_quote_of_a_batch(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(oco=False).start()
    h.trigger_buy("BTC/USDT")
    wait_for(lambda: h.position("BTC/USDT") is not None and h.held("BTC/USDT").protected)
    stop = h.held("BTC/USDT").stop_loss
    assert stop is not None
    through = make_quote(h, "BTC/USDT", stop - Decimal("0.05"), stop)
    recovered = make_quote(h, "BTC/USDT", stop + Decimal("0.50"), stop + Decimal("0.52"))

    push_batch(h, [through, recovered])  # dipped through and back within one batch: newest is above
    assert "position_closing" not in h.engine.parts.events.kinds()
    assert h.held("BTC/USDT").last_price == stop + Decimal("0.50")

    push_batch(h, [recovered, through])  # the newest is through the stop
    wait_for(lambda: "position_closing" in h.engine.parts.events.kinds(), what="stop loss acted on")


def test_the_hft_strategy_decides_on_the_newest_quote_of_a_batch(
    make_harness: Callable[..., Harness],
) -> None:
    config = make_config(symbols=["BTC/USDT"])
    h = make_harness(config).start()  # the real HFT rule
    for _ in range(config.hft.lookback_periods):
        h.quote("BTC/USDT", "99.99", "100.01")
    dip = make_quote(h, "BTC/USDT", Decimal("99.90"), Decimal("99.92"))
    calm = make_quote(h, "BTC/USDT", Decimal("99.99"), Decimal("100.01"))

    push_batch(h, [dip, calm])  # the dip was superseded before the strategy woke: no signal
    assert h.metrics.get("signals") == 0
    push_batch(h, [calm, dip])
    wait_for(lambda: h.metrics.get("signals") == 1, what="a signal on the newest quote")
