"""The report as one self-contained HTML page: equity curve, per-symbol P&L bars, trade table.

Plots are drawn by matplotlib (Agg, no display) as inline SVG. Fixed SVG ids (``svg.hashsalt``), no
date in the metadata and text kept as text make the page byte-for-byte reproducible.
"""

from __future__ import annotations

import io
from datetime import datetime
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: render to files, never to a display

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

__all__ = ["render_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.pos { color: #17702c; } .neg { color: #b3261e; }
figure { margin: 1rem 0; }
"""

_RC: Any = {
    "svg.hashsalt": "autohedge-report",
    "svg.fonttype": "none",
    "figure.dpi": 100,
    "font.size": 9,
    "date.epoch": "1970-01-01T00:00:00",
}


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: inline in HTML


def _equity_svg(document: dict[str, Any]) -> str:
    points = document["equity"]
    with plt.rc_context(_RC):
        figure, axes = plt.subplots(figsize=(9, 3))
        if points:
            # Matplotlib date numbers: days since its epoch, pinned to the Unix epoch in _RC.
            times = [datetime.fromisoformat(p[0]).timestamp() / 86_400 for p in points]
            values = [float(p[1]) for p in points]  # float only to draw
            axes.step(times, values, where="post", color="#1f5fbf")
            axes.axhline(0, color="#999", linewidth=0.8)
            locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
            axes.xaxis.set_major_locator(locator)
            axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        else:
            axes.text(0.5, 0.5, "no realized P&L yet", ha="center", va="center", transform=axes.transAxes)
        axes.set_title("Equity curve: cumulative realized P&L after fees")
        axes.set_ylabel("quote currency")
        return _svg(figure)


def _symbols_svg(document: dict[str, Any]) -> str:
    symbols = list(document["symbols"])
    values = [float(document["symbols"][s]["realized_pnl"]) for s in symbols]
    with plt.rc_context(_RC):
        figure, axes = plt.subplots(figsize=(9, 0.6 + 0.45 * max(1, len(symbols))))
        if symbols:
            colors = ["#17702c" if v >= 0 else "#b3261e" for v in values]
            axes.barh(symbols, values, color=colors)
            axes.axvline(0, color="#999", linewidth=0.8)
            axes.invert_yaxis()
        axes.set_title("Realized P&L per symbol")
        return _svg(figure)


def _when(iso_time: str) -> str:
    """``2026-01-31T12:00:05.250+00:00`` -> ``2026-01-31 12:00:05`` (the page says UTC once)."""
    return iso_time[:19].replace("T", " ")


def _cls(value: str | None) -> str:
    if value is None:
        return ""
    return ' class="neg"' if value.startswith("-") else ' class="pos"'


def _stats_rows(document: dict[str, Any]) -> str:
    rows = [("all symbols", document["overall"]), *document["symbols"].items()]
    out = []
    for name, s in rows:
        out.append(
            f"<tr><td>{escape(name)}</td><td>{s['closed_trades']}</td><td>{s['win_rate'] * 100:.1f}%</td>"
            f"<td{_cls(s['realized_pnl'])}>{escape(s['realized_pnl'])}</td><td>{escape(s['fees'])}</td>"
            f"<td>{s['avg_hold_s']:.1f}</td><td>{escape(s['max_drawdown'])}</td>"
            f"<td>{s['exposure_pct']:.1f}%</td><td>{escape(s['max_exposure'])}</td></tr>"
        )
    return "\n".join(out)


def _trade_rows(document: dict[str, Any]) -> str:
    out = []
    for t in reversed(document["trades"]):
        before = (
            t["symbol"],
            _when(t["opened"]),
            _when(t["closed"]),
            f"{t['hold_s']:.1f}",
            t["qty"],
            t["entry_price"],
            t["exit_price"],
        )
        pnl = f"<td{_cls(t['realized_pnl'])}>{escape(t['realized_pnl'])}</td>"
        after = "".join(f"<td>{escape(str(c))}</td>" for c in (t["fees"], t["reason"]))
        out.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in before) + pnl + after + "</tr>")
    return "\n".join(out) or '<tr><td colspan="10">no closed trades</td></tr>'


def _dust_note(document: dict[str, Any]) -> str:
    if not document["dust"]:
        return ""
    held = ", ".join(f"{d['symbol']} {d['qty']}" for d in document["dust"])
    return f"<p>Dust below the lot step (fees paid in the base asset), not a position: {escape(held)}</p>"


def render_html(document: dict[str, Any], *, title: str = "autohedge report") -> str:
    """The page for a ``report_document``."""
    period = document["period"]
    open_rows = "\n".join(
        "<tr>"
        + "".join(f"<td>{escape(c)}</td>" for c in (o["symbol"], o["qty"], o["avg_price"] or "-", o["cost"]))
        + "</tr>"
        for o in document["open_positions"]
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p>{escape(_when(period["start"]))} to {escape(_when(period["end"]))} UTC.
P&amp;L from fills, FIFO per symbol, after fees. A trade is one exit order with the entries it sold.</p>
<table>
<thead><tr><th>Symbol</th><th>Closed trades</th><th>Win rate</th><th>Realized P&amp;L</th><th>Fees</th>
<th>Avg hold (s)</th><th>Max drawdown</th><th>Exposure</th><th>Max exposure</th></tr></thead>
<tbody>
{_stats_rows(document)}
</tbody>
</table>
<figure>{_equity_svg(document)}</figure>
<figure>{_symbols_svg(document)}</figure>
<h2>Open positions</h2>
<table>
<thead><tr><th>Symbol</th><th>Qty</th><th>Avg price</th><th>Cost</th></tr></thead>
<tbody>
{open_rows or '<tr><td colspan="4">none</td></tr>'}
</tbody>
</table>
{_dust_note(document)}
<h2>Trades (newest first)</h2>
<table>
<thead><tr><th>Symbol</th><th>Opened (UTC)</th><th>Closed (UTC)</th><th>Hold (s)</th><th>Qty</th>
<th>Entry</th><th>Exit</th><th>P&amp;L</th><th>Fees</th><th>Reason</th></tr></thead>
<tbody>
{_trade_rows(document)}
</tbody>
</table>
</body>
</html>
"""
