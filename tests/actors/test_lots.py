"""Lots bought while their symbol's position is being closed, and the closes beside them: what each
close sells (heard of late, or left below the venue's step) never leaves another lot's exit short."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from autohedge.actors.monitor import PositionMonitorActor
from autohedge.core.actor_names import MONITOR
from autohedge.core.errors import RateLimited
from autohedge.core.messages import OrderUpdate, UserStreamStatus
from tests.actors.harness import Harness
from tests.actors.test_simulation_findings import (
    bought_on_the_venue,
    closing_adopted_holding,
    closing_lot,
    executor_loses_updates_of,
    held,
    lose_updates_of,
    lot_filled,
    resting_sells,
)
from tests.ids import entry_id

SYMBOL = "BTC/USDT"


def hold_close_updates(monkeypatch: pytest.MonkeyPatch) -> Callable[[Harness], None]:
    """From now on the monitor hears of no close's event until the returned function (test thread) hands
    them over, in the order the venue reported them."""
    return hold_updates(monkeypatch, lambda client_order_id: client_order_id.startswith("ah-c"))


def hold_updates(monkeypatch: pytest.MonkeyPatch, which: Callable[[str], bool]) -> Callable[[Harness], None]:
    """From now on the monitor hears of the events of the orders ``which`` picks (by client order id) only
    when the returned function (test thread) hands them over, in the order the venue reported them: they
    wait on their way while the ledger has applied them."""
    deliver = PositionMonitorActor.on_order_update
    held_back: list[OrderUpdate] = []

    def hold(self: PositionMonitorActor, update: OrderUpdate) -> None:
        if which(update.client_order_id):
            held_back.append(update)
        else:
            deliver(self, update)

    monkeypatch.setattr(PositionMonitorActor, "on_order_update", hold)

    def hand_over(h: Harness) -> None:
        monkeypatch.setattr(PositionMonitorActor, "on_order_update", deliver)
        for update in held_back:
            h.directory.tell(MONITOR, update)
        h.settle()

    return hand_over


def test_verification_beside_a_lots_close_sale_heard_of_late_sizes_the_position_exit_whole(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The venue's holding (read by the verification) already lacks what a lot's resting close sold; that
    # close's event came after the read. Counted as the lot's still, it was taken off the position a
    # second time, and the position's exit stayed short by it until the next verification.
    h = closing_adopted_holding(make_harness)  # the position's close rests 0.5 at 99.49
    lot_filled(h, 10**9, "0.2", "99.50")  # a lot: the position is closing
    h.advance(0.5)
    h.quote(SYMBOL, "98.00", "98.02")  # through the lot's stop: its close sells 0.1, 0.1 rests at 97.51
    lot_filled(h, 10**9 + 1, "0.3", "98.01")  # the next lot, with its own exit
    h.advance(0.5)
    for _ in range(2):  # the position's close (rested 1 s) is re-priced and sells out; the lot's rests
        h.quote(SYMBOL, "97.30", "97.32")
    h.settle()  # the close's end reaches the monitor
    assert "lot_promoted" in h.engine.parts.events.kinds()  # the next lot is the position now
    h.advance(0.5)
    hand_over = hold_close_updates(monkeypatch)
    h.quote(SYMBOL, "97.30", "97.32")  # the lot's close is re-priced: the new one sells 0.05 on arrival
    assert held(h) == Decimal("0.35")

    h.directory.tell(MONITOR, UserStreamStatus(venue="paper", connected=True))  # verified by REST
    h.settle()
    hand_over(h)  # the close's sale is heard of after the verification

    assert resting_sells(h) == held(h)  # the position's 0.3 and the lot's 0.05 both offered


def test_lot_filled_before_a_closing_lots_sale_is_heard_of_is_covered_whole(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The venue's record already lacks what a lot's close sold on arrival when the next lot's fill comes,
    # and the close's event after it: the next lot's exit is sized from that record less what the closing
    # lot holds as read then, never as its late event would say.
    h = closing_adopted_holding(make_harness)
    lot_filled(h, 10**9, "0.2", "99.50")
    hand_over = hold_close_updates(monkeypatch)
    h.quote(SYMBOL, "98.00", "98.02")  # through the lot's stop: its close sells 0.1 on arrival, unheard

    lot_filled(h, 10**9 + 1, "0.3", "98.01")
    hand_over(h)

    new_exits = [o for o in h.open_sells(SYMBOL) if not o.client_order_id.startswith("ah-c")]
    assert [o.qty for o in new_exits] == [Decimal("0.3")]
    assert resting_sells(h) == held(h)


def closes(h: Harness) -> list[Decimal]:
    """The quantities of the resting closes."""
    return sorted(o.qty for o in h.open_sells(SYMBOL) if o.client_order_id.startswith("ah-c"))


def exits(h: Harness) -> list[Decimal]:
    """The quantities of the resting exits (sells that are no close)."""
    return [o.qty for o in h.open_sells(SYMBOL) if not o.client_order_id.startswith("ah-c")]


def closing_lots_close_waiting(make_harness: Callable[..., Harness]) -> Harness:
    """``closing_lot`` with the next lot of 0.3 bought at 98.01 (its exit resting, its stop at 97.02); both
    closes are re-priced at the bid 97.30: the position's new close sells half and rests at 96.81, the
    closing lot's new close is refused (429 for 2 s) and waits for the venue."""
    h = closing_lot(make_harness)
    lot_filled(h, 10**9 + 1, "0.3", "98.01")
    h.advance(1.0)  # both resting closes may be re-priced now

    def refuse_the_next_close() -> None:
        h.exchange.fail(
            "submit_order", lambda: RateLimited("429", venue="paper", code=429, retry_after_s=2.0)
        )

    h.exchange.hold("submit_order", refuse_the_next_close)  # the position's new close goes, the lot's not
    h.quote(SYMBOL, "97.30", "97.32")
    h.settle()
    assert closes(h) == [Decimal("0.5")] and exits(h) == [Decimal("0.3")]
    return h


def test_lots_stop_is_guarded_while_a_closing_lots_close_waits_for_the_venue(
    make_harness: Callable[..., Harness],
) -> None:
    # The closing lot's waiting close was kept under the key the symbol's lot has too: the lot's stop
    # guard took it for the lot's own close waiting, and sold nothing until the venue allowed again.
    h = closing_lots_close_waiting(make_harness)

    h.quote(SYMBOL, "96.50", "96.52")  # through the lot's stop, above the position's resting close

    assert exits(h) == []  # the lot's exit gave way to its close
    assert closes(h) == [Decimal("0.3"), Decimal("0.5")]


def test_lot_grown_while_a_closing_lots_close_waits_is_rearmed_and_never_closed(
    make_harness: Callable[..., Harness],
) -> None:
    # Under the shared key the lot's re-arm was skipped (its close seemed to wait), and the venue's
    # allowing again closed the lot, its stop never reached, beside the closing lot's close.
    h = closing_lots_close_waiting(make_harness)

    lot_filled(h, 10**9 + 2, "0.1", "97.40")
    assert exits(h) == [Decimal("0.4")]  # re-armed at once for the whole lot
    h.advance(2.0)  # the venue allows again: the closing lot's close goes

    assert exits(h) == [Decimal("0.4")]
    assert closes(h) == [Decimal("0.1"), Decimal("0.5")]


def test_dust_beside_closes_is_protected_with_the_part_below_the_step_a_lots_close_leaves(
    make_harness: Callable[..., Harness],
) -> None:
    # Simulation, config.yaml seed 303: a lot's dust was kept beside resting closes and judged alone; with
    # the parts below the lot step those closes leave (they sell whole steps) it was a sellable order.
    h = closing_adopted_holding(make_harness)  # the position's close rests 0.5 at 99.49
    lot_filled(h, 10**9, "0.2000004", "99.50")  # 0.0000004 below the step of 0.000001
    h.quote(SYMBOL, "98.00", "98.02")  # through the lot's stop: its close offers 0.2 at 97.51, sells half
    h.quote(SYMBOL, "97.40", "97.42")  # below both closes: they rest
    # A lot of 0.0104249: 0.010424 sellable, worth 0.99997 USDT at the stop-limit of 95.93 an exit asks,
    # below the venue's minimum of 1 USDT: dropped as dust, kept beside the closes and judged at once
    # with the lot's 0.0000004: 0.010425, worth 1.00007 USDT.
    lot_filled(h, 10**9 + 1, "0.0104249", "97.40")

    assert exits(h) == [Decimal("0.010425")]
    h.quote(SYMBOL, "97.60", "97.62")  # the closing lot's close sells its rest
    h.settle()
    assert closes(h) == [Decimal(1)] and exits(h) == [Decimal("0.010425")]
    assert held(h) - resting_sells(h) < Decimal("0.000001")  # less than a step left over


def test_simulation_found_remainders_of_lots_closes_unjoined_while_the_symbols_lot_was_being_closed(
    make_harness: Callable[..., Harness],
) -> None:
    # Simulation, bench/simulate.yaml seed 1 at 1998.5 s: two closing lots' re-priced closes each ended
    # with a rest worth less than a minimum order, kept beside the position's close; the symbol's lot was
    # being closed too, and the dust was judged only once no lot was left: 0.01 SOL, worth a minimum order
    # together, had no exit until the next fill.
    h = closing_adopted_holding(make_harness)  # the position's close rests 0.5 at 99.49
    lot_filled(h, 10**9, "0.02", "99.50")
    h.quote(SYMBOL, "98.00", "98.02")  # through the lot's stop: its close offers 0.02 at 97.51, sells half
    lot_filled(h, 10**9 + 1, "0.02", "98.01")  # the next lot: the first is kept until its close ends
    h.quote(SYMBOL, "96.90", "96.92")  # through its stop: its close offers 0.02 at 96.41, sells half
    lot_filled(h, 10**9 + 2, "0.2", "96.90")  # the symbol's lot now
    h.quote(SYMBOL, "95.80", "95.82")  # through its stop: its close offers 0.2 at 95.32, sells half
    h.settle()
    unsold = sorted(o.remaining_qty for o in h.open_sells(SYMBOL) if o.client_order_id.startswith("ah-c"))
    assert unsold == [Decimal("0.01"), Decimal("0.01"), Decimal("0.1"), Decimal("0.5")] and exits(h) == []
    h.advance(1.0)  # every resting close may be re-priced now

    # Below every close: the two small lots' rests of 0.01 are worth less than a minimum order at 94.52
    # (each ends with it left as dust), the symbol's lot's 0.1 and the position's 0.5 are sold again.
    h.quote(SYMBOL, "95.00", "95.02")
    h.settle()

    assert exits(h) == [Decimal("0.02")]  # both rests, joined: worth 1.87 USDT at the stop-limit of 93.58
    assert held(h) - resting_sells(h) < Decimal("0.000001")


def test_position_sold_out_beside_a_closing_lots_sale_the_ledger_has_leaves_its_remainder_to_the_lot(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The position's close sells what the position tracked while the ledger holds more (a fill it heard of
    # first, its report still on its way): the symbol's lot takes that remainder. A closing lot's close
    # sold out at the same quote and the ledger applied it, its event still on its way to the monitor:
    # counted as that lot's still, its quantity came off the remainder a second time, and the lot's exit
    # left 0.1 uncovered until the next verification.
    h = closing_lot(make_harness)  # the position's close rests 0.5 at 99.49, the lot's 0.1 at 97.51
    lot_close = next(o.client_order_id for o in h.open_sells(SYMBOL) if o.qty == Decimal("0.2"))
    lot_filled(h, 10**9 + 1, "0.3", "98.80")  # the next lot (exit at 99.79); the first keeps closing
    ledger = h.engine.parts.ledger
    # The stream's re-base brings the ledger the lots' fills (told to the monitor alone by the test).
    ledger.rebase(h.paper.balances(), (), as_of_ns=h.clock.wall_ns())
    h.clock.advance(0.01)
    executor_loses_updates_of(monkeypatch, entry_id(10**9 + 2))
    bought_on_the_venue(h, 10**9 + 2, "0.4", "98.02")  # 0.1998 in the ledger, its report on its way
    h.settle()
    hand_over = hold_updates(monkeypatch, lambda client_order_id: client_order_id == lot_close)

    h.quote(SYMBOL, "99.50", "99.52")  # the position's close and the closing lot's both sell out
    h.settle()

    assert held(h) == Decimal("0.4998")  # the next lot and the fill the ledger heard of first
    assert resting_sells(h) == held(h)
    hand_over(h)
    assert resting_sells(h) == held(h)


def test_lots_own_close_ended_unseen_is_read_by_the_verification(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The symbol's lot is being closed (never moved to the closing lots: no fill came after its close); the
    # venue ends that close part sold while its end event is lost. The verification skipped a lot with a
    # close, so what the close left had no sell until the symbol's next fill or close.
    h = closing_lot(make_harness)  # the position's close rests 0.5 at 99.49, the lot's 0.1 at 97.51
    lot_close = next(o.client_order_id for o in h.open_sells(SYMBOL) if o.qty == Decimal("0.2"))
    deliver = lose_updates_of(monkeypatch, lot_close)
    h.paper_engine.cancel_order(SYMBOL, client_order_id=lot_close)  # the venue ends it: 0.1 is free
    h.settle()
    assert resting_sells(h) == Decimal("0.5") < held(h)
    monkeypatch.setattr(PositionMonitorActor, "on_order_update", deliver)

    # The stream reconnects (no venue replays what it missed): the monitor verifies by REST.
    h.directory.tell(MONITOR, UserStreamStatus(venue="paper", connected=True))
    h.settle()

    # The lot's 0.1 is sold again at once (the bid is below its stop): its new close sells half on arrival.
    assert closes(h) == [Decimal("0.1"), Decimal(1)]
    assert resting_sells(h) == held(h) == Decimal("0.55")


def test_lots_resting_exit_part_sold_unseen_is_taken_in_before_the_position_is_verified(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lot's exit leg sells part of the lot while the user stream is down (its event lost) and rests with
    # the rest. The verification took what was held less the lot's whole quantity as the position's: the
    # position's exit was re-armed short by what the leg sold, for as long as the lot looked that large.
    h = closing_adopted_holding(make_harness)  # the position's close rests 0.5 at 99.49
    lot_filled(h, 10**9, "0.2", "99.50")  # a lot with its own exit (take-profit at 100.50)
    [position_close] = [
        o.client_order_id for o in h.open_sells(SYMBOL) if o.client_order_id.startswith("ah-c")
    ]
    h.paper_engine.cancel_order(SYMBOL, client_order_id=position_close)  # the venue ends it: re-armed
    h.settle()
    assert sorted(exits(h)) == [Decimal("0.2"), Decimal("0.5")]  # the lot's exit and the position's
    [lot_exit] = [o.client_order_id for o in h.open_sells(SYMBOL) if o.qty == Decimal("0.2")]
    deliver = lose_updates_of(monkeypatch, lot_exit)
    h.directory.tell(MONITOR, UserStreamStatus(venue="paper", connected=False))
    h.quote(SYMBOL, "100.50", "100.52")  # the lot's take-profit sells half, unheard
    h.settle()
    assert held(h) == Decimal("0.6")
    monkeypatch.setattr(PositionMonitorActor, "on_order_update", deliver)

    # The stream reconnects: the monitor verifies by REST.
    h.directory.tell(MONITOR, UserStreamStatus(venue="paper", connected=True))
    h.settle()

    assert resting_sells(h) == held(h)


def test_entry_fill_in_the_instant_a_close_sold_out_beside_a_remainder_is_not_taken_for_that_remainder(
    make_harness: Callable[..., Harness],
) -> None:
    # Simulation (partial fills, unknown outcomes, OCO off), seed 1 at 4676 s: a stop close sold out and
    # the ledger held 0.000018454 BTC beyond it (dust of earlier lots and positions), taken in as a credit
    # for a fill report on its way. An entry placed after that, filled in the same instant, was taken for
    # that report: its exit covered the fill alone and the remainder, worth a minimum order, stayed
    # uncovered for 14 s.
    h = closing_adopted_holding(make_harness)  # the position's close rests 0.5 at 99.49
    # Held beyond the position: the ledger has it, the monitor not.
    h.paper_engine.fund("BTC", Decimal("0.02"))
    ledger = h.engine.parts.ledger
    ledger.rebase(h.paper.balances(), (), as_of_ns=h.clock.wall_ns())
    h.clock.advance(0.01)
    for _ in range(2):  # the close sells out; the remainder gets an exit of its own
        h.quote(SYMBOL, "99.50", "99.52")
    h.settle()
    assert exits(h) == [Decimal("0.02")]

    bought_on_the_venue(h, 10**9, "0.4", "99.52")  # 0.2 trades at once, in the same instant
    h.settle()

    assert held(h) == Decimal("0.2198")  # the fill less its fee in the base asset
    assert resting_sells(h) == held(h)
