"""The ledger's per-order fill records: an open order's is kept as long as it is open, an ended one's only
for a recent window, so memory does not grow with the number of orders ever traded. Pure, no threads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from autohedge.core.clock import ManualClock
from autohedge.core.dedupe import FILL_MEMORY_KEEP_S
from autohedge.core.ledger import ENDED_FILLS_KEPT, AccountLedger
from autohedge.core.messages import Balance, OrderEventKind, OrderUpdate
from autohedge.core.types import OrderPurpose, Side
from tests.ids import entry_id, our_id
from tests.unit.core.test_ledger_dedupe import update

D = Decimal
SELL = our_id(OrderPurpose.TAKE_PROFIT, 1)


def ledger_on(clock: ManualClock) -> AccountLedger:
    ledger = AccountLedger(now_ns=clock.monotonic_ns)
    ledger.rebase(
        {"USDT": Balance(asset="USDT", free=D(100_000)), "BTC": Balance(asset="BTC", free=D(10))},
        (),
        as_of_ns=5,
        order_fills={},
    )
    return ledger


def sell_event(kind: OrderEventKind, **fields: Any) -> OrderUpdate:
    """An event of the resting sell of 1 BTC, filled by half."""
    values: dict[str, Any] = {"client_order_id": SELL, "venue_order_id": "S1", "side": Side.SELL}
    values |= {"cum_filled_qty": D("0.5"), "last_qty": D("0.5"), "fee": 0, "trade_id": "s1"}
    return update(kind, **(values | fields))


def sell_half_filled(ledger: AccountLedger) -> None:
    """The sell's first half filled at 10: open, its record must outlive any window."""
    ledger.apply(sell_event(OrderEventKind.PARTIALLY_FILLED))


def trade_entries(
    ledger: AccountLedger, clock: ManualClock, first: int, count: int, *, every_s: float
) -> None:
    """``count`` entries from key ``first`` on, each filled whole and so ended, one every ``every_s``."""
    for key in range(first, first + count):
        clock.advance(every_s)
        ledger.apply(
            update(client_order_id=entry_id(key), venue_order_id=f"P{key}", trade_id=f"t{key}", fee=0)
        )


def test_a_finished_order_is_remembered_within_the_window_and_forgotten_after_it() -> None:
    clock = ManualClock()
    ledger = ledger_on(clock)
    ledger.apply(update(cum_filled_qty=D(1), last_qty=D(1), fee=0))  # entry 1 filled whole: ended

    trade_entries(ledger, clock, 2, 10, every_s=FILL_MEMORY_KEEP_S / 20)  # half the window later
    assert ledger.applied_fill(entry_id(1)) == D(1)
    assert ledger.unapplied_fill("BTC/USDT", entry_id(1), D(1), ts_event=10) == 0

    trade_entries(ledger, clock, 12, 60, every_s=FILL_MEMORY_KEEP_S / 20)  # 3 windows on, unread
    assert ledger.applied_fill(entry_id(1)) == 0
    assert ledger.applied_fill(entry_id(71)) == D(1)  # the newest are kept


def test_finished_orders_are_bounded_by_count_when_they_end_faster_than_the_window() -> None:
    clock = ManualClock()
    ledger = ledger_on(clock)
    trade_entries(ledger, clock, 1, 3 * ENDED_FILLS_KEPT, every_s=0.01)  # all within seconds

    assert ledger.applied_fill(entry_id(1)) == 0
    newest = 3 * ENDED_FILLS_KEPT
    assert all(ledger.applied_fill(entry_id(k)) == D(1) for k in range(newest - ENDED_FILLS_KEPT + 1, newest))


def test_an_open_partially_filled_order_is_never_forgotten_however_old() -> None:
    clock = ManualClock()
    ledger = ledger_on(clock)
    sell_half_filled(ledger)

    # A day of trading after it, thousands of orders: far beyond both the window and the count.
    trade_entries(ledger, clock, 1, 4 * ENDED_FILLS_KEPT, every_s=24 * 3600 / (4 * ENDED_FILLS_KEPT))

    # Its first half is still known to be in the balances: a reader hearing of the second fill adds only
    # that one (forgotten, the first half would have looked unapplied and been sold twice).
    assert ledger.applied_fill(SELL) == D("0.5")
    assert ledger.unapplied_fill("BTC/USDT", SELL, D(1), ts_event=20) == D("0.5")
    assert ledger.fill_applied("BTC/USDT", SELL, D("0.5"), ts_event=10)


def test_an_order_ends_with_its_terminal_event_and_then_ages_out() -> None:
    clock = ManualClock()
    ledger = ledger_on(clock)
    sell_half_filled(ledger)
    ledger.apply(sell_event(OrderEventKind.CANCELED, last_qty=0, trade_id=None, ts_event=20))
    assert ledger.applied_fill(SELL) == D("0.5")  # just ended: late events still find it

    trade_entries(ledger, clock, 1, 30, every_s=FILL_MEMORY_KEEP_S / 10)
    assert ledger.applied_fill(SELL) == 0


def test_a_rebase_ends_the_records_of_orders_it_no_longer_lists_open() -> None:
    clock = ManualClock()
    ledger = ledger_on(clock)
    sell_half_filled(ledger)  # its terminal event is lost with the stream
    ledger.apply(update(OrderEventKind.PARTIALLY_FILLED, cum_filled_qty=D("0.5"), last_qty=D("0.5"), fee=0))

    # Still open at the venue: entry 1 (half filled). The sell is not listed: it ended.
    ledger.rebase(
        {"USDT": Balance(asset="USDT", free=D(99_950)), "BTC": Balance(asset="BTC", free=D(10))},
        (),
        as_of_ns=30,
        order_fills={entry_id(1): D("0.5"), entry_id(99): D(0)},
    )
    assert ledger.applied_fill(SELL) == D("0.5")  # recently ended: kept for the window

    trade_entries(ledger, clock, 2, 30, every_s=FILL_MEMORY_KEEP_S / 10)
    assert ledger.applied_fill(SELL) == 0
    assert ledger.applied_fill(entry_id(1)) == D("0.5")  # open: kept
    assert ledger.unapplied_fill("BTC/USDT", entry_id(1), D(1), ts_event=40) == D("0.5")


def test_a_rebase_without_the_open_orders_keeps_every_open_record() -> None:
    clock = ManualClock()
    ledger = ledger_on(clock)
    sell_half_filled(ledger)
    ledger.rebase({"USDT": Balance(asset="USDT", free=D(1))}, (), as_of_ns=30)  # knows no open orders

    trade_entries(ledger, clock, 1, 30, every_s=FILL_MEMORY_KEEP_S / 10)
    assert ledger.applied_fill(SELL) == D("0.5")


def test_a_rebase_listing_an_ended_record_open_keeps_it_open() -> None:
    clock = ManualClock()
    ledger = ledger_on(clock)
    ledger.apply(update(cum_filled_qty=D("0.5"), last_qty=D("0.5"), fee=0))  # said FILLED at 0.5
    ledger.rebase(
        {"USDT": Balance(asset="USDT", free=D(1))}, (), as_of_ns=30, order_fills={entry_id(1): D("0.5")}
    )

    trade_entries(ledger, clock, 2, 30, every_s=FILL_MEMORY_KEEP_S / 10)
    assert ledger.applied_fill(entry_id(1)) == D("0.5")  # the venue lists it open: never aged out


def test_a_record_kept_by_a_reader_outlives_the_bound_and_goes_with_the_reader() -> None:
    clock = ManualClock()
    ledger = ledger_on(clock)
    ledger.apply(update(cum_filled_qty=D(1), last_qty=D(1), fee=0, ts_event=10))  # entry 1 filled: ended
    ledger.apply(update(client_order_id=entry_id(2), venue_order_id="P2", trade_id="t2", fee=0))
    kept = ledger.keep_record(entry_id(1))  # the monitor will place entry 1's exit, later

    trade_entries(ledger, clock, 3, 3 * ENDED_FILLS_KEPT, every_s=FILL_MEMORY_KEEP_S / ENDED_FILLS_KEPT)

    assert ledger.applied_fill(entry_id(2)) == 0  # the bound forgot what nobody kept
    assert ledger.applied_fill(entry_id(1)) == D(1)
    assert ledger.fill_applied("BTC/USDT", entry_id(1), D(1), ts_event=10)
    assert ledger.unapplied_fill("BTC/USDT", entry_id(1), D(1), ts_event=10) == 0
    del kept  # the reader is done (or gone with its incarnation): nothing is left behind
    assert ledger.applied_fill(entry_id(1)) == 0


def test_a_record_kept_before_the_orders_first_event_is_the_one_its_events_fill_in() -> None:
    clock = ManualClock()
    ledger = ledger_on(clock)
    kept = ledger.keep_record(entry_id(1))  # the fill was reported before its event reached the ledger
    assert ledger.applied_fill(entry_id(1)) == 0
    ledger.apply(update(OrderEventKind.PARTIALLY_FILLED, cum_filled_qty=D("0.5"), last_qty=D("0.5"), fee=0))
    ledger.apply(update(cum_filled_qty=D(1), last_qty=D("0.5"), trade_id="8", fee=0, ts_event=11))

    trade_entries(ledger, clock, 2, 3 * ENDED_FILLS_KEPT, every_s=FILL_MEMORY_KEEP_S / ENDED_FILLS_KEPT)

    assert ledger.applied_fill(entry_id(1)) == D(1)
    assert ledger.fill_applied("BTC/USDT", entry_id(1), D(1), ts_event=11)
    del kept
    assert ledger.applied_fill(entry_id(1)) == 0  # it ended long ago: only the reader kept it
