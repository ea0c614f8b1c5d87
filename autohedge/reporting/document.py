"""The report as a JSON-ready document, every number at its symbol's precision.

Deterministic: the same fills give the same document, key order included (``report.json`` of two
backtests of the same replay compare equal byte for byte).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from autohedge.core.clock import NS_PER_S
from autohedge.core.pnl import PnlReport, SymbolStats
from autohedge.core.precision import decimals_of, money_text, step_text
from autohedge.core.types import CloseReason

__all__ = [
    "OpenPosition",
    "Steps",
    "finest_tick",
    "iso",
    "report_document",
    "report_table",
    "run_summary",
    "summary_table",
]

Steps = Mapping[str, tuple[Decimal, Decimal]]
"""symbol -> (tick size, lot step)."""


def iso(ts_ns: int) -> str:
    """UTC ISO-8601 with milliseconds."""
    return datetime.fromtimestamp(ts_ns / NS_PER_S, tz=UTC).isoformat(timespec="milliseconds")


def finest_tick(steps: Steps, symbols: Sequence[str]) -> Decimal | None:
    """The tick with the most decimals among ``symbols`` (money across symbols shows that many)."""
    ticks = [steps[s][0] for s in symbols if s in steps]
    return max(ticks, key=decimals_of) if ticks else None


def _stats(stats: SymbolStats, tick: Decimal | None, lot: Decimal | None) -> dict[str, Any]:
    return {
        "closed_trades": stats.closed_trades,
        "wins": stats.wins,
        "win_rate": round(stats.win_rate, 4),
        "realized_pnl": money_text(stats.realized_pnl, tick),
        "fees": money_text(stats.fees, tick),
        "other_fees": step_text(stats.other_fees, None),
        "avg_hold_s": round(stats.avg_hold_s, 3),
        "max_drawdown": money_text(stats.max_drawdown, tick),
        "exposure_pct": round(stats.exposure_pct, 2),
        "max_exposure": money_text(stats.max_exposure, tick),
        "unmatched_qty": step_text(stats.unmatched_qty, lot),
        "reconciled_qty": step_text(stats.reconciled_qty, lot),
    }


def report_document(report: PnlReport, steps: Steps) -> dict[str, Any]:
    """Per symbol and overall statistics, the closed trades, open lots and the equity curve."""
    symbols = [s.symbol for s in report.symbols]
    overall_tick = finest_tick(steps, symbols)

    def tick(symbol: str) -> Decimal | None:
        return steps[symbol][0] if symbol in steps else None

    def lot(symbol: str) -> Decimal | None:
        return steps[symbol][1] if symbol in steps else None

    return {
        "period": {"start": iso(report.start_ns), "end": iso(report.end_ns)},
        "overall": _stats(report.overall, overall_tick, None),
        "symbols": {s.symbol: _stats(s, tick(s.symbol), lot(s.symbol)) for s in report.symbols},
        "trades": [
            {
                "symbol": t.symbol,
                "opened": iso(t.opened_ns),
                "closed": iso(t.closed_ns),
                "hold_s": round(t.hold_s, 3),
                "qty": step_text(t.qty, lot(t.symbol)),
                "entry_price": step_text(t.entry_price, tick(t.symbol)),
                "exit_price": step_text(t.exit_price, tick(t.symbol)),
                "realized_pnl": money_text(t.realized_pnl, tick(t.symbol)),
                "fees": money_text(t.fees, tick(t.symbol)),
                "reason": t.reason,
            }
            for t in report.trades
        ],
        "open_positions": [
            {
                "symbol": o.symbol,
                "qty": step_text(o.qty, lot(o.symbol)),
                "avg_price": step_text(o.avg_price, tick(o.symbol)),
                "cost": money_text(o.cost, tick(o.symbol)),
                "opened": iso(o.opened_ns) if o.opened_ns else None,
            }
            for o in report.open_lots
        ],
        # Below the lot step (a fee in the base asset left it): held, but no position and nothing sells it.
        "dust": [
            {"symbol": d.symbol, "qty": step_text(d.qty, None), "cost": money_text(d.cost, tick(d.symbol))}
            for d in report.dust
        ],
        # Closed in the books because the venue no longer held them at a start-up: at their cost,
        # no P&L realized (the price they went at is unknown).
        "reconciled": [
            {
                "symbol": w.symbol,
                "opened": iso(w.opened_ns),
                "closed": iso(w.closed_ns),
                "qty": step_text(w.qty, lot(w.symbol)),
                "avg_price": step_text(w.avg_price, tick(w.symbol)),
                "cost": money_text(w.cost, tick(w.symbol)),
                "reason": CloseReason.RECONCILED.value,
            }
            for w in report.written_off
        ],
        "equity": [[iso(p.ts_ns), money_text(p.realized_pnl, overall_tick)] for p in report.equity],
    }


class OpenPosition(Protocol):
    """What the summary needs of a position (the monitor's ``MonitoredPosition``)."""

    @property
    def symbol(self) -> str: ...
    @property
    def qty(self) -> Decimal: ...
    @property
    def entry_price(self) -> Decimal | None: ...
    @property
    def last_price(self) -> Decimal | None: ...
    @property
    def take_profit(self) -> Decimal | None: ...
    @property
    def stop_loss(self) -> Decimal | None: ...
    @property
    def protected(self) -> bool: ...


def run_summary(report: PnlReport | None, positions: Sequence[OpenPosition], steps: Steps) -> dict[str, Any]:
    """The figures ``run`` prints and adds to ``--summary-json``: this run's trades and P&L, and the
    positions still open with their unrealized P&L (at the last bid) and protection."""
    symbols = sorted({s.symbol for s in report.symbols} if report else set())
    tick = finest_tick(steps, symbols or list(steps))
    open_positions = []
    unrealized_total = Decimal(0)
    for p in positions:
        symbol = p.symbol
        sym_tick, sym_lot = steps.get(symbol, (None, None))
        last, entry, qty = p.last_price, p.entry_price, p.qty
        unrealized = (last - entry) * qty if last is not None and entry is not None else None
        unrealized_total += unrealized or 0
        open_positions.append(
            {
                "symbol": symbol,
                "qty": step_text(qty, sym_lot),
                "entry_price": step_text(entry, sym_tick),
                "last_price": step_text(last, sym_tick),
                "unrealized_pnl": money_text(unrealized, sym_tick),
                "protected": p.protected,
                "take_profit": step_text(p.take_profit, sym_tick),
                "stop_loss": step_text(p.stop_loss, sym_tick),
            }
        )
    overall = report.overall if report else None
    return {
        "trades": overall.closed_trades if overall else 0,
        "wins": overall.wins if overall else 0,
        "win_rate": round(overall.win_rate, 4) if overall else 0.0,
        "realized_pnl": money_text(overall.realized_pnl if overall else Decimal(0), tick),
        "fees": money_text(overall.fees if overall else Decimal(0), tick),
        "unrealized_pnl": money_text(unrealized_total, tick),
        "open_positions": open_positions,
    }


def summary_table(summary: Mapping[str, Any]) -> str:
    """A short plain-text table of ``run_summary``."""
    headline = (
        f"trades {summary['trades']}  win rate {summary['win_rate'] * 100:.1f}%  "
        f"realized P&L {summary['realized_pnl']} (after fees)  fees {summary['fees']}  "
        f"unrealized {summary['unrealized_pnl']}"
    )
    lines = [headline]
    positions = summary["open_positions"]
    if not positions:
        lines.append("open positions: none")
        return "\n".join(lines)
    header = ("symbol", "qty", "entry", "last", "unrealized", "protection")
    rows = [header] + [
        (
            p["symbol"],
            p["qty"],
            p["entry_price"] or "-",
            p["last_price"] or "-",
            p["unrealized_pnl"] or "-",
            f"TP {p['take_profit']} / SL {p['stop_loss']}" if p["protected"] else "UNPROTECTED",
        )
        for p in positions
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines.append("open positions:")
    lines += [
        ("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True))).rstrip() for row in rows
    ]
    return "\n".join(lines)


def report_table(document: Mapping[str, Any]) -> str:
    """A plain-text table of a ``report_document``: per symbol and overall."""
    header = (
        "symbol",
        "trades",
        "win rate",
        "realized P&L",
        "fees",
        "avg hold s",
        "max drawdown",
        "exposure",
    )
    rows = [header]
    for name, s in [*document["symbols"].items(), ("ALL", document["overall"])]:
        rows.append(
            (
                name,
                str(s["closed_trades"]),
                f"{s['win_rate'] * 100:.1f}%",
                s["realized_pnl"],
                s["fees"],
                f"{s['avg_hold_s']:.1f}",
                s["max_drawdown"],
                f"{s['exposure_pct']:.1f}%",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    period = document["period"]
    lines = [f"{period['start']} to {period['end']} (P&L after fees, FIFO per symbol)"]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if document["open_positions"]:
        lines.append(
            "open: "
            + ", ".join(f"{o['symbol']} {o['qty']} @ {o['avg_price']}" for o in document["open_positions"])
        )
    if document["dust"]:
        lines.append(
            "dust (below the lot step, fees paid in the base asset): "
            + ", ".join(f"{d['symbol']} {d['qty']}" for d in document["dust"])
        )
    if document["reconciled"]:
        lines.append(
            "closed as reconciled (the venue no longer held them; no P&L realized): "
            + ", ".join(f"{w['symbol']} {w['qty']} @ {w['avg_price']}" for w in document["reconciled"])
        )
    return "\n".join(lines)
