"""The report document and the run summary: numbers at the symbol's precision, deterministic."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from autohedge.core.clock import NS_PER_S
from autohedge.core.pnl import Fill, compute_pnl
from autohedge.core.types import Side
from autohedge.reporting.document import report_document, report_table, run_summary, summary_table
from autohedge.reporting.html import render_html

D = Decimal
STEPS = {"BTC/USDT": (D("0.01"), D("0.000001"))}
T0 = 1_767_225_600 * NS_PER_S  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: Decimal
    entry_price: Decimal | None
    last_price: Decimal | None
    take_profit: Decimal | None
    stop_loss: Decimal | None
    protected: bool


def _report() -> dict[str, Any]:
    fills = [
        Fill("BTC/USDT", Side.BUY, D("0.001665"), D("60049.26"), T0, D("0.000001665"), "BTC", "entry"),
        Fill(
            "BTC/USDT",
            Side.SELL,
            D("0.001663"),
            D("60289.46"),
            T0 + 30 * NS_PER_S,
            D("0.1002"),
            "USDT",
            "take_profit",
        ),
    ]
    return report_document(compute_pnl(fills, dust={"BTC/USDT": D("0.000001")}), STEPS)


def test_document_prices_at_the_tick_quantities_at_the_lot_money_with_two_more_decimals() -> None:
    document = _report()

    (trade,) = document["trades"]
    assert trade["entry_price"] == "60049.26" and trade["exit_price"] == "60289.46"
    assert trade["qty"] == "0.001663" and trade["opened"] == "2026-01-01T00:00:00.000+00:00"
    assert len(trade["realized_pnl"].split(".")[1]) == 4 and trade["reason"] == "take_profit"
    assert document["overall"]["closed_trades"] == 1
    assert document == _report()  # same fills, same document


def test_report_table_lists_each_symbol_and_all() -> None:
    table = report_table(_report())

    assert [line.split()[0] for line in table.splitlines()[1:4]] == ["symbol", "BTC/USDT", "ALL"]


def test_report_shows_a_fee_leftover_below_the_lot_step_as_dust_not_as_an_open_position() -> None:
    # Bought 0.001665 less a 0.000001665 BTC fee, sold 0.001663: 0.000000335 is left, no lot to sell.
    document = _report()

    assert document["open_positions"] == []
    (dust,) = document["dust"]
    assert (dust["symbol"], dust["qty"]) == ("BTC/USDT", "0.00000034")
    table = report_table(document)
    assert (
        "open:" not in table and "dust (below the lot step, fees paid in the base asset): BTC/USDT" in table
    )
    page = render_html(document)
    assert "Dust below the lot step" in page and '<td colspan="4">none</td>' in page


def test_run_summary_unrealized_at_the_last_bid_and_protection() -> None:
    positions = [
        Position("BTC/USDT", D("0.016634"), D("60227.46"), D("60148.79"), D("60468.37"), D("60046.77"), True),
        Position("BTC/USDT", D("0.001"), D("60000"), None, None, None, False),
    ]

    summary = run_summary(None, positions, STEPS)

    assert summary["trades"] == 0 and summary["realized_pnl"] == "0.0000"
    assert summary["open_positions"][0]["unrealized_pnl"] == "-1.3086"  # (60148.79 - 60227.46) * 0.016634
    assert summary["unrealized_pnl"] == "-1.3086"
    table = summary_table(summary)
    assert "TP 60468.37 / SL 60046.77" in table and "UNPROTECTED" in table
    assert all(line == line.rstrip() for line in table.splitlines())
