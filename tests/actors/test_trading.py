"""Entries, fills and protection on the paper exchange (ManualClock, no sleeps)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from autohedge.actors.monitor import PositionMonitorActor
from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.actor_names import MONITOR
from autohedge.core.clock import ManualClock
from autohedge.core.messages import OrderSnapshot, Quote
from autohedge.core.pushback import MIN_RETRY_S
from autohedge.core.types import OrderStatus, quantize_down
from tests.actors.harness import Harness, make_config, wait_for

LOT = Decimal("0.000001")


def held(h: Harness) -> Decimal:
    return sum((p.qty for p in h.paper_engine.positions(["BTC/USDT"])), Decimal(0))


def quote(symbol: str, bid: Decimal, ask: Decimal) -> Quote:
    """A quote for the paper venue alone (the engine, not the feed)."""
    return Quote(venue="test", symbol=symbol, bid=bid, ask=ask, ts_event=0, ts_init=0)


def test_signal_marketable_buy_fills_and_arms_an_oco_for_the_net_quantity(harness: Harness) -> None:
    harness.buy_protected("BTC/USDT")
    buy = harness.buys("BTC/USDT")[0]
    sells = harness.open_sells("BTC/USDT")
    assert buy.status is OrderStatus.FILLED
    assert {o.qty for o in sells} == {quantize_down(buy.filled_qty - buy.fee, LOT)}  # fee paid in BTC
    assert len(sells) == 2 and sells[0].list_id == sells[1].list_id


def test_a_filled_entry_leaves_no_expiry_timer_behind(harness: Harness) -> None:
    # entry_timeout_s is 30 in the harness: the entry's expiry is armed when it is placed and cancelled
    # once it filled, so a busy run does not hold one timer (and its message) per entry until due.
    harness.buy_protected("BTC/USDT")
    wait_for(
        lambda: not any(29 < delay_s <= 30 for delay_s in harness.clock.pending_delays_s()),
        what="the filled entry's expiry cancelled",
    )


def test_a_position_re_armed_at_every_entry_forgets_the_replaced_legs_that_sold_nothing(
    harness: Harness,
) -> None:
    for _ in range(3):
        harness.buy_protected("BTC/USDT")
        harness.advance(0.3)  # past the symbol's rate limit: the next signal is an entry too
    assert len(harness.buys("BTC/USDT")) == 3
    cancelled = [o for o in harness.paper_engine.all_orders() if o.status is OrderStatus.CANCELED]
    assert len(cancelled) == 4  # two OCOs replaced by re-arms, both legs each
    ref = harness.directory.get(MONITOR)
    assert ref is not None
    monitor = ref._actor_weakref()  # the instance itself: a proxy hides private state; the monitor is idle
    assert isinstance(monitor, PositionMonitorActor)
    (position,) = monitor._positions.values()
    # Only the live legs are remembered: the replaced ones ended with nothing sold.
    assert set(position.exit_filled_qty) <= set(position.exit_ids) and not position.exits_ended
    assert len(position.exit_ids) == 2


def test_partial_fills_exit_quantity_is_filled_minus_base_fees(make_harness: Callable[..., Harness]) -> None:
    config = make_config(rate_limit_ms=60_000)  # one entry: its second fill arrives by push, at once
    clock_engine = PaperEngine(
        clock=ManualClock(),
        balances={"USDT": Decimal(10000)},
        fee_rate=Decimal("0.001"),
        partial_fill_ratio=0.5,
    )
    h = make_harness(config, engine=clock_engine).start()
    h.trigger_buy("BTC/USDT")
    wait_for(lambda: h.position("BTC/USDT") is not None)
    first = h.buys("BTC/USDT")[0]
    assert first.status is OrderStatus.PARTIALLY_FILLED

    h.quote("BTC/USDT", "99.80", "99.85")  # the rest of the entry crosses
    h.advance(0.25)  # pushed (or, the stream down, polled): either way the second fill arrives
    wait_for(
        lambda: (
            h.buys("BTC/USDT")[0].status is OrderStatus.FILLED
            and h.held("BTC/USDT").qty == h.buys("BTC/USDT")[0].filled_qty - h.buys("BTC/USDT")[0].fee
        )
    )

    buy = h.buys("BTC/USDT")[0]
    assert buy.status is OrderStatus.FILLED
    assert {o.qty for o in h.open_sells("BTC/USDT")} == {quantize_down(buy.filled_qty - buy.fee, LOT)}


def test_outcome_unknown_after_placement_leaves_exactly_one_order(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    h.exchange.lose_response("submit_order")

    h.buy_protected("BTC/USDT")
    assert len(h.buys("BTC/USDT")) == 1
    assert h.metrics.get("outcome_unknown_resolved") == 1


def test_outcome_unknown_before_placement_is_never_resent(make_harness: Callable[..., Harness]) -> None:
    from autohedge.core.errors import OutcomeUnknown

    h = make_harness().start()
    h.exchange.fail("submit_order", lambda: OutcomeUnknown("request lost"))

    h.trigger_buy("BTC/USDT")
    h.advance(1.0)

    assert h.buys("BTC/USDT") == []
    assert h.exchange.calls.count("submit_order") == 1
    assert h.metrics.get("outcome_unknown_resolved") == 1


def test_rate_limit_second_signal_within_interval_places_no_order(harness: Harness) -> None:
    harness.trigger_buy("BTC/USDT")
    harness.quote("BTC/USDT", "99.80", "99.82")  # another dip 100 ms later: still inside 250 ms
    harness.settle()
    assert len(harness.buys("BTC/USDT")) == 1

    harness.clock.advance(0.25)
    harness.quote("BTC/USDT", "99.70", "99.72")
    harness.settle()
    assert len(harness.buys("BTC/USDT")) == 2


def test_insufficient_balance_no_order_typed_refusal_logged(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(make_config(paper={"balances": {"USDT": 50}})).start()

    h.trigger_buy("BTC/USDT")

    assert h.buys("BTC/USDT") == []
    assert h.metrics.get("orders_rejected") == 1
    assert "entry_refused" in h.engine.parts.events.kinds()


FEE_0_6_PCT = Decimal("0.006")


def fee_in_quote_config(usdt: str) -> dict[str, object]:
    """A paper account of ``usdt`` whose venue charges 0.6 % in the quote currency (a venue above 0.2 %)."""
    return {"balances": {"USDT": usdt}, "fee_rate": str(FEE_0_6_PCT), "fee_in_base": False}


def test_an_entry_that_fits_the_balance_only_under_a_lower_fee_is_refused_before_the_venue(
    make_harness: Callable[..., Harness],
) -> None:
    # 100.3 USDT: an entry of ~99.92 plus 0.2 % fits, plus the venue's 0.6 % does not. Sized with a fixed
    # 0.2 % it was sent and the venue refused it for insufficient funds.
    h = make_harness(make_config(paper=fee_in_quote_config("100.3"))).start()
    assert h.paper.capabilities.max_fee_rate == FEE_0_6_PCT

    h.trigger_buy("BTC/USDT")

    assert h.exchange.calls.count("submit_order") == 0
    assert h.buys("BTC/USDT") == []
    refusals = [e for e in h.engine.parts.events.recent() if e.kind == "entry_refused"]
    assert len(refusals) == 1 and "insufficient balance" in refusals[0].text
    assert h.metrics.get("orders_rejected") == 1


def test_an_entry_near_the_whole_balance_fits_it_with_the_venue_fee(
    make_harness: Callable[..., Harness],
) -> None:
    free = Decimal("100.6")  # just enough for the entry plus its 0.6 % fee
    h = make_harness(make_config(paper=fee_in_quote_config(str(free)))).start()

    h.buy_protected("BTC/USDT")

    (buy,) = h.buys("BTC/USDT")
    assert buy.status is OrderStatus.FILLED
    assert free - buy.qty * buy.price * (1 + FEE_0_6_PCT) < Decimal("0.5")  # near the whole balance
    assert free >= buy.qty * buy.price * (1 + FEE_0_6_PCT)
    assert h.paper_engine.balances()["USDT"].total == free - buy.qty * buy.price - buy.fee >= 0


def test_no_oco_tp_rests_and_the_monitor_closes_at_the_stop(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(oco=False).start()
    h.buy_protected("BTC/USDT")
    tp = h.open_sells("BTC/USDT")
    assert len(tp) == 1 and tp[0].list_id is None
    stop = h.held("BTC/USDT").stop_loss
    assert stop is not None

    h.quote("BTC/USDT", str(stop - Decimal("0.05")), str(stop))
    h.settle()
    h.advance(1.0)  # CheckExits sees the close order filled

    wait_for(lambda: h.position("BTC/USDT") is None, what="position closed")
    assert h.paper_engine.balances().get("BTC") is None or h.paper_engine.balances()["BTC"].total < Decimal(
        "0.000001"
    )
    assert "position_closed" in h.engine.parts.events.kinds()


def test_polling_mode_guards_the_stop_from_polled_prices(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(make_config(monitor={"mode": "polling"}), oco=False).start()
    h.buy_protected("BTC/USDT")
    stop = h.held("BTC/USDT").stop_loss
    assert stop is not None

    h.quote("BTC/USDT", str(stop - Decimal("0.05")), str(stop))
    h.settle()
    assert "position_closing" not in h.engine.parts.events.kinds()  # quotes are not watched in polling mode

    h.advance(1.0)  # the poll reads best_quote and closes
    h.advance(1.0)
    wait_for(lambda: h.position("BTC/USDT") is None, what="position closed")


def test_partial_fill_re_arm_waits_for_a_tp_cancel_the_venue_has_not_confirmed(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry fills in two parts: the TP armed for the first is cancelled to grow it over the second. The
    venue takes the cancel but confirms it later (Alpaca ``pending_cancel``, Coinbase ``CANCEL_QUEUED``:
    the order still rests) and the TP sells part of it before then. Placed at once, the new TP was sized
    from a holding that already lacked that sale, whose report then came off it a second time: the re-armed
    TP left that much without an exit until the safety verification."""
    engine = PaperEngine(
        clock=ManualClock(),
        balances={"USDT": Decimal(10000)},
        fee_rate=Decimal("0.001"),
        partial_fill_ratio=0.5,
    )
    h = make_harness(make_config(rate_limit_ms=60_000), engine=engine, oco=False).start()
    h.buy_protected("BTC/USDT")
    (tp,) = h.open_sells("BTC/USDT")
    cancel = h.paper.cancel_order

    def confirmed_later(
        symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        monkeypatch.setattr(h.paper, "cancel_order", cancel)  # this cancel only
        answer = h.paper.get_order(symbol, venue_order_id=venue_order_id, client_order_id=client_order_id)
        engine.on_quote(quote("BTC/USDT", tp.price, tp.price + Decimal("0.02")))  # the TP sells part
        wait_for(lambda: h.engine.parts.ledger.position("BTC/USDT") == held(h), what="the sale in the ledger")
        engine.on_quote(quote("BTC/USDT", Decimal("99.80"), Decimal("99.85")))
        cancel(symbol, venue_order_id=venue_order_id, client_order_id=client_order_id)  # now confirmed
        return answer  # taken, not confirmed: the TP still rests

    monkeypatch.setattr(h.paper, "cancel_order", confirmed_later)

    h.quote("BTC/USDT", "99.80", "99.85")  # the rest of the entry fills: its TP is re-armed
    h.advance(0.25)
    h.advance(MIN_RETRY_S)  # an exit whose cancel is not confirmed is settled and placed again

    wait_for(lambda: h.buys("BTC/USDT")[0].status is OrderStatus.FILLED, what="the entry filled")
    (rearmed,) = h.open_sells("BTC/USDT")
    assert rearmed.filled_qty == 0 and rearmed.qty == quantize_down(held(h), LOT)
