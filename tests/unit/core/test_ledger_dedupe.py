"""The fill de-duplicator and the local account ledger: pure, no threads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from autohedge.core.clock import ManualClock
from autohedge.core.dedupe import CumulativeWatermarks, FillDeduper
from autohedge.core.ledger import AccountLedger
from autohedge.core.messages import AccountBalances, Balance, OrderEventKind, OrderUpdate, PositionSnapshot
from autohedge.core.types import OrderPurpose, Side
from tests.ids import entry_id, our_id

D = Decimal


def update(kind: OrderEventKind = OrderEventKind.FILLED, **fields: Any) -> OrderUpdate:
    values: dict[str, Any] = {
        "venue": "paper",
        "kind": kind,
        "symbol": "BTC/USDT",
        "client_order_id": entry_id(1),
        "venue_order_id": "P1",
        "side": Side.BUY,
        "price": D(100),
        "order_qty": D(1),
        "cum_filled_qty": D(1),
        "last_qty": D(1),
        "last_price": D(100),
        "fee": D("0.001"),
        "fee_asset": "BTC",
        "trade_id": "7",
        "ts_event": 10,
        "ts_init": 10,
    }
    values.update(fields)
    return OrderUpdate(**values)


def ledger_with(usdt: str = "1000", *, as_of_ns: int = 5, spot: bool = True) -> AccountLedger:
    ledger = AccountLedger(spot=spot)
    ledger.rebase({"USDT": Balance(asset="USDT", free=D(usdt))}, (), as_of_ns=as_of_ns)
    return ledger


def test_deduper_repeat_key_is_recognised_once_seen() -> None:
    dedupe = FillDeduper(capacity=4)
    assert dedupe.first_time("P1:t:7") is True
    assert dedupe.first_time("P1:t:7") is False
    assert dedupe.duplicates == 1


def test_deduper_memory_is_bounded_oldest_forgotten_first() -> None:
    dedupe = FillDeduper(capacity=2)
    for key in ("a", "b", "c", "d", "e"):
        dedupe.first_time(key)
    assert len(dedupe) <= 4  # at most twice the capacity
    assert dedupe.first_time("e") is False and dedupe.first_time("d") is False  # the newest two
    assert dedupe.first_time("a") is True


def test_deduper_forgets_fills_older_than_its_horizon_so_a_day_of_fills_stays_flat() -> None:
    clock = ManualClock()
    dedupe = FillDeduper(capacity=10_000, now_ns=clock.monotonic_ns, keep_s=60)
    sizes = []
    for second in range(600):
        dedupe.first_time(f"P{second}:t:1")
        clock.advance(1)
        sizes.append(len(dedupe))
    assert max(sizes[200:]) <= 120 and max(sizes[200:]) == max(sizes[400:])  # flat once a horizon passed
    assert dedupe.first_time("P599:t:1") is False and dedupe.first_time("P540:t:1") is False
    assert dedupe.first_time("P0:t:1") is True


def test_fill_key_without_trade_id_uses_cumulative_quantity() -> None:
    assert update(trade_id=None, cum_filled_qty=D("0.5")).fill_key == f"P1:{entry_id(1)}:c:0.5"
    assert update().fill_key == "P1:t:7"


def test_ledger_reserve_then_fill_moves_quote_to_base_net_of_base_fee() -> None:
    ledger = ledger_with()
    ledger.reserve(entry_id(1), "USDT", D(100), price=D(100))
    assert ledger.free("USDT") == D(900)
    ledger.apply(update(last_price=D(99)))
    assert ledger.free("USDT") == D(901)  # price improvement returns to free
    assert ledger.balance("USDT").locked == 0
    assert ledger.position("BTC/USDT") == D("0.999")
    assert ledger.reserved(entry_id(1)) == 0


def test_ledger_cancel_releases_what_the_entry_still_holds() -> None:
    ledger = ledger_with()
    ledger.reserve(entry_id(1), "USDT", D(100), price=D(100))
    ledger.apply(update(OrderEventKind.PARTIALLY_FILLED, cum_filled_qty=D("0.4"), last_qty=D("0.4"), fee=0))
    ledger.apply(update(OrderEventKind.CANCELED, cum_filled_qty=D("0.4"), last_qty=0, fee=0, ts_event=11))
    assert ledger.free("USDT") == D(960) and ledger.balance("USDT").locked == 0
    assert ledger.position("BTC/USDT") == D("0.4")


def test_ledger_fill_older_than_rest_snapshot_is_not_applied_twice() -> None:
    ledger = ledger_with(as_of_ns=50)
    ledger.apply(update(ts_event=10))
    assert ledger.position("BTC/USDT") == 0 and ledger.free("USDT") == D(1000)


def test_ledger_pushed_balance_overrides_and_covers_same_time_fill() -> None:
    ledger = ledger_with()
    pushed = AccountBalances(
        venue="binance",
        balances=(Balance(asset="BTC", free=D("0.999")), Balance(asset="USDT", free=D(900))),
        ts_event=10,
        ts_init=10,
    )
    ledger.apply_balances(pushed)
    ledger.apply(update(ts_event=10))  # the fill the balance push already contains
    assert ledger.position("BTC/USDT") == D("0.999") and ledger.free("USDT") == D(900)


def test_ledger_sell_fill_reduces_locked_base_first() -> None:
    ledger = AccountLedger()
    ledger.rebase(
        {"BTC": Balance(asset="BTC", free=D(0), locked=D(1)), "USDT": Balance(asset="USDT", free=D(0))},
        (),
        as_of_ns=5,
    )
    ledger.apply(update(side=Side.SELL, fee=D("0.1"), fee_asset="USDT", last_price=D(110)))
    assert ledger.position("BTC/USDT") == 0 and ledger.free("USDT") == D("109.9")


def test_ledger_non_spot_positions_follow_venue_position_qty() -> None:
    ledger = AccountLedger(spot=False)
    ledger.rebase({}, [PositionSnapshot(symbol="BTC/USDT", qty=D(2))], as_of_ns=5)
    assert ledger.position("BTC/USDT") == D(2)
    ledger.apply(update(fee=0, position_qty=D(3)))
    assert ledger.position("BTC/USDT") == D(3)


@pytest.mark.parametrize("spot", [True, False])
def test_ledger_position_is_never_negative(spot: bool) -> None:
    ledger = ledger_with(spot=spot)
    ledger.apply(update(side=Side.SELL, fee=0))
    assert ledger.position("BTC/USDT") == 0


def test_ledger_when_live_registered_before_calls_once_when_made_live() -> None:
    ledger, calls = AccountLedger(), []
    ledger.when_live(lambda: calls.append("live"))
    ledger.set_live(True)  # not re-based yet: not live
    ledger.rebase({}, (), as_of_ns=1)
    ledger.set_live(True)
    ledger.set_live(False)
    ledger.set_live(True)

    assert calls == ["live"]


def test_ledger_when_live_already_live_calls_at_once() -> None:
    ledger, calls = ledger_with(), []
    ledger.set_live(True)

    ledger.when_live(lambda: calls.append("live"))

    assert calls == ["live"]


def test_simulation_found_entry_fill_rereported_whole_after_a_restart_counts_only_the_unseen_part() -> None:
    marks = CumulativeWatermarks()
    assert marks.unseen("e1", D("0.5")) == D("0.5")
    assert marks.unseen("e1", D("0.8")) == D("0.3")  # re-reported whole by a restarted executor
    assert marks.unseen("e1", D("0.8")) == 0  # a repeat
    assert marks.unseen("e1", D("0.6")) == 0  # older than what was counted


def test_cumulative_watermarks_forget_the_oldest_order_first() -> None:
    marks = CumulativeWatermarks(capacity=2)
    for key in ("e1", "e2", "e3", "e4", "e5"):
        marks.unseen(key, D(1))
    assert len(marks) <= 4
    assert marks.unseen("e5", D(1)) == 0 and marks.unseen("e4", D(1)) == 0
    assert marks.unseen("e1", D(1)) == D(1)


def test_cumulative_watermark_in_use_is_kept_past_the_horizon_an_unused_one_is_not() -> None:
    clock = ManualClock()
    marks = CumulativeWatermarks(now_ns=clock.monotonic_ns, keep_s=60)
    marks.unseen("resting", D("0.1"))
    marks.unseen("done", D(1))
    for step in range(1, 10):
        clock.advance(30)
        marks.unseen(f"other{step}", D(1))
        assert marks.unseen("resting", D("0.1")) == 0  # read within the horizon: kept
    assert marks.unseen("resting", D("0.3")) == D("0.2")
    assert marks.unseen("done", D(1)) == D(1)  # untouched for 270 s: forgotten
    with pytest.raises(ValueError, match="capacity"):
        CumulativeWatermarks(capacity=0)


def test_simulation_found_fill_the_ledger_applied_before_its_report_is_not_added_again() -> None:
    ledger = ledger_with()
    partial = update(OrderEventKind.PARTIALLY_FILLED, cum_filled_qty=D("0.5"), last_qty=D("0.5"), ts_event=10)
    ledger.apply(partial)

    assert ledger.unapplied_fill("BTC/USDT", entry_id(1), D("0.5"), ts_event=10) == 0
    # The rest of the order traded: the ledger has not heard of it yet.
    assert ledger.unapplied_fill("BTC/USDT", entry_id(1), D(1), ts_event=20) == D("0.5")
    ledger.apply(update(cum_filled_qty=D(1), last_qty=D("0.5"), ts_event=20))
    assert ledger.unapplied_fill("BTC/USDT", entry_id(1), D(1), ts_event=20) == 0


def test_simulation_found_fill_inside_the_newest_snapshot_is_applied_already() -> None:
    ledger = ledger_with(as_of_ns=50)

    assert ledger.unapplied_fill("BTC/USDT", entry_id(2), D(1), ts_event=40) == 0
    assert ledger.unapplied_fill("BTC/USDT", entry_id(2), D(1), ts_event=60) == D(1)


def test_simulation_found_fill_after_one_a_rebase_took_in_is_applied_by_its_own_event() -> None:
    ledger = ledger_with(as_of_ns=50)  # the order's first half traded at 40: inside, its event never comes
    ledger.apply(update(cum_filled_qty=D(1), last_qty=D("0.5"), ts_event=60))

    # The order still looks short of its first half (that event might only be late), but the fill the
    # event brought is in: a report of it is never added to what the ledger holds a second time.
    assert ledger.unapplied_fill("BTC/USDT", entry_id(1), D(1), ts_event=60) == D("0.5")
    assert ledger.fill_applied("BTC/USDT", entry_id(1), D(1), ts_event=60)
    assert ledger.fill_applied("BTC/USDT", entry_id(1), D("0.5"), ts_event=40)  # inside the snapshot
    assert not ledger.fill_applied("BTC/USDT", entry_id(1), D("0.5"), ts_event=55)  # traded after it
    assert not ledger.fill_applied("BTC/USDT", entry_id(2), D(1), ts_event=60)


def rebased_with_half_filled_entry(*, spot: bool = True) -> AccountLedger:
    """A re-base at 50 whose read found the entry open with half of it filled (its event lost with the
    stream): 0.5 BTC held, the order's cumulative fill 0.5 recorded."""
    ledger = AccountLedger(spot=spot)
    ledger.rebase(
        {"USDT": Balance(asset="USDT", free=D(950)), "BTC": Balance(asset="BTC", free=D("0.5"))},
        [PositionSnapshot(symbol="BTC/USDT", qty=D("0.5"))],
        as_of_ns=50,
        order_fills={entry_id(1): D("0.5")},
    )
    return ledger


def test_fill_a_rebase_read_from_the_open_order_is_applied_and_the_next_one_only_is_missing() -> None:
    ledger = rebased_with_half_filled_entry()

    # The rest traded at 60: only that fill is missing, never the one the re-base took in.
    assert ledger.unapplied_fill("BTC/USDT", entry_id(1), D(1), ts_event=60) == D("0.5")
    assert ledger.fill_applied("BTC/USDT", entry_id(1), D("0.5"), ts_event=55)
    assert not ledger.fill_applied("BTC/USDT", entry_id(1), D(1), ts_event=60)
    ledger.apply(update(cum_filled_qty=D(1), last_qty=D("0.5"), fee=0, ts_event=60))

    assert ledger.unapplied_fill("BTC/USDT", entry_id(1), D(1), ts_event=60) == 0
    assert ledger.applied_fill(entry_id(1)) == D(1)
    assert ledger.position("BTC/USDT") == D(1)


def test_rebased_fill_is_what_the_rebase_read_of_the_order_not_what_its_events_brought_since() -> None:
    ledger = rebased_with_half_filled_entry()
    ledger.apply(update(cum_filled_qty=D(1), last_qty=D("0.5"), fee=0, ts_event=60))

    assert ledger.rebased_fill(entry_id(1)) == D("0.5")  # held since the account read; the rest is new
    assert ledger.applied_fill(entry_id(1)) == D(1)
    assert ledger.rebased_fill(entry_id(2)) == 0  # never read by a re-base


@pytest.mark.parametrize("spot", [True, False])
def test_late_event_of_a_fill_a_rebase_read_from_the_open_order_is_not_applied_twice(spot: bool) -> None:
    ledger = rebased_with_half_filled_entry(spot=spot)

    # The first half traded at 55, after the re-base's clock reading and before its reads: its event
    # comes after the re-base, inside what it read.
    half = {"cum_filled_qty": D("0.5"), "last_qty": D("0.5"), "fee": 0, "ts_event": 55}
    ledger.apply(update(OrderEventKind.PARTIALLY_FILLED, **half))

    assert ledger.position("BTC/USDT") == D("0.5") and ledger.free("USDT") == D(950)
    assert ledger.applied_fill(entry_id(1)) == D("0.5")
    assert ledger.unapplied_fill("BTC/USDT", entry_id(1), D(1), ts_event=60) == D("0.5")


def pushed(ts_event: int, *balances: tuple[str, str, str]) -> AccountBalances:
    """A pushed balance (Binance ``outboundAccountPosition``): (asset, free, locked) per asset."""
    return AccountBalances(
        venue="binance",
        balances=tuple(Balance(asset=a, free=D(free), locked=D(locked)) for a, free, locked in balances),
        ts_event=ts_event,
        ts_init=ts_event,
    )


def test_ledger_entry_fill_inside_a_pushed_balance_leaves_its_end_to_release_only_the_rest() -> None:
    ledger = ledger_with()
    ledger.reserve(entry_id(1), "USDT", D(100), price=D(100))
    ledger.apply_balances(pushed(20, ("USDT", "900", "100")))  # the lock when the entry was placed
    ledger.apply(update(OrderEventKind.ACCEPTED, cum_filled_qty=D(0), last_qty=D(0), ts_event=20))
    # Half filled: the venue's balance push arrives before the fill's report.
    ledger.apply_balances(pushed(30, ("USDT", "900", "50"), ("BTC", "0.5", "0")))
    half = {"cum_filled_qty": D("0.5"), "last_qty": D("0.5"), "fee": D(0), "ts_event": 30}
    ledger.apply(update(OrderEventKind.PARTIALLY_FILLED, **half))
    assert ledger.reserved(entry_id(1)) == D(50)
    ledger.apply(update(OrderEventKind.CANCELED, cum_filled_qty=D("0.5"), last_qty=D(0), ts_event=40))
    assert ledger.balance("USDT") == Balance(asset="USDT", free=D(950), locked=D(0))
    ledger.apply_balances(pushed(40, ("USDT", "950", "0")))  # the release, pushed after the report
    assert ledger.balance("USDT") == Balance(asset="USDT", free=D(950), locked=D(0))
    assert ledger.position("BTC/USDT") == D("0.5")


@pytest.mark.parametrize("push_first", [False, True])
def test_ledger_our_exit_locking_and_selling_the_base_keeps_what_is_held(push_first: bool) -> None:
    ledger = AccountLedger()
    ledger.rebase(
        {"BTC": Balance(asset="BTC", free=D(1)), "USDT": Balance(asset="USDT", free=D(0))}, (), as_of_ns=5
    )
    exit_leg = {
        "side": Side.SELL,
        "client_order_id": our_id(OrderPurpose.TAKE_PROFIT, 1),
        "venue_order_id": "P9",
        "fee": D(0),
    }
    events = [
        (
            pushed(20, ("BTC", "0", "1")),
            update(OrderEventKind.ACCEPTED, cum_filled_qty=D(0), last_qty=D(0), ts_event=20, **exit_leg),
        ),
        (
            pushed(30, ("BTC", "0", "0.6"), ("USDT", "40", "0")),
            update(
                OrderEventKind.PARTIALLY_FILLED,
                cum_filled_qty=D("0.4"),
                last_qty=D("0.4"),
                ts_event=30,
                **exit_leg,
            ),
        ),
        (
            pushed(40, ("BTC", "0.6", "0")),
            update(OrderEventKind.CANCELED, cum_filled_qty=D("0.4"), last_qty=D(0), ts_event=40, **exit_leg),
        ),
    ]
    held_after = [D(1), D("0.6"), D("0.6")]
    for (balance, report), held in zip(events, held_after, strict=True):
        if push_first:
            ledger.apply_balances(balance)
            ledger.apply(report)
        else:
            ledger.apply(report)
            assert ledger.position("BTC/USDT") == held  # the report alone already says what is held
            ledger.apply_balances(balance)
        assert ledger.position("BTC/USDT") == held
    assert ledger.balance("BTC") == Balance(asset="BTC", free=D("0.6"), locked=D(0))
    assert ledger.free("USDT") == D(40)
