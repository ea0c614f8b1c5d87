"""The trade journal's vocabulary: the records actors send it, and the pure rules it applies.

Actors tell records to the journal actor (never wait for it). The journal turns order observations
into fills itself: an order's cumulative filled quantity only grows, so a fill is the growth since
the last observation, keyed by the venue trade id when known, else by ``<client id>#<cumulative>``.
A replayed or repeated observation therefore never adds a fill twice.

At start-up the monitor tells an ``AccountSnapshot`` (what the venue holds, once reconciled); the
journal brings its books to agree with it through ``reconcile_account``: the books are kept per
account epoch, so holdings of an account that no longer exists are never reported as open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from autohedge.core.eventlog import Event
from autohedge.core.messages import (
    Message,
    OcoRequest,
    OrderRequest,
    OrderSnapshot,
    OrderUpdate,
    SharedFieldsMessage,
    SymbolRules,
)
from autohedge.core.pnl import FillKind, OpenLots
from autohedge.core.types import CloseReason, OrderPurpose, OrderType, Side, Symbol

__all__ = [
    "AccountSnapshot",
    "BookAdjustment",
    "ExitsArmed",
    "FillDelta",
    "JournalRecord",
    "JournalWriter",
    "OrderIntent",
    "OrderNoted",
    "OrderObserved",
    "PositionClosed",
    "PositionOpened",
    "Reconciled",
    "fill_delta",
    "fill_key",
    "intents_of_oco",
    "lost_by_the_venue",
    "made_before_startup",
    "reconcile_account",
]


class OrderIntent(SharedFieldsMessage):
    """An order about to be sent (recorded before the venue answers)."""

    client_order_id: str
    symbol: Symbol
    side: Side
    purpose: OrderPurpose
    order_type: OrderType = OrderType.LIMIT
    qty: Decimal
    price: Decimal
    stop_price: Decimal | None = None
    reason: str = ""
    ts_init: int

    @classmethod
    def of(cls, request: OrderRequest, *, ts_init: int, reason: str = "") -> OrderIntent:
        return cls(
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            purpose=request.purpose,
            order_type=request.order_type,
            qty=request.qty,
            price=request.price,
            stop_price=request.stop_price,
            reason=reason,
            ts_init=ts_init,
        )


def intents_of_oco(request: OcoRequest, *, ts_init: int, reason: str = "") -> tuple[OrderIntent, ...]:
    """The two legs of an OCO as intents: the take-profit limit and the stop-limit."""
    return (
        OrderIntent(
            client_order_id=request.take_profit_client_order_id,
            symbol=request.symbol,
            side=request.side,
            purpose=OrderPurpose.TAKE_PROFIT,
            qty=request.qty,
            price=request.take_profit_price,
            reason=reason,
            ts_init=ts_init,
        ),
        OrderIntent(
            client_order_id=request.stop_loss_client_order_id,
            symbol=request.symbol,
            side=request.side,
            purpose=OrderPurpose.STOP_LOSS,
            order_type=OrderType.STOP_LIMIT,
            qty=request.qty,
            price=request.stop_limit_price,
            stop_price=request.stop_price,
            reason=reason,
            ts_init=ts_init,
        ),
    )


class OrderObserved(Message):
    """The venue's view of an order (after submit, poll, cancel or query)."""

    order: OrderSnapshot
    ts_init: int


class OrderNoted(Message):
    """A state the venue did not report itself: rejected before sending, outcome unknown, never
    placed (after asking), skipped (venue pushback), gone (unknown to the venue)."""

    client_order_id: str
    symbol: Symbol
    status: str
    detail: str = ""
    ts_init: int


class PositionOpened(Message):
    symbol: Symbol
    qty: Decimal
    entry_price: Decimal | None = None
    adopted: bool = False
    ts_init: int


class ExitsArmed(Message):
    symbol: Symbol
    qty: Decimal
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    client_order_ids: tuple[str, ...]
    oco: bool
    ts_init: int


class PositionClosed(Message):
    symbol: Symbol
    qty: Decimal
    price: Decimal | None = None
    reason: CloseReason
    detail: str = ""
    ts_init: int


class AccountSnapshot(Message):
    """What the venue holds once the monitor has reconciled at start-up (told once per process)."""

    venue: str
    account: str = ""
    """The account's identity where known (the paper exchange: its state file, else the run); empty
    when the venue does not tell it: then only the quantities are compared."""
    held: tuple[tuple[Symbol, Decimal], ...]
    """(symbol, held quantity) of every symbol the venue holds."""
    entry_prices: tuple[tuple[Symbol, Decimal], ...] = ()
    """(symbol, the venue's average entry price) where it reports one."""
    ts_init: int


class BookAdjustment(Message):
    """A journal fill row that is not an execution: a write-off or an adoption (see ``FillKind``)."""

    symbol: Symbol
    kind: FillKind
    qty: Decimal
    price: Decimal
    ts_init: int


JournalRecord = (
    AccountSnapshot
    | BookAdjustment
    | OrderIntent
    | OrderObserved
    | OrderNoted
    | OrderUpdate
    | PositionOpened
    | ExitsArmed
    | PositionClosed
    | SymbolRules
    | Event
)


@dataclass(frozen=True)
class FillDelta:
    qty: Decimal
    price: Decimal
    fee: Decimal
    cum_qty: Decimal


def fill_delta(
    *,
    prev_qty: Decimal,
    prev_avg_price: Decimal | None,
    prev_fee: Decimal,
    cum_qty: Decimal,
    avg_price: Decimal | None,
    limit_price: Decimal,
    cum_fee: Decimal,
) -> FillDelta | None:
    """The fill between two cumulative observations of one order; None when nothing new filled.

    The delta's price is what makes the averages agree: ``(avg * cum - prev_avg * prev) / delta``
    (the limit price where the venue reports no average).
    """
    qty = cum_qty - prev_qty
    if qty <= 0:
        return None
    avg = avg_price if avg_price is not None else limit_price
    prev_avg = prev_avg_price if prev_avg_price is not None else avg
    price = (avg * cum_qty - prev_avg * prev_qty) / qty if prev_qty > 0 else avg
    return FillDelta(qty=qty, price=price, fee=max(cum_fee - prev_fee, Decimal(0)), cum_qty=cum_qty)


def fill_key(client_order_id: str, cum_qty: Decimal, venue_trade_id: str = "") -> str:
    """Idempotency key of a fill: the venue's trade id within its order when known, else the order's
    cumulative qty. A trade id alone is unique only within one account (and, on some venues, one
    symbol): a fresh paper account numbers its trades from 1 again, and a journal that outlives it
    must not take the new account's trades for replays of the old one's."""
    if venue_trade_id:
        return f"trade:{client_order_id}:{venue_trade_id}"
    return f"{client_order_id}#{cum_qty.normalize():f}"


def made_before_startup(*, venue_ts_ns: int, startup_ns: int | None) -> bool:
    """A fill new to the journal that the venue made before the journal's last start-up reconciliation
    (``startup_ns``, its account snapshot): the process died before the journal wrote it, and that
    reconciliation already counted it in what the venue held (``FillKind.EXPLAINED``)."""
    return startup_ns is not None and 0 < venue_ts_ns <= startup_ns


def lost_by_the_venue(*, venue_ts_ns: int, startup_ns: int | None, counted_ns: int | None) -> bool:
    """A fill the journal already counted (at ``counted_ns``), reported again as made after the last
    start-up reconciliation: the venue lost the first one (the process died before the venue's state
    was saved), the reconciliation took it off the books, and the order filled again: a new fill."""
    return startup_ns is not None and counted_ns is not None and counted_ns < startup_ns < venue_ts_ns


class JournalWriter(Protocol):
    """Durable storage of journal records. Used on the journal actor's thread only."""

    def write(self, records: Sequence[JournalRecord]) -> None:
        """Apply ``records`` in one transaction (idempotent per record). Raises OSError-like errors."""
        ...

    def close(self) -> None: ...


Reconciled = BookAdjustment | PositionClosed | PositionOpened


def reconcile_account(
    *,
    snapshot: AccountSnapshot,
    books: Mapping[str, OpenLots],
    open_positions: Mapping[str, Decimal],
    previous_account: tuple[str, str] | None,
    dust: Mapping[str, Decimal],
) -> tuple[Reconciled, ...]:
    """The records that make the journal agree with what the venue holds at start-up.

    ``books``: what the journal's fills leave held per symbol; ``open_positions``: the journal's open
    position rows (symbol -> qty); ``previous_account``: (venue, account) of the journal's last
    snapshot; ``dust``: per symbol, the quantity too small to matter (the lot step).

    Another account than last time (both identities known) starts a new epoch: everything the books
    hold is written off and everything the venue holds adopted. The same account (or one unknown)
    is compared by quantity: a shortfall beyond the dust is written off (oldest lots first), a
    surplus adopted. A held symbol the venue reports without an entry price is adopted as a position
    but not into the books (its cost is unknown; a later sale is matched at its own price). Pure.
    """
    new_epoch = False
    if previous_account is not None:
        previous_venue, account = previous_account
        other_account = bool(account) and bool(snapshot.account) and account != snapshot.account
        new_epoch = previous_venue != snapshot.venue or other_account
    ts_ns = snapshot.ts_init
    where = f"{snapshot.venue} account {snapshot.account}" if snapshot.account else snapshot.venue
    venue_held, entry_prices = dict(snapshot.held), dict(snapshot.entry_prices)
    records: list[Reconciled] = []
    for symbol in sorted(set(books) | set(venue_held) | set(open_positions)):
        step = dust.get(symbol, Decimal(0))
        lots = books.get(symbol)
        booked = lots.qty if lots is not None else Decimal(0)
        venue_qty = venue_held.get(symbol, Decimal(0))
        entry_price = entry_prices.get(symbol)
        if new_epoch:
            write_off, adopt = booked, venue_qty
        else:
            surplus = venue_qty - booked
            write_off = -surplus if surplus < -step else Decimal(0)
            adopt = surplus if surplus > step else Decimal(0)
        if write_off > 0 and lots is not None:
            cost_price = lots.avg_price or Decimal(0)
            records.append(
                BookAdjustment(
                    symbol=symbol, kind=FillKind.RECONCILED, qty=write_off, price=cost_price, ts_init=ts_ns
                )
            )
        if adopt > 0 and entry_price is not None:
            records.append(
                BookAdjustment(
                    symbol=symbol, kind=FillKind.ADOPTED, qty=adopt, price=entry_price, ts_init=ts_ns
                )
            )
        held = venue_qty > step
        position_qty = open_positions.get(symbol)
        if position_qty is not None and (not held or new_epoch):
            why = "another account than the journal's" if new_epoch and held else "none held"
            records.append(
                PositionClosed(
                    symbol=symbol,
                    qty=position_qty,
                    reason=CloseReason.RECONCILED,
                    detail=f"{why} at start-up on {where}",
                    ts_init=ts_ns,
                )
            )
        if held and (position_qty is None or new_epoch):
            records.append(
                PositionOpened(
                    symbol=symbol, qty=venue_qty, entry_price=entry_price, adopted=True, ts_init=ts_ns
                )
            )
    return tuple(records)
