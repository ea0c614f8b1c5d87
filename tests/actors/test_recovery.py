"""Monitor restart, start-up adoption, orphan repair, vanished positions."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from decimal import Decimal

import pytest

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.actor_names import MONITOR
from autohedge.core.child_states import ChildState
from autohedge.core.clock import ManualClock
from autohedge.core.config import PaperFaults
from autohedge.core.errors import OrderRejected
from autohedge.core.messages import OrderFilled, OrderRequest, Quote, UserStreamStatus
from autohedge.core.types import OrderPurpose, Side, quantize_down
from tests.actors.harness import Harness, make_config, wait_for


def cancel_exits_on_venue(h: Harness, symbol: str) -> None:
    for order in h.open_sells(symbol):
        if order.status.is_open:
            # The OCO sibling went with the first cancel: the venue refuses to cancel it again.
            with contextlib.suppress(OrderRejected):
                h.paper_engine.cancel_order(symbol, venue_order_id=order.venue_order_id)


def test_monitor_restart_rebuilds_from_exchange_and_rearms_exits(harness: Harness) -> None:
    h = harness
    h.buy_protected("BTC/USDT")
    old_exits = set(h.held("BTC/USDT").exit_order_ids)
    h.exchange.fail("positions", lambda: RuntimeError("monitor bug"), thread_prefix="PositionMonitorActor")

    h.clock.advance(h.config.user_stream.safety_poll_interval_s)  # the safety-net check crashes the monitor
    wait_for(lambda: h.child(MONITOR).state is ChildState.RESTARTING, what="monitor crashed")
    cancel_exits_on_venue(h, "BTC/USDT")  # the exits are lost while it is down
    h.clock.advance(0.5)

    wait_for(
        lambda: h.child(MONITOR).state is ChildState.RUNNING and h.is_protected("BTC/USDT"), what="re-armed"
    )
    new_exits = set(h.held("BTC/USDT").exit_order_ids)
    assert new_exits and not (new_exits & old_exits)
    assert {o.client_order_id for o in h.open_sells("BTC/USDT")} == new_exits


def test_startup_adopts_existing_positions_before_strategies_start(
    make_harness: Callable[..., Harness],
) -> None:
    clock = ManualClock()
    engine = PaperEngine(clock=clock, balances={"USDT": Decimal(10000)}, fee_rate=Decimal("0.001"))
    engine.on_quote(
        Quote(venue="t", symbol="ETH/USDT", bid=Decimal(2999), ask=Decimal(3000), ts_event=0, ts_init=0)
    )
    engine.submit_order(
        OrderRequest(
            client_order_id="manual-1",
            symbol="ETH/USDT",
            side=Side.BUY,
            qty=Decimal("0.1"),
            price=Decimal(3000),
        )
    )
    h = make_harness(engine=engine)

    h.start()

    pos = h.position("ETH/USDT")
    assert pos is not None and pos.protected and pos.qty == Decimal("0.0999")
    assert len(h.open_sells("ETH/USDT")) == 2
    events = h.engine.parts.events.kinds()
    assert events.index("exit_armed") < events.index("strategies_started")


def test_orphan_repair_spaced_and_limited_then_unprotected(make_harness: Callable[..., Harness]) -> None:
    h = make_harness().start()
    h.buy_protected("BTC/USDT")
    h.paper.set_faults(PaperFaults(reject_rate=1.0))
    cancel_exits_on_venue(h, "BTC/USDT")

    h.advance(1.0)  # CheckExits: orphan detected, attempt 1 fails at once
    wait_for(lambda: h.held("BTC/USDT").repair_attempts == 1)
    h.advance(29.0)
    assert h.held("BTC/USDT").repair_attempts == 1  # not before 30 s
    h.advance(1.0)
    wait_for(lambda: h.held("BTC/USDT").repair_attempts == 2)
    h.advance(30.0)
    wait_for(lambda: h.held("BTC/USDT").unprotected, what="unprotected")
    h.advance(120.0)

    pos = h.held("BTC/USDT")
    assert pos.repair_attempts == 3 and not pos.protected
    assert h.metrics.get("positions_unprotected") == 1
    assert h.exchange.calls.count("submit_oco") == 1 + 3


def test_orphan_repaired_on_a_later_attempt(make_harness: Callable[..., Harness]) -> None:
    h = make_harness().start()
    h.buy_protected("BTC/USDT")
    h.paper.set_faults(PaperFaults(reject_rate=1.0))
    cancel_exits_on_venue(h, "BTC/USDT")
    h.advance(1.0)
    wait_for(lambda: h.held("BTC/USDT").repair_attempts == 1)

    h.paper.set_faults(PaperFaults())
    h.advance(30.0)

    wait_for(lambda: h.is_protected("BTC/USDT"), what="repaired")
    assert h.metrics.get("orphans_repaired") == 1


def test_position_gone_from_exchange_is_removed(harness: Harness) -> None:
    h = harness
    h.buy_protected("BTC/USDT")
    qty = quantize_down(h.held("BTC/USDT").qty, Decimal("0.000001"))
    cancel_exits_on_venue(h, "BTC/USDT")
    h.paper_engine.submit_order(
        OrderRequest(
            client_order_id="someone-else", symbol="BTC/USDT", side=Side.SELL, qty=qty, price=Decimal(90)
        )
    )  # sold outside autohedge

    h.advance(1.0)

    wait_for(lambda: h.position("BTC/USDT") is None, what="removed")
    assert "position_removed" in h.engine.parts.events.kinds()


def test_a_holding_no_report_told_of_is_adopted_and_protected_by_the_safety_net(
    make_harness: Callable[..., Harness],
) -> None:
    # Nothing is tracked. A buy the engine hears nothing of fills (an order the venue placed after saying
    # it had none, or one placed outside the process): the safety net's read finds it held, and it is
    # adopted and protected as at start-up. A report of that fill still on its way then counts once.
    h = make_harness(make_config(hft={"min_edge_bps": 10_000})).start()  # no entries of its own
    h.quote("ETH/USDT", "2999", "3000")
    buy = OrderRequest(
        client_order_id="manual-2", symbol="ETH/USDT", side=Side.BUY, qty=Decimal("0.1"), price=Decimal(3000)
    )
    h.paper_engine.submit_order(buy)
    filled_ns = h.clock.wall_ns()
    h.settle()
    assert h.position("ETH/USDT") is None

    h.advance(h.config.user_stream.safety_poll_interval_s)

    wait_for(lambda: h.is_protected("ETH/USDT"), what="the holding adopted and protected")
    held = h.engine.parts.ledger.position("ETH/USDT")
    assert h.held("ETH/USDT").qty == held == Decimal("0.0999")
    assert "position_adopted" in h.engine.parts.events.kinds()

    report = OrderFilled(
        symbol="ETH/USDT",
        client_order_id="manual-2",
        venue_order_id="late",
        side=Side.BUY,
        purpose=OrderPurpose.ENTRY,
        fill_qty=Decimal("0.1"),
        fill_price=Decimal(3000),
        fee=Decimal("0.0001"),
        fee_asset="ETH",
        cum_filled_qty=Decimal("0.1"),
        order_qty=Decimal("0.1"),
        ts_event=filled_ns,
        ts_init=filled_ns,
    )
    h.directory.tell(MONITOR, report)
    h.settle()
    h.advance(1.0)
    assert h.held("ETH/USDT").qty == held
    assert all(o.qty <= held for o in h.open_sells("ETH/USDT"))


def test_an_unreported_holding_sellable_by_lot_but_below_the_minimum_value_is_no_crash(
    make_harness: Callable[..., Harness],
) -> None:
    # Nothing tracked. 0.000335 ETH (0.000334665 after the fee) arrives without a report: a lot is
    # sellable, but at the exit's prices it is worth less than the venue's 1 USDT minimum order value.
    # The arming keeps it as dust and drops the position; the adoption must not then look it up
    # (KeyError: the monitor crashed and was restarted by its supervisor).
    h = make_harness(make_config(hft={"min_edge_bps": 10_000})).start()
    h.quote("ETH/USDT", "2999", "3000")
    buy = OrderRequest(
        client_order_id="manual-3",
        symbol="ETH/USDT",
        side=Side.BUY,
        qty=Decimal("0.000335"),
        price=Decimal(3000),
    )
    h.paper_engine.submit_order(buy)
    h.settle()
    assert h.position("ETH/USDT") is None

    h.advance(h.config.user_stream.safety_poll_interval_s)
    h.settle()

    assert h.child(MONITOR).restarts == 0, h.child(MONITOR).last_error
    assert h.child(MONITOR).last_error == ""


@pytest.mark.parametrize("oco", [True, False])
def test_verification_keeps_an_exit_leg_the_listing_missed_that_still_rests(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch, oco: bool
) -> None:
    # A leg absent from the open-orders listing (placed after the listing was read, or listed late by the
    # venue) is read on its own; read back still resting, it was taken for ended all the same and the
    # position re-armed beside it: two resting sells covering one holding.
    h = make_harness(make_config(), oco=oco).start()
    h.buy_protected("BTC/USDT")
    exits = sorted(o.client_order_id for o in h.open_sells("BTC/USDT"))
    listing = h.paper.open_orders
    monkeypatch.setattr(
        h.paper, "open_orders", lambda symbol=None: tuple(o for o in listing(symbol) if o.side is Side.BUY)
    )

    h.directory.tell(MONITOR, UserStreamStatus(venue="paper", connected=True))  # verified by REST
    h.settle()

    assert sorted(o.client_order_id for o in h.open_sells("BTC/USDT")) == exits
    assert h.is_protected("BTC/USDT")
