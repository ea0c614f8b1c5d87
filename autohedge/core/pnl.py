"""Profit and loss from fills: FIFO lots per symbol, fees in the base or the quote asset.

Pure: no I/O, no clock. The journal, the run summary, the API and the reports all compute P&L here.

* A buy adds a lot. A fee in the base asset makes the lot smaller (the venue kept part of what was
  bought) at the same cost; a fee in the quote asset makes it dearer.
* A sell consumes lots oldest first. A fee in the base asset consumes more of the lots; a fee in the
  quote asset reduces the proceeds. Realized P&L = proceeds - cost of what was consumed, so it is
  after every fee of the round trip.
* A fee in a third asset (e.g. a venue token) has no quote value here: it is counted in
  ``other_fees`` and left out of the P&L.
* A sell of more than the known lots (a position bought before the journal started) is matched at
  its own price: no P&L is invented; the quantity is reported as ``unmatched_qty``.
* A *trade* is one exit order (take-profit, stop-loss, close; all its fills) with the lots it
  consumed: opened when the oldest of those lots was bought, closed at the sale. A position built
  from several entries and closed by one exit is one trade.
* A symbol is *in the market* while more than its dust is held (what is too small to sell, e.g.
  below the lot step): the exposure.
* Book adjustments from the start-up reconciliation with the venue (``FillKind``): a *reconciled*
  entry writes lots off at their cost (the venue no longer holds them; at what price they went is
  unknown, so no P&L is realized and no trade is counted; they are listed in ``written_off``); an
  *adopted* entry adds a lot the venue holds but no fill explains, at the venue's entry price.
* An *explained* entry is an execution the venue made before a start-up's reconciliation but the
  journal learnt of only after it (the process died in between): that reconciliation already counted
  it (a buy in an adoption, a sale in a write-off), so what it counted is taken back first (adopted
  lots removed; written-off lots restored), then the execution counts as any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from autohedge.core.clock import NS_PER_S
from autohedge.core.types import Side, base_of, quote_of

__all__ = [
    "ClosedTrade",
    "EquityPoint",
    "Fill",
    "FillKind",
    "OpenLots",
    "PnlBook",
    "PnlReport",
    "SymbolStats",
    "WrittenOff",
    "compute_pnl",
]

_ZERO = Decimal(0)


class FillKind(StrEnum):
    """What a journal fill row is: an execution, or a book adjustment of the start-up reconciliation."""

    TRADE = "trade"
    RECONCILED = "reconciled"
    """Held in the books but not by the venue: the lots are written off at their cost."""
    ADOPTED = "adopted"
    """Held by the venue but unknown to the books: a lot at the venue's entry price."""
    EXPLAINED = "explained"
    """An execution an earlier adoption or write-off already counted: that is taken back, then it counts."""


@dataclass(frozen=True)
class Fill:
    """One execution. ``reason`` says why the order existed (entry, take_profit, stop_loss, ...)."""

    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    ts_ns: int
    fee: Decimal = _ZERO
    fee_asset: str = ""
    reason: str = ""
    client_order_id: str = ""
    kind: FillKind = FillKind.TRADE


@dataclass(frozen=True)
class ClosedTrade:
    symbol: str
    opened_ns: int
    closed_ns: int
    qty: Decimal
    """Base quantity sold."""
    entry_price: Decimal
    """Average buy price of the lots the sale consumed (fees excluded)."""
    exit_price: Decimal
    """Average sell price."""
    realized_pnl: Decimal
    """Quote currency, after the sale's fee and the buy fees of the lots it consumed."""
    fees: Decimal
    """Those fees, valued in the quote currency at their fill prices."""
    reason: str
    """Why the sell happened (take_profit, stop_loss, llm_sell, manual, ...)."""
    client_order_id: str = ""
    """The exit order (its fills make one trade)."""

    @property
    def hold_s(self) -> float:
        return (self.closed_ns - self.opened_ns) / NS_PER_S

    @property
    def won(self) -> bool:
        return self.realized_pnl > 0


@dataclass(frozen=True)
class OpenLots:
    """What is still held of a symbol according to the fills, at its cost basis."""

    symbol: str
    qty: Decimal
    cost: Decimal
    opened_ns: int

    @property
    def avg_price(self) -> Decimal | None:
        return self.cost / self.qty if self.qty > 0 else None

    def unrealized(self, mark: Decimal) -> Decimal:
        """P&L if sold at ``mark`` (before the sell's own fee)."""
        return self.qty * mark - self.cost


@dataclass(frozen=True)
class WrittenOff:
    """Lots closed in the books by the reconciliation (reason ``reconciled``): no P&L realized."""

    symbol: str
    opened_ns: int
    closed_ns: int
    qty: Decimal
    cost: Decimal
    """Their cost basis (quote currency), left out of the realized P&L."""

    @property
    def avg_price(self) -> Decimal | None:
        return self.cost / self.qty if self.qty > 0 else None


@dataclass(frozen=True)
class EquityPoint:
    ts_ns: int
    realized_pnl: Decimal
    """Cumulative realized P&L up to and including this instant."""


@dataclass(frozen=True)
class SymbolStats:
    symbol: str
    closed_trades: int
    wins: int
    realized_pnl: Decimal
    fees: Decimal
    other_fees: Decimal
    avg_hold_s: float
    max_drawdown: Decimal
    """Largest fall of cumulative realized P&L from a previous peak (>= 0)."""
    exposure_pct: float
    """Percent of the period with a position open (overall: the average over symbols)."""
    max_exposure: Decimal
    """Largest cost basis held at once (quote currency)."""
    unmatched_qty: Decimal
    reconciled_qty: Decimal = _ZERO
    """Written off by the start-up reconciliation (see ``WrittenOff``)."""

    @property
    def win_rate(self) -> float:
        return self.wins / self.closed_trades if self.closed_trades else 0.0


@dataclass(frozen=True)
class PnlReport:
    start_ns: int
    end_ns: int
    overall: SymbolStats
    symbols: tuple[SymbolStats, ...]
    trades: tuple[ClosedTrade, ...]
    open_lots: tuple[OpenLots, ...]
    """What is held beyond each symbol's dust: the open positions."""
    equity: tuple[EquityPoint, ...]
    written_off: tuple[WrittenOff, ...] = ()
    dust: tuple[OpenLots, ...] = ()
    """What is held but no more than the symbol's dust (e.g. a fee in the base asset left less than a
    lot step): not a position, nothing can sell it."""


@dataclass
class _Lot:
    qty: Decimal
    """Held (after a buy fee in the base asset)."""
    cost: Decimal
    """Quote paid, buy fee included."""
    bought_qty: Decimal
    notional: Decimal
    """``bought_qty`` times the fill price: the average entry price without fees."""
    fee_value: Decimal
    opened_ns: int
    adopted: bool = False
    """Added by the reconciliation (held by the venue, no fill known), not by an execution."""

    def take(self, qty: Decimal) -> _Lot:
        """Split off ``qty`` (< self.qty) in proportion; this lot keeps the rest."""
        whole = self.qty  # multiply before dividing: exact whenever the true share is

        part = _Lot(
            qty,
            self.cost * qty / whole,
            self.bought_qty * qty / whole,
            self.notional * qty / whole,
            self.fee_value * qty / whole,
            self.opened_ns,
            self.adopted,
        )
        self.qty -= qty
        self.cost -= part.cost
        self.bought_qty -= part.bought_qty
        self.notional -= part.notional
        self.fee_value -= part.fee_value
        return part


@dataclass
class _Book:
    """FIFO state of one symbol."""

    symbol: str
    dust: Decimal
    lots: list[_Lot] = field(default_factory=list)
    trades: list[ClosedTrade] = field(default_factory=list)
    realized: Decimal = _ZERO
    fees: Decimal = _ZERO
    other_fees: Decimal = _ZERO
    unmatched: Decimal = _ZERO
    written_off: list[WrittenOff] = field(default_factory=list)
    pnl_events: list[tuple[int, Decimal]] = field(default_factory=list)
    exposure_changes: list[tuple[int, Decimal]] = field(default_factory=list)
    open_since_ns: int | None = None
    in_market_ns: int = 0

    @property
    def held(self) -> Decimal:
        return sum((lot.qty for lot in self.lots), _ZERO)

    @property
    def cost(self) -> Decimal:
        return sum((lot.cost for lot in self.lots), _ZERO)

    def apply(self, fill: Fill) -> None:
        if fill.kind is FillKind.RECONCILED:
            self._write_off(fill)
        elif fill.kind is FillKind.ADOPTED:
            notional = fill.qty * fill.price
            self.lots.append(_Lot(fill.qty, notional, fill.qty, notional, _ZERO, fill.ts_ns, adopted=True))
        else:
            if fill.kind is FillKind.EXPLAINED:
                self._take_back(fill)
            self._trade(fill)
        self._track_exposure(fill.ts_ns)

    def _write_off(self, fill: Fill) -> None:
        consumed = self._consume(fill.qty)[0]
        if consumed:
            self.written_off.append(
                WrittenOff(
                    symbol=self.symbol,
                    opened_ns=min(lot.opened_ns for lot in consumed),
                    closed_ns=fill.ts_ns,
                    qty=sum((lot.qty for lot in consumed), _ZERO),
                    cost=sum((lot.cost for lot in consumed), _ZERO),
                )
            )

    def _take_back(self, fill: Fill) -> None:
        """Undo what the last reconciliation counted of ``fill``: of a buy, the holding it adopted (the
        newest adopted lot); of a sale, what it wrote off (its newest write-off, restored at its cost
        as the oldest lot, as it was)."""
        base_fee = fill.fee if fill.fee_asset == base_of(fill.symbol) else _ZERO
        if fill.side is Side.BUY:
            adopted = next((lot for lot in reversed(self.lots) if lot.adopted), None)
            if adopted is not None:
                held = fill.qty - base_fee
                if adopted.qty <= held:
                    self.lots.remove(adopted)
                else:
                    adopted.take(held)
            return
        if self.written_off:
            last = self.written_off.pop()
            qty = min(fill.qty + base_fee, last.qty)
            cost = last.cost * qty / last.qty
            self.lots.insert(0, _Lot(qty, cost, qty, cost, _ZERO, last.opened_ns))
            if qty < last.qty:
                self.written_off.append(replace(last, qty=last.qty - qty, cost=last.cost - cost))

    def _consume(self, qty: Decimal) -> tuple[list[_Lot], Decimal]:
        """Take ``qty`` off the lots, oldest first: the lots taken and what the lots could not cover."""
        consumed: list[_Lot] = []
        remaining = qty
        while remaining > 0 and self.lots:
            lot = self.lots[0]
            if lot.qty <= remaining:
                consumed.append(self.lots.pop(0))
                remaining -= lot.qty
            else:
                consumed.append(lot.take(remaining))
                remaining = _ZERO
        return consumed, remaining

    def _trade(self, fill: Fill) -> None:
        base, quote = base_of(fill.symbol), quote_of(fill.symbol)
        notional = fill.qty * fill.price
        fee_value = _ZERO
        if fill.fee and fill.fee_asset == base:
            fee_value = fill.fee * fill.price
        elif fill.fee and fill.fee_asset == quote:
            fee_value = fill.fee
        elif fill.fee:
            self.other_fees += fill.fee
        self.fees += fee_value
        if fill.side is Side.BUY:
            qty = fill.qty - fill.fee if fill.fee_asset == base else fill.qty
            cost = notional + fill.fee if fill.fee_asset == quote else notional
            if qty > 0:
                self.lots.append(_Lot(qty, cost, fill.qty, notional, fee_value, fill.ts_ns))
        else:
            self._sell(fill, notional, base, quote, fee_value)

    def _track_exposure(self, ts_ns: int) -> None:
        self.exposure_changes.append((ts_ns, self.cost))
        in_market = self.held > self.dust
        if in_market and self.open_since_ns is None:
            self.open_since_ns = ts_ns
        elif not in_market and self.open_since_ns is not None:
            self.in_market_ns += ts_ns - self.open_since_ns
            self.open_since_ns = None

    def _sell(self, fill: Fill, notional: Decimal, base: str, quote: str, fee_value: Decimal) -> None:
        consume = fill.qty + fill.fee if fill.fee_asset == base else fill.qty
        proceeds = notional - fill.fee if fill.fee_asset == quote else notional
        consumed, remaining = self._consume(consume)
        basis = sum((lot.cost for lot in consumed), _ZERO)
        if remaining > 0:
            # Sold more than the fills show was bought: match the rest at this price, no P&L invented.
            self.unmatched += remaining
            basis += remaining * fill.price
        pnl = proceeds - basis
        self.realized += pnl
        self.pnl_events.append((fill.ts_ns, pnl))
        if not consumed:
            return  # nothing known was sold: no trade to report
        bought_qty = sum((lot.bought_qty for lot in consumed), _ZERO)
        trade = ClosedTrade(
            symbol=self.symbol,
            opened_ns=min(lot.opened_ns for lot in consumed),
            closed_ns=fill.ts_ns,
            qty=fill.qty,
            entry_price=sum((lot.notional for lot in consumed), _ZERO) / bought_qty if bought_qty else _ZERO,
            exit_price=fill.price,
            realized_pnl=pnl,
            fees=fee_value + sum((lot.fee_value for lot in consumed), _ZERO),
            reason=fill.reason,
            client_order_id=fill.client_order_id,
        )
        previous = self.trades[-1] if self.trades else None
        if previous is not None and fill.client_order_id and previous.client_order_id == fill.client_order_id:
            self.trades[-1] = _merge(previous, trade)  # another fill of the same exit order
        else:
            self.trades.append(trade)


def _merge(first: ClosedTrade, second: ClosedTrade) -> ClosedTrade:
    qty = first.qty + second.qty
    return ClosedTrade(
        symbol=first.symbol,
        opened_ns=min(first.opened_ns, second.opened_ns),
        closed_ns=second.closed_ns,
        qty=qty,
        entry_price=(first.entry_price * first.qty + second.entry_price * second.qty) / qty,
        exit_price=(first.exit_price * first.qty + second.exit_price * second.qty) / qty,
        realized_pnl=first.realized_pnl + second.realized_pnl,
        fees=first.fees + second.fees,
        reason=second.reason,
        client_order_id=second.client_order_id,
    )


def _drawdown(events: Iterable[tuple[int, Decimal]]) -> Decimal:
    peak = equity = worst = _ZERO
    for _, pnl in events:
        equity += pnl
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def _max_exposure(changes: Iterable[tuple[int, Decimal]]) -> Decimal:
    return max((cost for _, cost in changes), default=_ZERO)


def _stats(name: str, books: list[_Book], span_ns: int, end_ns: int) -> SymbolStats:
    trades = [t for b in books for t in b.trades]
    events = sorted((e for b in books for e in b.pnl_events), key=lambda e: e[0])
    in_market_ns = 0
    for book in books:
        in_market_ns += book.in_market_ns
        if book.open_since_ns is not None:
            in_market_ns += max(0, end_ns - book.open_since_ns)
    exposure = min(1.0, in_market_ns / span_ns / max(1, len(books))) if span_ns > 0 and books else 0.0
    if len(books) == 1:
        max_exposure = _max_exposure(books[0].exposure_changes)
    else:
        # Overall: the sum of every symbol's cost basis at each change, in time order.
        current: dict[str, Decimal] = {}
        max_exposure = _ZERO
        changes = sorted(
            ((ts, b.symbol, cost) for b in books for ts, cost in b.exposure_changes), key=lambda c: c[0]
        )
        for _, symbol, cost in changes:
            current[symbol] = cost
            max_exposure = max(max_exposure, sum(current.values(), _ZERO))
    return SymbolStats(
        symbol=name,
        closed_trades=len(trades),
        wins=sum(1 for t in trades if t.won),
        realized_pnl=sum((b.realized for b in books), _ZERO),
        fees=sum((b.fees for b in books), _ZERO),
        other_fees=sum((b.other_fees for b in books), _ZERO),
        avg_hold_s=sum(t.hold_s for t in trades) / len(trades) if trades else 0.0,
        max_drawdown=_drawdown(events),
        exposure_pct=round(exposure * 100, 4),
        max_exposure=max_exposure,
        unmatched_qty=sum((b.unmatched for b in books), _ZERO),
        reconciled_qty=sum((w.qty for b in books for w in b.written_off), _ZERO),
    )


class PnlBook:
    """FIFO books of every symbol, fed fill by fill (in time order), reported at any moment.

    Lets a long-running reader (the control API) add only the fills that are new since its last
    report instead of replaying the whole journal. Not thread-safe: one owner at a time.
    """

    def __init__(self, dust: Mapping[str, Decimal] | None = None) -> None:
        """``dust``: per symbol, the held quantity at or below which it is out of the market."""
        self._dust = dict(dust or {})
        self._books: dict[str, _Book] = {}
        self._first_ns: int | None = None
        self._last_ns = 0

    def add(self, fill: Fill) -> None:
        book = self._books.get(fill.symbol)
        if book is None:
            book = self._books[fill.symbol] = _Book(fill.symbol, self._dust.get(fill.symbol, _ZERO))
        book.apply(fill)
        self._first_ns = fill.ts_ns if self._first_ns is None else min(self._first_ns, fill.ts_ns)
        self._last_ns = max(self._last_ns, fill.ts_ns)

    def report(self, *, start_ns: int | None = None, end_ns: int | None = None) -> PnlReport:
        """``start_ns``/``end_ns`` bound the period used for exposure (default: first to last fill)."""
        start = (self._first_ns or 0) if start_ns is None else start_ns
        end = max(self._last_ns, start) if end_ns is None else end_ns
        span = max(0, end - start)
        symbol_books = [self._books[s] for s in sorted(self._books)]
        held = self.holdings()
        equity: list[EquityPoint] = []
        total = _ZERO
        for ts_ns, pnl in sorted((e for b in symbol_books for e in b.pnl_events), key=lambda e: e[0]):
            total += pnl
            equity.append(EquityPoint(ts_ns, total))
        return PnlReport(
            start_ns=start,
            end_ns=end,
            overall=_stats("ALL", symbol_books, span, end),
            symbols=tuple(_stats(b.symbol, [b], span, end) for b in symbol_books),
            trades=tuple(sorted((t for b in symbol_books for t in b.trades), key=lambda t: t.closed_ns)),
            open_lots=tuple(held[s] for s in sorted(held) if held[s].qty > self._dust.get(s, _ZERO)),
            equity=tuple(equity),
            written_off=tuple(
                sorted((w for b in symbol_books for w in b.written_off), key=lambda w: w.closed_ns)
            ),
            dust=tuple(held[s] for s in sorted(held) if held[s].qty <= self._dust.get(s, _ZERO)),
        )

    def holdings(self) -> dict[str, OpenLots]:
        """What the fills so far leave held, per symbol (symbols with lots only)."""
        return {
            b.symbol: OpenLots(b.symbol, b.held, b.cost, b.lots[0].opened_ns)
            for b in self._books.values()
            if b.lots
        }


def compute_pnl(
    fills: Iterable[Fill],
    *,
    dust: Mapping[str, Decimal] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    oldest_first: bool = False,
) -> PnlReport:
    """Per-symbol and overall statistics of ``fills`` (any order; sorted by time, stable).

    ``dust``: per symbol, the held quantity at or below which it is out of the market (the lot
    step: what the venue would not let us sell). ``start_ns``/``end_ns`` bound the period used for
    exposure (default: first fill to last fill). ``oldest_first``: the fills come sorted already (a
    journal read), so they are added as they come and never all held at once.
    """
    book = PnlBook(dust)
    for fill in fills if oldest_first else sorted(fills, key=lambda f: f.ts_ns):
        book.add(fill)
    return book.report(start_ns=start_ns, end_ns=end_ns)
