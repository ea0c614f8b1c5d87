"""The start-up reconciliation of the journal's books with what the venue holds (hand-worked cases),
and the P&L book applying its write-offs and adoptions."""

from __future__ import annotations

from decimal import Decimal

from autohedge.core.clock import NS_PER_S
from autohedge.core.journal import (
    AccountSnapshot,
    BookAdjustment,
    lost_by_the_venue,
    made_before_startup,
    reconcile_account,
)
from autohedge.core.pnl import Fill, FillKind, OpenLots, compute_pnl
from autohedge.core.types import CloseReason, Side

D = Decimal

BTC = "BTC/USDT"
ETH = "ETH/USDT"
T = 50 * NS_PER_S
DUST = {BTC: D("0.00001"), ETH: D("0.0001")}


def snapshot(
    held: dict[str, str], account: str = "paper run 2", prices: dict[str, str] | None = None
) -> AccountSnapshot:
    return AccountSnapshot(
        venue="paper",
        account=account,
        held=tuple((s, D(q)) for s, q in held.items()),
        entry_prices=tuple((s, D(p)) for s, p in (prices or {}).items()),
        ts_init=T,
    )


def lots(symbol: str, qty: str, cost: str) -> OpenLots:
    return OpenLots(symbol, D(qty), D(cost), 1)


def test_a_new_paper_account_writes_off_every_holding_and_closes_every_position() -> None:
    # Run 1's account held 0.028231 BTC bought for 2823.1 (avg 100000); run 2's fresh account holds none.
    records = reconcile_account(
        snapshot=snapshot({}),
        books={BTC: lots(BTC, "0.028231", "2823.1")},
        open_positions={BTC: D("0.028231")},
        previous_account=("paper", "paper run 1"),
        dust=DUST,
    )

    assert [type(r).__name__ for r in records] == ["BookAdjustment", "PositionClosed"]
    write_off, closed = records
    assert isinstance(write_off, BookAdjustment) and write_off.kind is FillKind.RECONCILED
    assert (write_off.qty, write_off.price) == (D("0.028231"), D("100000"))  # at its cost: no P&L
    assert closed.reason is CloseReason.RECONCILED and closed.qty == D("0.028231")  # type: ignore[union-attr]


def test_a_new_account_adopts_what_it_holds_even_where_the_books_held_the_same_symbol() -> None:
    # Another account that happens to hold 0.5 ETH @ 2000: the old 0.5 ETH is written off, the new
    # one adopted at the venue's entry price; the old position row closed, a new adopted one opened.
    records = reconcile_account(
        snapshot=snapshot({ETH: "0.5"}, account="paper state /b.json", prices={ETH: "2000"}),
        books={ETH: lots(ETH, "0.5", "900")},
        open_positions={ETH: D("0.5")},
        previous_account=("paper", "paper state /a.json"),
        dust=DUST,
    )

    kinds = [(type(r).__name__, getattr(r, "kind", getattr(r, "reason", None))) for r in records]
    assert kinds == [
        ("BookAdjustment", FillKind.RECONCILED),
        ("BookAdjustment", FillKind.ADOPTED),
        ("PositionClosed", CloseReason.RECONCILED),
        ("PositionOpened", None),
    ]
    adopted = records[1]
    assert isinstance(adopted, BookAdjustment) and (adopted.qty, adopted.price) == (D("0.5"), D("2000"))
    assert records[3].adopted  # type: ignore[union-attr]


def test_the_same_account_is_compared_by_quantity() -> None:
    # Same account: BTC sold by hand down to 0.01 of 0.03 (0.02 written off at avg cost 100);
    # ETH 0.00005 short is below the dust (nothing); a hand-bought 2 SOL at 150 adopted.
    records = reconcile_account(
        snapshot=snapshot(
            {BTC: "0.01", ETH: "0.99995", "SOL/USDT": "2"}, account="", prices={"SOL/USDT": "150"}
        ),
        books={BTC: lots(BTC, "0.03", "3"), ETH: lots(ETH, "1", "2000")},
        open_positions={BTC: D("0.03"), ETH: D("1")},
        previous_account=("paper", ""),
        dust=DUST,
    )

    assert records == (
        BookAdjustment(symbol=BTC, kind=FillKind.RECONCILED, qty=D("0.02"), price=D(100), ts_init=T),
        BookAdjustment(symbol="SOL/USDT", kind=FillKind.ADOPTED, qty=D(2), price=D(150), ts_init=T),
        records[2],
    )
    assert records[2].symbol == "SOL/USDT" and records[2].adopted  # type: ignore[union-attr]


def test_a_holding_without_an_entry_price_is_adopted_as_a_position_but_not_into_the_books() -> None:
    records = reconcile_account(
        snapshot=snapshot({BTC: "0.2"}), books={}, open_positions={}, previous_account=None, dust=DUST
    )

    assert [type(r).__name__ for r in records] == ["PositionOpened"]


def test_nothing_to_do_when_the_books_agree_with_the_venue() -> None:
    records = reconcile_account(
        snapshot=snapshot({BTC: "0.03"}, account="paper run 1"),
        books={BTC: lots(BTC, "0.03", "3")},
        open_positions={BTC: D("0.03")},
        previous_account=("paper", "paper run 1"),
        dust=DUST,
    )

    assert records == ()


def test_the_books_write_off_at_cost_and_adopt_at_the_entry_price_without_realizing_pnl() -> None:
    # Bought 0.03 @ 100 and 0.01 @ 110 (cost 4.1); 0.02 sold @ 120 by TP: FIFO 0.02 of the first lot,
    # realized 2.4 - 2 = 0.4. At the next start the venue holds none: 0.01 @ 100 + 0.01 @ 110 written
    # off (cost 2.1), realized unchanged. Then 1 adopted @ 105 is the only open lot.
    fills = [
        Fill(BTC, Side.BUY, D("0.03"), D(100), 1 * NS_PER_S, reason="entry"),
        Fill(BTC, Side.BUY, D("0.01"), D(110), 2 * NS_PER_S, reason="entry"),
        Fill(BTC, Side.SELL, D("0.02"), D(120), 3 * NS_PER_S, reason="take_profit", client_order_id="tp"),
        Fill(BTC, Side.SELL, D("0.02"), D(105), 4 * NS_PER_S, reason="reconciled", kind=FillKind.RECONCILED),
        Fill(BTC, Side.BUY, D(1), D(105), 5 * NS_PER_S, reason="adopted", kind=FillKind.ADOPTED),
    ]

    report = compute_pnl(fills)

    assert report.overall.realized_pnl == D("0.4")
    assert report.overall.closed_trades == 1 and report.overall.reconciled_qty == D("0.02")
    (written_off,) = report.written_off
    assert (written_off.qty, written_off.cost, written_off.opened_ns) == (D("0.02"), D("2.1"), NS_PER_S)
    (open_lot,) = report.open_lots
    assert (open_lot.qty, open_lot.cost, open_lot.opened_ns) == (D(1), D(105), 5 * NS_PER_S)


def test_a_fill_made_before_the_start_up_but_heard_after_it_was_counted_by_its_reconciliation() -> None:
    assert made_before_startup(venue_ts_ns=T - 1, startup_ns=T) and made_before_startup(
        venue_ts_ns=T, startup_ns=T
    )
    assert not made_before_startup(venue_ts_ns=T + 1, startup_ns=T)
    assert not made_before_startup(venue_ts_ns=0, startup_ns=T)  # the venue did not say when
    assert not made_before_startup(venue_ts_ns=T - 1, startup_ns=None)  # no start-up reconciled yet


def test_a_counted_fill_made_again_after_the_start_up_was_lost_by_the_venue() -> None:
    assert lost_by_the_venue(venue_ts_ns=T + 1, startup_ns=T, counted_ns=T - 1)
    assert not lost_by_the_venue(venue_ts_ns=T - 2, startup_ns=T, counted_ns=T - 1)  # a replay
    assert not lost_by_the_venue(venue_ts_ns=T + 2, startup_ns=T, counted_ns=T + 1)  # counted again already
    assert not lost_by_the_venue(venue_ts_ns=T + 1, startup_ns=None, counted_ns=T - 1)


def test_an_explained_buy_replaces_the_adoption_and_an_explained_sale_the_write_off() -> None:
    adopted = Fill(BTC, Side.BUY, D("0.999"), D(101), T, kind=FillKind.ADOPTED)
    late_buy = Fill(BTC, Side.BUY, D(1), D(100), T + 1, D("0.001"), "BTC", "entry", kind=FillKind.EXPLAINED)
    report = compute_pnl([adopted, late_buy])
    (held,) = report.open_lots
    assert (held.qty, held.cost) == (D("0.999"), D(100))

    bought = Fill(BTC, Side.BUY, D(1), D(100), 1)
    written_off = Fill(BTC, Side.SELL, D(1), D(100), T, kind=FillKind.RECONCILED)
    late_sale = Fill(BTC, Side.SELL, D("0.4"), D(110), T + 1, reason="take_profit", kind=FillKind.EXPLAINED)
    report = compute_pnl([bought, written_off, late_sale])
    (trade,) = report.trades
    assert trade.realized_pnl == D(4) and report.open_lots == ()
    (still_off,) = report.written_off
    assert (still_off.qty, still_off.cost) == (D("0.6"), D(60))
