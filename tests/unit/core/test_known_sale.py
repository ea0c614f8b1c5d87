"""A known sale of our exit against the ledger: what its balances lack of it, and what they have of a sale
not reported yet (pure, no threads)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from autohedge.core.ledger import AccountLedger
from autohedge.core.messages import AccountBalances, Balance, OrderEventKind
from autohedge.core.positions import SALE_STEPS_KEPT, KnownSale, unheard_sales
from autohedge.core.types import OrderPurpose, Side
from tests.ids import our_id
from tests.unit.core.test_ledger_dedupe import update

D = Decimal
LEG = our_id(OrderPurpose.TAKE_PROFIT, 1)


def ledger_holding(btc: str) -> AccountLedger:
    ledger = AccountLedger(spot=True)
    ledger.rebase({"BTC": Balance(asset="BTC", free=D(btc))}, (), as_of_ns=5)
    return ledger


def push(ledger: AccountLedger, btc: str, ts_event: int) -> None:
    """A balance snapshot taken at ``ts_event``."""
    ledger.apply_balances(
        AccountBalances(
            venue="paper", balances=(Balance(asset="BTC", free=D(btc)),), ts_event=ts_event, ts_init=ts_event
        )
    )


def sold(ledger: AccountLedger, cum: str, last: str, ts_event: int) -> None:
    """The leg's order event, applied by the ledger."""
    ledger.apply(
        update(
            OrderEventKind.PARTIALLY_FILLED,
            client_order_id=LEG,
            side=Side.SELL,
            cum_filled_qty=D(cum),
            last_qty=D(last),
            fee=D(0),
            fee_asset="USDT",
            trade_id=cum,
            ts_event=ts_event,
            ts_init=ts_event,
        )
    )


def asks(ledger: AccountLedger) -> Callable[[Decimal, int], Decimal]:
    return lambda cum_qty, ts_event: ledger.unapplied_fill("BTC/USDT", LEG, cum_qty, ts_event=ts_event)


SALE = KnownSale("BTC/USDT", ((D("0.4"), 10),)).after(D(1), 30)
"""0.4 reported at 10, the rest (to 1) at 30."""


def test_a_snapshot_before_every_report_includes_none_of_the_sale() -> None:
    ledger = ledger_holding("1.3")
    push(ledger, "1.3", 8)
    assert SALE.unapplied(asks(ledger)) == (D(1), SALE)


def test_a_snapshot_between_two_reports_includes_the_first_only() -> None:
    ledger = ledger_holding("1.3")
    push(ledger, "0.9", 20)  # after the 0.4, before the rest
    missing, kept = SALE.unapplied(asks(ledger))
    assert missing == D("0.6")
    assert ledger.position("BTC/USDT") - missing == D("0.3")  # what is really held, not 1.3 - 0.4 - 1
    assert kept is not None and kept.steps[0] == (D("0.4"), 10)  # kept from the included report on


def test_events_applied_in_order_after_the_snapshot_complete_the_sale() -> None:
    ledger = ledger_holding("1.3")
    push(ledger, "0.9", 20)
    sold(ledger, "0.4", "0.4", 10)  # inside the snapshot: not moved again
    assert SALE.unapplied(asks(ledger))[0] == D("0.6")
    sold(ledger, "1", "0.6", 30)
    assert SALE.unapplied(asks(ledger)) == (D(0), None)
    assert ledger.position("BTC/USDT") == D("0.3")


def test_a_snapshot_after_the_last_report_includes_the_whole_sale() -> None:
    ledger = ledger_holding("1.3")
    push(ledger, "0.3", 30)
    assert SALE.unapplied(asks(ledger)) == (D(0), None)


def test_forgetting_old_reports_only_reads_more_of_the_sale_missing() -> None:
    ledger = ledger_holding("1.3")
    push(ledger, "0.9", 20)
    many = SALE
    for step in range(SALE_STEPS_KEPT):
        many = many.after(D(1) + D(step + 1) / 1000, 40 + step)
    assert len(many.steps) == SALE_STEPS_KEPT and many.steps[0][1] > 20  # the included report is gone
    missing, _ = many.unapplied(asks(ledger))
    assert missing == many.steps[-1][0]  # none of it counted as inside the snapshot: never too much held


def test_a_sale_the_ledger_applied_before_its_report_is_unheard_until_reported() -> None:
    ledger = ledger_holding("1.3")
    sold(ledger, "0.4", "0.4", 10)
    sold(ledger, "1", "0.6", 30)
    assert ledger.applied_fill(LEG) == D(1)
    other = our_id(OrderPurpose.STOP_LOSS, 1)  # never traded: nothing applied

    assert unheard_sales((LEG, other), {LEG: D("0.4")}, ledger.applied_fill) == D("0.6")
    assert unheard_sales((LEG, LEG), {}, ledger.applied_fill) == D(1)  # an order counted once
    assert unheard_sales((LEG,), {LEG: D(1)}, ledger.applied_fill) == 0
    assert unheard_sales((LEG,), {LEG: D("1.2")}, ledger.applied_fill) == 0  # a venue read told more


def test_a_sale_a_rebase_read_from_the_open_leg_and_its_next_event_leave_nothing_missing() -> None:
    # The leg sold 0.4 at 10 while the stream was down (its event lost); the reconnect's re-base at 20 read
    # the leg open with 0.4 sold, then 0.6 held. The rest's event (to 1, at 30) is applied. Without the
    # leg's fill from the re-base, the ledger looked short of that 0.4 for as long as the leg was known: a
    # holding 0.4 smaller than the ledger's, and the event's 0.6 taken as 0.2 not reported yet.
    ledger = AccountLedger(spot=True)
    ledger.rebase({"BTC": Balance(asset="BTC", free=D("0.6"))}, (), as_of_ns=20, order_fills={LEG: D("0.4")})
    sold(ledger, "1", "0.6", 30)

    assert ledger.position("BTC/USDT") == 0
    assert SALE.unapplied(asks(ledger)) == (D(0), None)
    assert unheard_sales((LEG,), {LEG: D("0.4")}, ledger.applied_fill) == D("0.6")
