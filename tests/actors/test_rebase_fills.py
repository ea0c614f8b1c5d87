"""Fills a re-base of the ledger took in from the account (their events lost with the stream) are never
counted again when a report or the next event of the same order comes after it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest

from autohedge.actors.user_stream import UserStreamActor
from autohedge.core.actor_names import MONITOR, user_stream_name
from autohedge.core.clock import ManualClock
from autohedge.core.messages import OrderRequest, OrderUpdate, Quote
from autohedge.core.types import OrderPurpose, Side, quantize_down
from tests.actors.harness import Harness, make_config, wait_for
from tests.actors.test_simulation_findings import (
    LOT,
    covered,
    exits_asked,
    half_filling_engine,
    held,
    whole_fill_report,
)
from tests.actors.test_user_stream import MIN_BACKOFF_S, running_after
from tests.ids import entry_id

SYMBOL = "BTC/USDT"
OLD_ENTRY = entry_id(10**9)
"""An entry an earlier incarnation placed: this executor does not track it, its events adopt it."""


def old_entry(qty: str) -> OrderRequest:
    """``OLD_ENTRY``: a buy of ``qty`` at 100.01."""
    return OrderRequest(
        client_order_id=OLD_ENTRY,
        symbol=SYMBOL,
        side=Side.BUY,
        qty=Decimal(qty),
        price=Decimal("100.01"),
        purpose=OrderPurpose.ENTRY,
    )


def test_fill_a_reconnect_took_in_is_not_counted_again_by_a_read_reported_before_the_next_event(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An entry of ours (a previous incarnation's: this executor does not track it) half fills while the
    # user stream is down; the reconnect's re-base takes that fill in and the monitor's verification sizes
    # the exit from it. The rest fills; a REST read of the order reports both fills to the monitor before
    # the stream's event of the second reaches the ledger. The ledger counted the whole order as missing
    # (the re-base's fill might only be late): the exit asked for the first fill twice, beyond what was
    # held, and the venue refused it.
    config = make_config(hft={"min_edge_bps": 10_000})  # no entries: the test's is the only one
    venue_clock = ManualClock()  # the venue stamps its events on its own clock, kept with the harness's
    h = make_harness(config, engine=half_filling_engine(clock=venue_clock, BTC=Decimal(1))).start()

    def advance(seconds: float) -> None:
        venue_clock.advance(seconds)
        h.advance(seconds)

    h.quote(SYMBOL, "99.99", "100.01")
    wait_for(lambda: covered(h) == Decimal(1), what="the adopted holding protected")
    asked = exits_asked(h, monkeypatch)

    h.user_streams[-1].drop()
    h.barrier(user_stream_name("paper"))
    coid = OLD_ENTRY
    h.paper_engine.submit_order(old_entry("0.012"))  # half trades, unheard; the rest rests at 100.01
    advance(MIN_BACKOFF_S)  # reconnect: the re-base reads the account, the monitor verifies
    wait_for(running_after(h, connections=2), what="reconnected")
    h.settle()
    assert covered(h) == held(h) == Decimal("1.005994")

    deliver = UserStreamActor.on_order_update
    late: list[OrderUpdate] = []

    def hold(self: UserStreamActor, update: OrderUpdate) -> None:
        if update.client_order_id == coid:
            late.append(update)
        else:
            deliver(self, update)

    monkeypatch.setattr(UserStreamActor, "on_order_update", hold)
    advance(0.01)
    h.quote(SYMBOL, "99.99", "100.01")  # the rest trades; its event waits on its way to the ledger
    order = h.paper_engine.get_order(SYMBOL, client_order_id=coid)
    assert order.filled_qty == Decimal("0.012")
    h.directory.tell(MONITOR, whole_fill_report(h, order, "100.01"))  # a REST read reports both fills
    h.settle()

    assert [(qty, have) for qty, have in asked if qty > have] == []  # (exit asked for, held then)
    monkeypatch.setattr(UserStreamActor, "on_order_update", deliver)
    for update in late:
        h.directory.tell(user_stream_name("paper"), update)
    h.settle()
    assert covered(h) == quantize_down(held(h), LOT) == Decimal("1.011988")


def fill_during_the_reconnects_read(
    make_harness: Callable[..., Harness], read: str
) -> tuple[Harness, list[str]]:
    """An entry of a previous incarnation rests while the user stream is down; the reconnect's re-base
    reads the account, and while its ``read`` (an exchange method) is on its way, on both clocks, the
    entry fills whole. Returns the settled harness and the entry's id once it filled so."""
    config = make_config(hft={"min_edge_bps": 10_000})  # no entries: the test's is the only one
    venue_clock = ManualClock()
    h = make_harness(config, engine=half_filling_engine(1.0, clock=venue_clock)).start()
    h.quote(SYMBOL, "99.99", "100.03")
    h.user_streams[-1].drop()
    h.barrier(user_stream_name("paper"))
    coid = OLD_ENTRY
    h.paper_engine.submit_order(old_entry("0.01"))  # rests below the ask
    during_the_read: list[str] = []

    def fill_while_read() -> None:
        if during_the_read or not threading.current_thread().name.startswith(UserStreamActor.__name__):
            return
        during_the_read.append(coid)
        venue_clock.advance(0.001)  # the request's way to the venue takes time on both clocks
        h.clock.advance(0.001)
        h.paper_engine.on_quote(
            Quote(
                venue="test",
                symbol=SYMBOL,
                bid=Decimal("99.99"),
                ask=Decimal("100.00"),
                ts_event=venue_clock.wall_ns(),
                ts_init=venue_clock.wall_ns(),
            )
        )
        venue_clock.advance(0.001)  # then the venue answers
        h.clock.advance(0.001)

    h.exchange.hold(read, fill_while_read, times=10)
    venue_clock.advance(MIN_BACKOFF_S)  # the venue's clock keeps ours
    h.advance(MIN_BACKOFF_S)  # reconnect: the re-base reads the account
    wait_for(running_after(h, connections=2), what="reconnected")
    h.settle()
    h.barrier(user_stream_name("paper"))  # the entry's event came after the re-base (and what it caused)
    assert h.paper_engine.get_order(SYMBOL, client_order_id=coid).filled_qty == Decimal("0.01")
    return h, during_the_read


def test_an_order_that_ends_while_the_reconnects_open_orders_are_read_is_counted_once(
    make_harness: Callable[..., Harness],
) -> None:
    # The re-base read the clock, then the open orders: while that read was on its way the entry filled
    # whole. The open orders no longer listed it, the balances read after them held its fill, and its
    # event, dated after the clock reading, came on top of them: the ledger held the fill twice.
    h, during_the_read = fill_during_the_reconnects_read(make_harness, "open_orders")

    assert during_the_read == [OLD_ENTRY]
    assert h.engine.parts.ledger.position(SYMBOL) == held(h) == Decimal("0.00999")  # net of the fee in BTC
    assert h.metrics.get("ledger_rereads") == 0


def test_an_order_that_fills_while_the_balances_are_read_is_counted_once_after_reading_again(
    make_harness: Callable[..., Harness],
) -> None:
    # The fill is dated after the clock reading and the balances answer holds it: its event cannot tell
    # the ledger whether they do. The ledger turns unsure (no reader trusts it) and the user stream reads
    # the account again, after the event: the fill is then inside the balances, once.
    h, during_the_read = fill_during_the_reconnects_read(make_harness, "balances")
    ledger = h.engine.parts.ledger

    assert during_the_read == [OLD_ENTRY]
    assert h.metrics.get("ledger_rereads") == 1
    assert ledger.live and not ledger.unsure
    assert ledger.position(SYMBOL) == held(h) == Decimal("0.00999")
