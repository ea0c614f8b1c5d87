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


def sales_of_leg(cum: str = "0.4", reported_ns: int = 10, learned_ns: int = 12) -> KnownSales:
    sales = KnownSales()
    sales.remember(SYMBOL, LEG, D(cum), reported_ns=reported_ns, learned_ns=learned_ns)
    return sales


def test_a_sale_counts_until_the_ledger_applies_its_event_then_leaves() -> None:
    ledger = ledger_holding("1")
    sales = sales_of_leg()

    assert sales.unapplied(SYMBOL, ledger) == D("0.4")
    assert len(sales) == 1
    sold(ledger, "0.4", "0.4", 10)
    assert sales.unapplied(SYMBOL, ledger) == 0
    assert len(sales) == 0


def test_a_balance_push_taken_after_the_report_includes_the_sale() -> None:
    ledger = ledger_holding("1")
    sales = sales_of_leg()
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
    sales = sales_of_leg(reported_ns=40, learned_ns=12)
    rebase(ledger, "0.6", as_of_ns=read_started_ns)

    assert sales.unapplied(SYMBOL, ledger) == missing
    assert len(sales) == (1 if missing else 0)


def test_a_sale_is_known_as_of_its_newest_report() -> None:
    ledger = ledger_holding("1")
    sales = sales_of_leg(reported_ns=10, learned_ns=12)
    sales.remember(SYMBOL, LEG, D(1), reported_ns=30, learned_ns=32)
    rebase(ledger, "0.6", as_of_ns=20)  # after the first report, before the rest

    assert sales.unapplied(SYMBOL, ledger) == D("0.6")


def test_other_symbols_sales_do_not_count_but_leave_once_included() -> None:
    ledger = ledger_holding("1")
    sales = sales_of_leg()
    eth_leg = our_id(OrderPurpose.STOP_LOSS, 2)
    sales.remember("ETH/USDT", eth_leg, D(2), reported_ns=10, learned_ns=12)

    assert sales.unapplied("ETH/USDT", ledger) == D(2)
    rebase(ledger, "1", as_of_ns=20)
    assert sales.unapplied("ETH/USDT", ledger) == 0
    assert len(sales) == 0  # the BTC leg's sale too: the read included both


def test_beyond_capacity_the_oldest_sale_is_forgotten() -> None:
    ledger = ledger_holding("3")
    sales = KnownSales(capacity=2)
    legs = [our_id(OrderPurpose.TAKE_PROFIT, n) for n in range(3)]
    for n, leg in enumerate(legs):
        sales.remember(SYMBOL, leg, D(1), reported_ns=10 + n, learned_ns=12 + n)

    assert len(sales) == 2
    assert sales.unapplied(SYMBOL, ledger) == D(2)


def test_the_ledger_tells_when_its_newest_account_read_started() -> None:
    ledger = AccountLedger(spot=True)
    assert ledger.rebased_as_of_ns is None
    rebase(ledger, "1", as_of_ns=5)
    rebase(ledger, "1", as_of_ns=9)
    assert ledger.rebased_as_of_ns == 9
