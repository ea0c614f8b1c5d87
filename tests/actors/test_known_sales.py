"""A balance push that already includes a sale of our exit is not taken off the holding a second time
(ManualClock, no sleeps).

The monitor keeps the sales of its exits the ledger has not applied yet and takes them off what the
ledger holds. A pushed balance snapshot taken after such a sale already includes it: subtracting it again
would read the holding too small, and an exit whose arithmetic says all is sold would close a position
that still holds a sellable remainder, leaving it without an exit. The sales are kept beside the ledger:
a monitor restarted after a crash still takes them off."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from autohedge.core.actor_names import MONITOR, user_stream_name
from autohedge.core.messages import AccountBalances, Balance, OrderEventKind, OrderUpdate
from tests.actors.harness import Harness, make_config, wait_for
from tests.actors.test_simulation_findings import (
    close_half_sold_then_ended_by_the_venue,
    covered,
    crash_the_monitor,
    half_filling_engine,
    held,
)

USER_STREAM = user_stream_name("paper")
STEP_S = 0.001
"""Between the venue's events: far below the exit check's interval, so no timer fires."""


def exit_event(h: Harness, coid: str, kind: OrderEventKind, cum: str, last: str) -> OrderUpdate:
    """An event of the resting exit ``coid`` (1 BTC at its price), stamped now."""
    [leg] = [o for o in h.open_sells("BTC/USDT") if o.client_order_id == coid]
    now_ns = h.clock.wall_ns()
    event = OrderUpdate.of_order(
        leg,
        kind,
        venue="paper",
        ts_init=now_ns,
        cum_filled_qty=Decimal(cum),
        last_qty=Decimal(last),
        last_price=leg.price,
        fee_asset="USDT",
        trade_id=f"t{cum}",
    )
    return event.model_copy(update={"ts_event": now_ns})  # reported now, not when it was placed


def test_a_push_that_includes_an_exits_sale_keeps_the_remainder_covered(
    make_harness: Callable[..., Harness],
) -> None:
    engine = half_filling_engine(BTC=Decimal(1))
    h = make_harness(make_config(hft={"min_edge_bps": 10_000}), engine=engine, oco=False).start()
    h.quote("BTC/USDT", "99.99", "100.01")
    wait_for(lambda: covered(h) == Decimal(1), what="the adopted holding protected")
    [exit_leg] = h.open_sells("BTC/USDT")
    coid = exit_leg.client_order_id
    # 0.3 more arrives at the venue; the ledger has it (a push), the position does not know it yet.
    h.paper_engine.fund("BTC", Decimal("0.3"))
    first = exit_event(h, coid, OrderEventKind.PARTIALLY_FILLED, "0.4", "0.4")
    h.clock.advance(STEP_S)
    last = exit_event(h, coid, OrderEventKind.FILLED, "1", "0.6")
    h.clock.advance(STEP_S)

    # The exit sells 0.4; the monitor hears of it before the ledger has applied its event.
    h.directory.tell(MONITOR, first)
    h.barrier(MONITOR)
    # A push taken after that sale (it includes it) reaches the ledger first: 1.3 - 0.4 held.
    h.directory.tell(
        USER_STREAM,
        AccountBalances(
            venue="paper",
            balances=(Balance(asset="BTC", free=Decimal("0.9")),),
            ts_event=first.ts_event + 1,
            ts_init=first.ts_event + 1,
        ),
    )
    h.barrier(USER_STREAM)
    assert h.engine.parts.ledger.position("BTC/USDT") == Decimal("0.9")
    # The exit's own last event: by the position's arithmetic everything is sold.
    h.directory.tell(MONITOR, last)
    h.settle()

    assert "position_closed" not in h.engine.parts.events.kinds()
    wait_for(lambda: h.is_protected("BTC/USDT"), what="the remainder re-armed")
    assert h.held("BTC/USDT").qty == Decimal("0.3")  # what is really held after the sale, not less
    assert covered(h) == Decimal("0.3")


def test_a_restarted_monitor_adopts_from_the_ledger_net_of_sales_its_crashed_incarnation_knew(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a venue whose positions carry no entry price (Binance), a restarted monitor adopts what the ledger
    # holds: a sale its crashed incarnation knew of, whose event is still on its way, is inside that
    # holding. Adopted with it, the position's exit asked for what had been sold.
    engine = half_filling_engine(BTC=Decimal(1))
    h = make_harness(make_config(hft={"min_edge_bps": 10_000}), engine=engine, oco=False)
    h.paper.capabilities = h.paper.capabilities.model_copy(update={"positions_with_entry_price": False})
    h.start()
    exit_leg, delayed, refused = close_half_sold_then_ended_by_the_venue(h, monkeypatch)

    crash_the_monitor(h, monkeypatch)

    assert refused == []
    assert [o.client_order_id for o in h.open_sells("BTC/USDT")] == [exit_leg.client_order_id]
    assert h.held("BTC/USDT").qty == Decimal("0.5")
    delayed.deliver()
    h.advance(1.0)
    assert refused == []
    assert covered(h) == held(h) == Decimal("0.5")
