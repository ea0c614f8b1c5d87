"""Fills a re-base of the ledger took in from the account (their events lost with the stream) are never
counted again when a report or the next event of the same order comes after it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from autohedge.actors.user_stream import UserStreamActor
from autohedge.core.actor_names import MONITOR, user_stream_name
from autohedge.core.clock import ManualClock
from autohedge.core.messages import OrderRequest, OrderUpdate
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
    coid = entry_id(10**9)
    request = OrderRequest(
        client_order_id=coid,
        symbol=SYMBOL,
        side=Side.BUY,
        qty=Decimal("0.012"),
        price=Decimal("100.01"),
        purpose=OrderPurpose.ENTRY,
    )
    h.paper_engine.submit_order(request)  # half trades, unheard; the rest rests at 100.01
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
