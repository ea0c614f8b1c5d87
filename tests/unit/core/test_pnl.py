"""FIFO P&L against hand-worked cases (partial fills, fees in the base and in the quote asset)."""

from __future__ import annotations

from decimal import Decimal

from autohedge.core.clock import NS_PER_S
from autohedge.core.pnl import Fill, compute_pnl
from autohedge.core.types import OrderPurpose, Side
from tests.ids import our_id

D = Decimal

S = "BTC/USDT"


def buy(qty: str, price: str, t_s: int, fee: str = "0", asset: str = "") -> Fill:
    return Fill(S, Side.BUY, D(qty), D(price), t_s * NS_PER_S, D(fee), asset, "entry")


def sell(
    qty: str,
    price: str,
    t_s: int,
    fee: str = "0",
    asset: str = "",
    reason: str = "take_profit",
    coid: str = "",
) -> Fill:
    return Fill(S, Side.SELL, D(qty), D(price), t_s * NS_PER_S, D(fee), asset, reason, coid)


def test_pnl_buy_fee_in_base_sell_fee_in_quote_is_after_both_fees() -> None:
    # Bought 1 @ 100, 0.001 BTC kept as fee: 0.999 held for 100. Sold 0.999 @ 110 = 109.89, fee
    # 0.10989 USDT: 109.78011 - 100 = 9.78011. Fees valued in USDT: 0.001 * 100 + 0.10989.
    report = compute_pnl([buy("1", "100", 0, "0.001", "BTC"), sell("0.999", "110", 60, "0.10989", "USDT")])

    (trade,) = report.trades
    assert trade.realized_pnl == D("9.78011")
    assert trade.fees == D("0.20989")
    assert trade.qty == D("0.999") and trade.entry_price == D(100) and trade.exit_price == D(110)
    assert trade.hold_s == 60.0 and trade.won and trade.reason == "take_profit"
    assert report.overall.realized_pnl == D("9.78011") and report.overall.fees == D("0.20989")
    assert report.open_lots == ()


def test_pnl_partial_fills_of_one_exit_consume_lots_oldest_first_as_one_trade() -> None:
    # Lots: 0.5 for 50.5 (fee 0.5 USDT), 0.5 for 51.51 (fee 0.51 USDT).
    # Exit fill 1: 0.3 @ 105: 31.5 - 0.3/0.5 * 50.5 (30.3) = +1.2.
    # Exit fill 2: 0.7 @ 95: 66.5 - (20.2 + 51.51) = -5.21. Trade: -4.01, entry 101 avg, exit 98 avg.
    fills = [
        buy("0.5", "100", 0, "0.5", "USDT"),
        buy("0.5", "102", 1, "0.51", "USDT"),
        sell("0.3", "105", 2, reason="stop_loss", coid=our_id(OrderPurpose.STOP_LOSS, 1, 0)),
        sell("0.7", "95", 3, reason="stop_loss", coid=our_id(OrderPurpose.STOP_LOSS, 1, 0)),
    ]

    report = compute_pnl(fills)

    (trade,) = report.trades
    assert trade.realized_pnl == D("-4.01") and trade.fees == D("1.01")
    assert trade.entry_price == D(101) and trade.exit_price == D(98) and trade.qty == D(1)
    assert not trade.won and trade.reason == "stop_loss" and trade.hold_s == 3.0
    assert [p.realized_pnl for p in report.equity] == [D("1.2"), D("-4.01")]
    assert report.overall.closed_trades == 1 and report.overall.win_rate == 0.0


def test_pnl_partial_entry_fills_with_fees_in_base_and_a_partially_filled_exit() -> None:
    # The paper default: one entry filled in two parts, 0.1 % of each kept in BTC: lots of 0.4995,
    # each costing 50. One exit filled in two parts, 0.1 % fee in USDT:
    # 0.4995 @ 110 = 54.945 - 0.054945 - 50 = +4.890055; 0.4995 @ 90 = 44.955 - 0.044955 - 50 = -5.089955.
    # Trade: -0.1999, exactly the fees (0.0005 BTC twice at 100, then 0.054945 + 0.044955).
    exit_id = our_id(OrderPurpose.TAKE_PROFIT, 1, 0)
    fills = [
        buy("0.5", "100", 0, "0.0005", "BTC"),
        buy("0.5", "100", 1, "0.0005", "BTC"),
        sell("0.4995", "110", 10, "0.054945", "USDT", coid=exit_id),
        sell("0.4995", "90", 20, "0.044955", "USDT", coid=exit_id),
    ]

    report = compute_pnl(fills)

    (trade,) = report.trades
    assert trade.qty == D("0.999") and trade.entry_price == D(100) and trade.exit_price == D(100)
    assert trade.realized_pnl == D("-0.1999") and trade.fees == D("0.1999")
    assert [p.realized_pnl for p in report.equity] == [D("4.890055"), D("-0.1999")]
    assert trade.hold_s == 20.0 and not trade.won and report.open_lots == ()


def test_pnl_each_exit_order_is_a_trade_of_the_lots_it_consumed() -> None:
    # 1 @ 100 then 1 @ 104; the first exit sells 1 @ 103 (+3, from the lot of t=0), the second
    # sells 1 @ 101 (-3, from the lot of t=10).
    fills = [
        buy("1", "100", 0),
        buy("1", "104", 10),
        sell("1", "103", 20, coid=our_id(OrderPurpose.TAKE_PROFIT, 1, 0)),
        sell("1", "101", 30, reason="stop_loss", coid=our_id(OrderPurpose.STOP_LOSS, 2, 0)),
    ]

    trades = compute_pnl(fills).trades

    assert [(t.opened_ns // NS_PER_S, t.entry_price, t.realized_pnl, t.won) for t in trades] == [
        (0, D(100), D(3), True),
        (10, D(104), D(-3), False),
    ]


def test_pnl_sell_fee_in_base_consumes_more_of_the_lot() -> None:
    # Sell 1 @ 12 with 0.01 BTC fee: 1.01 BTC leave the lots (cost 10.1); 12 - 10.1 = 1.9.
    report = compute_pnl([buy("2", "10", 0), sell("1", "12", 1, "0.01", "BTC")], dust={S: D("0.001")})

    assert report.overall.realized_pnl == D("1.9")
    (trade,) = report.trades
    assert trade.realized_pnl == D("1.9") and trade.fees == D("0.12")  # 0.01 BTC at 12
    (lots,) = report.open_lots
    assert lots.qty == D("0.99") and lots.cost == D("9.9")
    assert lots.unrealized(D(11)) == D("0.99")


def test_pnl_trade_closes_when_only_dust_below_the_lot_step_is_left() -> None:
    # 0.999 held after the base fee; the exit sells 0.99 (lot step 0.01), 0.009 of dust stays.
    report = compute_pnl([buy("1", "100", 0, "0.001", "BTC"), sell("0.99", "110", 5)], dust={S: D("0.01")})

    (trade,) = report.trades
    assert trade.realized_pnl == D("108.9") - D(100) * D("0.99") / D("0.999")
    assert report.open_lots == () and report.dust[0].qty == D("0.009")  # no position: nothing to sell


def test_pnl_max_drawdown_from_peak_of_cumulative_realized() -> None:
    # Cumulative realized: 5, 2, -2, 8 -> deepest fall from the peak of 5 is 7.
    fills = [
        buy("4", "10", 0),
        sell("1", "15", 1),
        sell("1", "7", 2),
        sell("1", "6", 3),
        sell("1", "20", 4),
    ]

    assert compute_pnl(fills).overall.max_drawdown == D(7)


def test_pnl_exposure_is_the_share_of_the_period_in_a_position() -> None:
    report = compute_pnl([buy("1", "10", 0), sell("1", "11", 10)], end_ns=20 * NS_PER_S)

    assert report.overall.exposure_pct == 50.0
    assert report.overall.max_exposure == D(10)
    assert report.overall.avg_hold_s == 10.0


def test_pnl_selling_what_was_bought_before_the_journal_invents_no_pnl() -> None:
    report = compute_pnl([sell("1", "50", 0)])

    assert report.overall.realized_pnl == 0
    assert report.overall.unmatched_qty == D(1)
    assert report.trades == ()


def test_pnl_symbols_are_reported_separately_and_overall() -> None:
    eth = [
        Fill("ETH/USDT", Side.BUY, D(1), D(10), 0),
        Fill("ETH/USDT", Side.SELL, D(1), D(9), NS_PER_S),
    ]

    report = compute_pnl([buy("1", "10", 0), sell("1", "12", 2), *eth])

    assert [s.symbol for s in report.symbols] == ["BTC/USDT", "ETH/USDT"]
    assert [s.realized_pnl for s in report.symbols] == [D(2), D(-1)]
    assert report.overall.realized_pnl == D(1)
    assert report.overall.closed_trades == 2 and report.overall.win_rate == 0.5
    assert report.overall.max_exposure == D(20)
