"""The monitor's known exit sales, kept beside the ledger: what the ledger's balances lack of them, and
when a sale leaves (pure, no threads)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autohedge.core.known_sales import KnownSales
from autohedge.core.ledger import AccountLedger
from autohedge.core.messages import Balance
from autohedge.core.types import OrderPurpose
from tests.ids import our_id
from tests.unit.core.test_known_sale import LEG, ledger_holding, push, sold

D = Decimal
SYMBOL = "BTC/USDT"


def rebase(ledger: AccountLedger, btc: str, as_of_ns: int) -> None:
    """An account read that started at ``as_of_ns``."""
    ledger.rebase({"BTC": Balance(asset="BTC", free=D(btc))}, (), as_of_ns=as_of_ns)


def sales_of_leg(
    ledger: AccountLedger, cum: str = "0.4", reported_ns: int = 10, learned_ns: int = 12
) -> KnownSales:
    sales = KnownSales()
    remember(sales, ledger, cum, reported_ns=reported_ns, learned_ns=learned_ns)
    return sales


def remember(
    sales: KnownSales, ledger: AccountLedger, cum: str, *, reported_ns: int, learned_ns: int, leg: str = LEG
) -> None:
    """As the monitor does: with the ledger's mark as it learns of the sale."""
    sales.remember(
        SYMBOL if leg == LEG else "ETH/USDT",
        leg,
        D(cum),
        reported_ns=reported_ns,
        learned_ns=learned_ns,
        ledger_mark=ledger.fill_mark,
    )


def test_a_sale_counts_until_the_ledger_applies_its_event_then_leaves() -> None:
    ledger = ledger_holding("1")
    sales = sales_of_leg(ledger)

    assert sales.unapplied(SYMBOL, ledger) == D("0.4")
    assert len(sales) == 1
    sold(ledger, "0.4", "0.4", 10)
    assert sales.unapplied(SYMBOL, ledger) == 0
    assert len(sales) == 0


def test_a_balance_push_taken_after_the_report_includes_the_sale() -> None:
    ledger = ledger_holding("1")
    sales = sales_of_leg(ledger)
    push(ledger, "0.6", 11)

    assert sales.unapplied(SYMBOL, ledger) == 0
    assert len(sales) == 0


@pytest.mark.parametrize(
    ("read_started_ns", "missing"),
    [(20, D(0)), (8, D("0.4"))],
    ids=["read-started-after-we-knew", "read-started-before-we-knew"],
)
def test_an_account_read_includes_a_sale_we_knew_of_before_it_started(
    read_started_ns: int, missing: Decimal
) -> None:
    # Our own clock decides, not the venue's report time (40 here, ahead of ours). A read that started
    # before we knew of the sale may have missed it, even if it completed after: forgetting every known
    # sale at a re-base took such a sale as held again.
    ledger = ledger_holding("1")
    sales = sales_of_leg(ledger, reported_ns=40, learned_ns=12)
    rebase(ledger, "0.6", as_of_ns=read_started_ns)

    assert sales.unapplied(SYMBOL, ledger) == missing
    assert len(sales) == (1 if missing else 0)


def held(sales: KnownSales, ledger: AccountLedger) -> Decimal:
    """What the monitor takes as held: the ledger's holding less the known sales it lacks."""
    return ledger.position(SYMBOL) - sales.unapplied(SYMBOL, ledger)


def test_a_sale_learned_in_the_instant_an_account_read_started_after_it_is_inside_that_read() -> None:
    # Simulated clock, one instant (20): the monitor reads its exit (sold 0.4), then the user stream reads
    # the account, which has the sale. Taken as missing from that read too, it was counted twice and the
    # exits stayed short of what was held (1 USDT of ETH for about 100 s) until the sale was forgotten.
    ledger = ledger_holding("1")
    sales = sales_of_leg(ledger, reported_ns=20, learned_ns=20)  # a venue read: stamped when made
    rebase(ledger, "0.6", as_of_ns=20)

    assert held(sales, ledger) == D("0.6")
    assert len(sales) == 0
    sold(ledger, "0.4", "0.4", 18)  # its event, late: dated before the read, inside it
    assert held(sales, ledger) == D("0.6")


def test_a_sale_learned_in_the_instant_an_account_read_started_before_it_counts_until_applied() -> None:
    # The same instant the other way round: the account is read, then the exit is placed and sells at
    # once. The read lacks the sale; forgotten, its 0.4 looked held (an exit for it would be oversold).
    ledger = ledger_holding("1")
    rebase(ledger, "1", as_of_ns=20)
    sales = sales_of_leg(ledger, reported_ns=20, learned_ns=20)

    assert held(sales, ledger) == D("0.6")
    sold(ledger, "0.4", "0.4", 20)  # its event: dated in the read's instant, after it, applied once
    assert held(sales, ledger) == D("0.6")
    assert len(sales) == 0


def test_a_sale_is_known_as_of_its_newest_report() -> None:
    ledger = ledger_holding("1")
    sales = sales_of_leg(ledger, reported_ns=10, learned_ns=12)
    remember(sales, ledger, "1", reported_ns=30, learned_ns=32)
    rebase(ledger, "0.6", as_of_ns=20)  # after the first report, before the rest

    assert sales.unapplied(SYMBOL, ledger) == D("0.6")


def test_other_symbols_sales_do_not_count_but_leave_once_included() -> None:
    ledger = ledger_holding("1")
    sales = sales_of_leg(ledger)
    eth_leg = our_id(OrderPurpose.STOP_LOSS, 2)
    remember(sales, ledger, "2", reported_ns=10, learned_ns=12, leg=eth_leg)

    assert sales.unapplied("ETH/USDT", ledger) == D(2)
    rebase(ledger, "1", as_of_ns=20)
    assert sales.unapplied("ETH/USDT", ledger) == 0
    assert len(sales) == 0  # the BTC leg's sale too: the read included both


def test_beyond_capacity_the_oldest_sale_is_forgotten() -> None:
    ledger = ledger_holding("3")
    sales = KnownSales(capacity=2)
    legs = [our_id(OrderPurpose.TAKE_PROFIT, n) for n in range(3)]
    for n, leg in enumerate(legs):
        sales.remember(SYMBOL, leg, D(1), reported_ns=10 + n, learned_ns=12 + n, ledger_mark=ledger.fill_mark)

    assert len(sales) == 2
    assert sales.unapplied(SYMBOL, ledger) == D(2)


def test_the_ledger_tells_when_its_newest_account_read_started() -> None:
    ledger = AccountLedger(spot=True)
    assert ledger.rebased_as_of_ns is None
    rebase(ledger, "1", as_of_ns=5)
    rebase(ledger, "1", as_of_ns=9)
    assert ledger.rebased_as_of_ns == 9
