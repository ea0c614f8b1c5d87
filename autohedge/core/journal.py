"""The trade journal's vocabulary: the records actors send it, and the pure rules it applies.

Actors tell records to the journal actor (never wait for it). The journal turns order observations
into fills itself: an order's cumulative filled quantity only grows, so a fill is the growth since
the last observation, keyed by the venue trade id when known, else by ``<client id>#<cumulative>``.
A replayed or repeated observation therefore never adds a fill twice.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    SymbolRules,
)
from autohedge.core.types import CloseReason, OrderPurpose, OrderType, Side, Symbol

__all__ = [
    "ExitsArmed",
    "FillDelta",
    "JournalRecord",
    "JournalWriter",
    "OrderIntent",
    "OrderNoted",
    "OrderObserved",
    "PositionClosed",
    "PositionOpened",
    "fill_delta",
    "fill_key",
    "intents_of_oco",
]


class OrderIntent(Message):
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


JournalRecord = (
    OrderIntent
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
    """Idempotency key of a fill: the venue's trade id when known, else the order's cumulative qty."""
    return f"trade:{venue_trade_id}" if venue_trade_id else f"{client_order_id}#{cum_qty.normalize():f}"


class JournalWriter(Protocol):
    """Durable storage of journal records. Used on the journal actor's thread only."""

    def write(self, records: Sequence[JournalRecord]) -> None:
        """Apply ``records`` in one transaction (idempotent per record). Raises OSError-like errors."""
        ...

    def close(self) -> None: ...
