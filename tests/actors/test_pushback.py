"""Venue pushback is the venue's state, never a crash (ManualClock, paper exchange, no sleeps).

Rate limits and bans during entry submission, reconciliation and exit placement; a stop crossed during a
ban; an exit whose cancel went through but whose answer was refused; orphan attempts during a refusal;
the paper fault ``rate_limit_every_n``; a fill arriving while a close of the same symbol is in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.actor_names import EXECUTOR, MONITOR
from autohedge.core.child_states import ChildState
from autohedge.core.client_ids import ClientId
from autohedge.core.clock import ManualClock
from autohedge.core.config import PaperFaults
from autohedge.core.errors import MalformedMessage, OutcomeUnknown, RateLimited, UnknownOrder
from autohedge.core.messages import ClosePosition, OrderFilled
from autohedge.core.pushback import ENTRY_SIDE_GRACE_S, MIN_RETRY_S
from autohedge.core.types import OrderPurpose, OrderStatus, Side, quantize_down
from tests.actors.harness import Harness, make_config, wait_for
from tests.ids import PREFIX, entry_id

SYMBOL = "BTC/USDT"


def config(**overrides: object):  # type: ignore[no-untyped-def]
    """No market data arrives while the test clock jumps over a ban: keep the feed watchdog out of it."""
    return make_config(feed={"stale_after_s": 1000}, **overrides)


def no_restarts(h: Harness) -> bool:
    view = h.engine.view()
    return not view.kill_switch and not view.parked_symbols and all(c.restarts == 0 for c in view.children)


def banned_by_venue(h: Harness, seconds: float) -> Callable[[], BaseException]:
    """An error factory: the venue answers this call with a 418 ban of ``seconds`` (state + error)."""

    def answer() -> BaseException:
        h.paper.request_budget.rate_limited(seconds, banned=True)
        return RateLimited("paper 418: banned", venue="paper", retry_after_s=seconds, banned=True)

    return answer


def sell_qty(h: Harness) -> Decimal:
    return sum((o.qty - o.filled_qty for o in h.open_sells(SYMBOL)), Decimal(0))


def held(h: Harness) -> Decimal:
    return sum((p.qty for p in h.paper_engine.positions([SYMBOL])), Decimal(0))


def test_entry_waits_while_the_venue_pauses_and_goes_when_allowed(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config()).start()
    h.paper.request_budget.rate_limited(3.0)

    h.trigger_buy(SYMBOL)

    assert h.buys(SYMBOL) == [] and h.executor_snapshot().waiting == (SYMBOL,)
    h.advance(3.0)
    assert h.buys(SYMBOL) == []  # the exits waiting too go first
    h.advance(ENTRY_SIDE_GRACE_S)
    wait_for(lambda: len(h.buys(SYMBOL)) == 1, what="the waiting entry placed")
    assert no_restarts(h)


def test_entry_waiting_longer_than_its_signal_age_is_dropped(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(config(executor={"max_signal_age_s": 2})).start()
    h.paper.request_budget.rate_limited(10.0)

    h.trigger_buy(SYMBOL)
    h.advance(10.0 + ENTRY_SIDE_GRACE_S)

    assert h.buys(SYMBOL) == []
    assert any(e.kind == "entry_dropped_stale" for e in h.engine.parts.events.recent())
    assert no_restarts(h)


def test_executor_start_refused_by_the_venue_is_no_crash_and_rereads_later(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config())
    h.exchange.fail("open_orders", banned_by_venue(h, 4.0), thread_prefix="ExecutorActor")

    h.start(reconciled=False)  # the ban holds the monitor's reconciliation back too
    h.settle()
    h.advance(4.0 + ENTRY_SIDE_GRACE_S)

    wait_for(lambda: h.exchange.calls.count("open_orders") >= 3, what="open entries re-read")
    wait_for(lambda: h.engine.view().reconciled, what="reconciled after the ban")
    assert h.child(EXECUTOR).state is ChildState.RUNNING and no_restarts(h)


def test_reconcile_refused_is_retried_when_the_venue_allows(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(config())
    h.paper_engine.fund("BTC", Decimal("0.5"))
    h.exchange.fail("positions", banned_by_venue(h, 5.0), thread_prefix="PositionMonitor")

    h.start(reconciled=False)
    h.settle()
    assert not h.engine.view().reconciled and h.child(MONITOR).state is ChildState.RUNNING

    h.advance(5.0)

    wait_for(lambda: h.engine.view().reconciled, what="reconciled after the ban")
    h.quote(SYMBOL, "99.99", "100.01")  # an adopted holding has no entry price: the exit is priced on a quote
    wait_for(lambda: sell_qty(h) > 0, what="adopted position protected")
    assert no_restarts(h)


def test_ban_during_exit_placement_protects_the_position_as_soon_as_it_ends(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config()).start()
    h.exchange.fail("submit_oco", banned_by_venue(h, 20.0), thread_prefix="PositionMonitor")

    h.trigger_buy(SYMBOL)

    position = h.position(SYMBOL)
    assert position is not None and not position.protected and position.waiting_for_venue
    assert h.engine.health()[0] == "degraded"
    h.advance(19.9)
    assert h.open_sells(SYMBOL) == [] and h.held(SYMBOL).repair_attempts == 0
    h.advance(0.1)

    wait_for(lambda: h.is_protected(SYMBOL), what="protected")
    assert sell_qty(h) / 2 <= held(h)  # an OCO: two legs over the same quantity
    assert no_restarts(h)


def test_stop_crossed_during_a_ban_sells_first_when_the_ban_ends(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config(), oco=False).start()
    h.buy_protected(SYMBOL)
    h.paper.request_budget.rate_limited(20.0, banned=True)

    h.quote(SYMBOL, "97.00", "97.02")  # through the 1 % stop
    h.advance(10.0)
    assert h.held(SYMBOL).waiting_for_venue
    assert [o for o in h.paper_engine.all_orders() if is_close(o.client_order_id)] == []
    h.advance(10.0)

    wait_for(
        lambda: any(is_close(o.client_order_id) for o in h.paper_engine.all_orders()),
        what="the close sent when the ban ended",
    )
    assert no_restarts(h)


def test_exit_cancel_done_but_its_answer_refused_is_reread_never_assumed(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config(), oco=False).start()
    h.buy_protected(SYMBOL)
    old_tp = h.open_sells(SYMBOL)[0]
    h.paper_engine.fund("BTC", Decimal("0.1"))  # the holding grows outside our exits: re-arm
    h.exchange.fail(
        "cancel_order",
        lambda: RateLimited("read after cancel refused", venue="paper", retry_after_s=2.0),
        thread_prefix="PositionMonitor",
        after_call=True,
    )

    # The safety-net check sees the size mismatch; the cancel goes through, its answer does not.
    h.advance(h.config.user_stream.safety_poll_interval_s)

    assert (
        h.paper_engine.get_order(SYMBOL, client_order_id=old_tp.client_order_id).status
        is OrderStatus.CANCELED
    )
    assert not h.held(SYMBOL).protected
    h.advance(2.0)

    wait_for(lambda: sell_qty(h) > old_tp.qty, what="exit re-armed for what is held")
    assert len(h.open_sells(SYMBOL)) == 1 and held(h) - Decimal("0.000001") < sell_qty(h) <= held(h)
    assert h.held(SYMBOL).protected
    assert no_restarts(h)


def test_orphan_attempts_are_not_spent_while_the_venue_refuses(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(config()).start()
    h.buy_protected(SYMBOL)
    leg = h.open_sells(SYMBOL)[0]
    h.paper_engine.cancel_order(SYMBOL, venue_order_id=leg.venue_order_id)  # the OCO vanished
    h.exchange.fail("submit_oco", banned_by_venue(h, 100.0), thread_prefix="PositionMonitor")

    h.advance(1.0)  # the exit check finds the orphan; the repair is refused with a 100 s ban
    for _ in range(3):
        h.advance(30.0)
    assert h.held(SYMBOL).repair_attempts == 0 and not h.held(SYMBOL).unprotected
    h.advance(10.0)

    wait_for(lambda: h.held(SYMBOL).protected, what="orphan repaired after the ban")
    assert no_restarts(h)


def test_paper_rate_limit_every_seventh_call_restarts_nothing(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(config()).start()
    h.paper.set_faults(PaperFaults(rate_limit_every_n=7))

    for mid in ("100", "101", "102"):
        for symbol in ("BTC/USDT", "ETH/USDT"):
            h.trigger_buy(symbol, mid)
            h.advance(1.0)
    h.advance(5.0)

    assert no_restarts(h)
    assert h.buys("BTC/USDT") or h.buys("ETH/USDT")  # entries went out between the refusals
    held_symbols = {
        p.symbol for p in h.paper_engine.positions(["BTC/USDT", "ETH/USDT"]) if p.qty >= Decimal("0.000001")
    }  # dust below the lot step cannot be sold
    wait_for(
        lambda: held_symbols <= {p.symbol for p in h.positions() if p.protected},
        what="every held position protected",
    )


NEW_ENTRY_ID = entry_id(10**9)
"""An entry this process placed (a key no test run reaches) whose fill arrives during a close."""


def is_close(client_order_id: str) -> bool:
    ours = ClientId.ours(client_order_id, PREFIX)
    return ours is not None and ours.purpose is OrderPurpose.CLOSE


def fill(symbol: str, coid: str, qty: str, price: str, ts_ns: int) -> OrderFilled:
    return OrderFilled(
        symbol=symbol,
        client_order_id=coid,
        venue_order_id="X1",
        side=Side.BUY,
        purpose=OrderPurpose.ENTRY,
        fill_qty=Decimal(qty),
        fill_price=Decimal(price),
        cum_filled_qty=Decimal(qty),
        order_qty=Decimal(qty),
        ts_event=ts_ns,
        ts_init=ts_ns,
    )


def close_position(h: Harness) -> None:
    """Ask the monitor to close the position (as the API's close does)."""
    h.engine.parts.directory.tell(MONITOR, ClosePosition(symbol=SYMBOL, reason="test close"))


def close_confirmed(h: Harness) -> None:
    """Close the position and let the exit check confirm it gone."""
    close_position(h)
    h.advance(1.0)
    wait_for(lambda: h.position(SYMBOL) is None, what="close confirmed")


def new_entry_filled(h: Harness, client_order_id: str, qty: Decimal) -> None:
    """A new entry bought ``qty`` at 99.50: the account holds it and the monitor hears of the fill."""
    h.paper_engine.fund("BTC", qty)
    h.engine.parts.directory.tell(
        MONITOR, fill(SYMBOL, client_order_id, str(qty), "99.50", h.clock.wall_ns())
    )
    h.settle()


def test_fill_during_a_close_is_protected_on_its_own_and_survives_the_close(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config()).start()
    h.buy_protected(SYMBOL)
    close_position(h)
    h.settle()
    closes = [o for o in h.paper_engine.all_orders() if is_close(o.client_order_id)]
    assert len(closes) == 1

    new_entry_filled(h, NEW_ENTRY_ID, Decimal("0.2"))

    lot_exits = h.open_sells(SYMBOL)  # protected at once: no clock advance
    assert {o.qty for o in lot_exits} == {Decimal("0.2")}
    assert {o.price for o in lot_exits if o.stop_price is None} == {
        Decimal("100.50")
    }  # 1 % over its own fill
    h.advance(1.0)  # the exit check confirms the close

    # The lot becomes the position, with the dust the close left (sold with its next exit).
    wait_for(
        lambda: h.position(SYMBOL) is not None and Decimal("0.2") <= h.held(SYMBOL).qty < Decimal("0.200001"),
        what="lot kept",
    )
    position = h.position(SYMBOL)
    assert position is not None and position.protected and not position.lot
    assert sell_qty(h) / 2 == Decimal("0.2") and held(h) - Decimal("0.2") < Decimal("0.000001")  # + dust
    assert no_restarts(h)


def test_fill_after_the_close_is_confirmed_becomes_a_new_protected_position(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config()).start()
    h.buy_protected(SYMBOL)
    close_confirmed(h)

    new_entry_filled(h, NEW_ENTRY_ID, Decimal("0.2"))

    position = h.position(SYMBOL)
    # The dust the close left is carried into the new position, never lost nor sold twice.
    assert (
        position is not None and position.protected and Decimal("0.2") <= position.qty < Decimal("0.200001")
    )
    assert sell_qty(h) / 2 <= held(h)


def test_keys_revoked_during_a_run_stop_entries_loudly_and_keep_guarding(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config(), oco=False).start()
    h.buy_protected(SYMBOL)
    buys_before = len(h.buys(SYMBOL))
    h.paper.request_budget.auth_failed("paper 401: keys revoked")  # what the transport records on a 401

    h.trigger_buy("ETH/USDT")
    h.advance(5.0)

    assert h.buys("ETH/USDT") == [] and len(h.buys(SYMBOL)) == buys_before
    errors = [e for e in h.engine.parts.events.recent() if e.level == "ERROR"]
    assert [e.kind for e in errors] == ["entries_stopped_auth"]
    status, reasons = h.engine.health()
    assert status == "degraded" and any("auth failed" in r for r in reasons)
    h.quote(SYMBOL, "97.00", "97.02")  # the guarded stop still acts on quotes
    wait_for(lambda: any(o.client_order_id.startswith("ah-c") for o in h.paper_engine.all_orders()))
    assert no_restarts(h)


def test_dust_a_close_leaves_is_sold_with_the_next_fills_exit_once_sellable(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config()).start()
    h.buy_protected(SYMBOL)
    close_confirmed(h)
    dust = held(h)
    assert Decimal(0) < dust < Decimal("0.000001")  # the base-asset fee left less than a lot step

    # With the dust, this fill makes one more lot step sellable than the fill alone.
    bought = Decimal("0.200001") - dust
    new_entry_filled(h, "ah-e-new", bought)

    assert {o.qty for o in h.open_sells(SYMBOL)} == {Decimal("0.200001")} == {held(h)}
    assert h.held(SYMBOL).qty == Decimal("0.200001")


def test_orphan_repair_of_unknown_outcome_whose_lookup_is_refused_is_placed_again_when_allowed(
    make_harness: Callable[..., Harness],
) -> None:
    """Repairing an orphan, the exit's answer is lost (it never reached the venue) and the lookup of its id
    is refused (a ban): as soon as the venue allows, the uncertain exit is settled and placed again, not
    left until the safety-net verification a minute later."""
    h = make_harness(config()).start()
    h.buy_protected(SYMBOL)
    leg = h.open_sells(SYMBOL)[0]

    def lost() -> BaseException:  # not placed; the lookup of its id that follows is refused (a ban)
        h.exchange.fail("get_order", banned_by_venue(h, 5.0), thread_prefix="PositionMonitor")
        return OutcomeUnknown("response lost", venue="paper")

    h.exchange.fail("submit_oco", lost, thread_prefix="PositionMonitor")

    h.paper_engine.cancel_order(SYMBOL, venue_order_id=leg.venue_order_id)  # the OCO vanished
    h.advance(1.0)  # the orphan's repair: its exit's outcome unknown, the lookup refused (5 s ban)
    assert h.open_sells(SYMBOL) == []
    h.advance(5.0 + 1.0)

    wait_for(lambda: sell_qty(h) > 0, what="the orphan's exit placed again after the ban")
    assert sell_qty(h) / 2 <= held(h)
    assert no_restarts(h)


def test_an_exit_whose_answer_cannot_be_read_is_looked_up_not_a_crash(
    make_harness: Callable[..., Harness],
) -> None:
    """The venue placed the OCO; its answer does not parse. The order may exist: asked for by its id (and
    found), never a monitor crash, nor a second exit beside it."""
    h = make_harness(config()).start()
    h.exchange.fail(
        "submit_oco",
        lambda: MalformedMessage("binance orderList answer: orderReports missing"),
        after_call=True,
        thread_prefix="PositionMonitor",
    )

    h.buy_protected(SYMBOL)

    assert len(h.open_sells(SYMBOL)) == 2  # one OCO: its two legs
    assert no_restarts(h)


def holding_half_an_entry(make_harness: Callable[..., Harness]) -> Harness:
    """An entry filled in part and its exit armed for that part; its rest fills at the next dip
    (``rest_of_the_entry_fills``)."""
    engine = PaperEngine(
        clock=ManualClock(),
        balances={"USDT": Decimal(10000)},
        fee_rate=Decimal("0.001"),
        partial_fill_ratio=0.5,
    )
    h = make_harness(config(rate_limit_ms=60_000), engine=engine).start()
    h.buy_protected(SYMBOL)
    assert h.buys(SYMBOL)[0].status is OrderStatus.PARTIALLY_FILLED
    return h


def rest_of_the_entry_fills(h: Harness) -> None:
    """The rest of the entry fills: the exit is re-armed over the whole holding (cancelled, placed anew);
    work that waits for the venue is retried."""
    h.quote(SYMBOL, "99.80", "99.85")
    h.advance(0.25)
    h.advance(MIN_RETRY_S)


def rearmed_over_the_whole_holding(h: Harness) -> bool:
    """One OCO (two legs) rests for everything sellable that is held, never more."""
    sells = h.open_sells(SYMBOL)
    whole = quantize_down(held(h), Decimal("0.000001"))
    return (
        h.buys(SYMBOL)[0].status is OrderStatus.FILLED
        and len(sells) == 2
        and all(o.qty == whole for o in sells)
    )


def assert_re_armed_past_one_unreadable_answer(h: Harness) -> None:
    """The exit ends re-armed over the whole holding, the venue's one unreadable answer counted as
    malformed, and the monitor never restarted."""
    wait_for(lambda: rearmed_over_the_whole_holding(h), what="the exit re-armed")
    assert h.metrics.get("malformed_messages") == 1
    assert no_restarts(h)


def test_exit_cancel_answer_unreadable_during_a_partial_fill_re_arm_is_re_read_not_a_crash(
    make_harness: Callable[..., Harness],
) -> None:
    """An entry fills in two parts: the OCO armed for the first is cancelled to grow it over the second,
    and the venue's answer to that cancel does not parse (it did cancel the list). Whether the exit still
    rests is unknown: re-read and replaced for the whole holding, never a monitor crash."""
    h = holding_half_an_entry(make_harness)
    h.exchange.fail(
        "cancel_order",
        lambda: MalformedMessage("binance cancelled order list without order reports"),
        after_call=True,
        thread_prefix="PositionMonitor",
    )

    rest_of_the_entry_fills(h)

    assert_re_armed_past_one_unreadable_answer(h)


def test_ended_exit_leg_read_unreadable_during_a_partial_fill_re_arm_is_read_again_not_a_crash(
    make_harness: Callable[..., Harness],
) -> None:
    """The re-arm's cancel is answered "unknown order" (a leg that has just filled), and the venue's answer
    to the read of what that leg sold does not parse: what it sold is unknown, so it is read again when the
    venue allows before anything is placed beside it, never a monitor crash."""
    h = holding_half_an_entry(make_harness)
    h.exchange.fail(
        "cancel_order",
        lambda: UnknownOrder("binance 400 -2011: Unknown order sent.", venue="paper"),
        thread_prefix="PositionMonitor",
    )
    h.exchange.fail(
        "get_order",
        lambda: MalformedMessage("binance order answer: executedQty missing"),
        thread_prefix="PositionMonitor",
    )

    rest_of_the_entry_fills(h)

    assert_re_armed_past_one_unreadable_answer(h)


def test_re_armed_exit_lookup_unreadable_after_its_answer_was_lost_is_not_a_crash_nor_a_second_exit(
    make_harness: Callable[..., Harness],
) -> None:
    """The re-armed OCO's answer is lost (the venue placed it) and the answer to the lookup of its id does
    not parse: whether it rests is unknown, so it is cancelled and placed again when the venue allows,
    never a monitor crash, nor a second exit beside it."""
    h = holding_half_an_entry(make_harness)
    h.exchange.fail(
        "submit_oco",
        lambda: OutcomeUnknown("response lost", venue="paper"),
        after_call=True,
        thread_prefix="PositionMonitor",
    )
    h.exchange.fail(
        "get_order",
        lambda: MalformedMessage("binance order answer: status missing"),
        thread_prefix="PositionMonitor",
    )

    rest_of_the_entry_fills(h)

    assert_re_armed_past_one_unreadable_answer(h)


def test_an_exit_placed_after_the_lookup_said_unknown_is_taken_as_placed_not_refused(
    make_harness: Callable[..., Harness],
) -> None:
    """The exit's answer is lost; the lookup comes before the venue has it (unknown); the same ids sent
    again are refused as a duplicate: the order exists. Taken as a refusal, the exit was placed anew
    beside it, refused for the balance it locks, and the position ended "unprotected"."""
    h = make_harness(config()).start()
    h.exchange.lose_response("submit_oco")
    h.exchange.fail(
        "get_order",
        lambda: UnknownOrder("binance 400 -2013: Order does not exist.", venue="paper"),
        thread_prefix="PositionMonitor",
    )

    h.buy_protected(SYMBOL)

    assert len(h.open_sells(SYMBOL)) == 2  # the one OCO: its two legs
    assert h.metrics.get("positions_unprotected") == 0 and no_restarts(h)
