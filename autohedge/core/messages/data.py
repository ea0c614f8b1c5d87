"""Data: nouns. Market data and the venue-side snapshots the exchange port returns."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from autohedge.core.messages.base import Message, SharedFieldsMessage
from autohedge.core.types import (
    OrderPurpose,
    OrderStatus,
    OrderType,
    Side,
    Symbol,
    TimeInForce,
    quote_of,
    validate_symbol,
)

__all__ = [
    "Balance",
    "OcoRequest",
    "OcoSnapshot",
    "OrderRequest",
    "OrderSnapshot",
    "PositionSnapshot",
    "Quote",
    "SymbolRules",
]

_BPS = Decimal(10_000)
_ZERO = Decimal(0)


class Quote(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Best bid/ask for one symbol. ``ts_event`` from the venue, ``ts_init`` (ns) from our clock.

    Not a pydantic ``Message``: a feed's reader thread builds one per frame, up to a hundred thousand a
    second, and pydantic's validation took 4.8 us of each (a fifth of intake, by a sampling profile). The
    values come typed from the venues' parsers, so what the model checked beyond types is checked here:
    prices and sizes are finite, the symbol is of the ``BASE/QUOTE`` form. Immutable and hashable like a
    message; ``gc=False`` because it holds only strings, decimals and integers (no cycles), so the cycle
    collector neither tracks nor counts it. Raises ``ValueError`` naming the bad field; parsers turn it
    into ``MalformedMessage``."""

    venue: str
    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: Decimal = _ZERO
    ask_size: Decimal = _ZERO
    ts_event: int
    ts_init: int

    def __post_init__(self) -> None:
        """Runs on the thread that builds the quote (after ``__init__``)."""
        if not (
            self.bid.is_finite()
            and self.ask.is_finite()
            and self.bid_size.is_finite()
            and self.ask_size.is_finite()
        ):
            values = {"bid": self.bid, "ask": self.ask, "bid_size": self.bid_size, "ask_size": self.ask_size}
            bad = next(name for name, value in values.items() if not value.is_finite())
            raise ValueError(f"quote of {self.symbol!r}: {bad} {values[bad]} is not a finite decimal")
        validate_symbol(self.symbol)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """A quote inside a message (``VenueQuotesRead``) is taken as it is: it checked itself when built."""
        return core_schema.is_instance_schema(cls)

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    @property
    def spread_bps(self) -> Decimal:
        mid = self.mid
        return (self.ask - self.bid) / mid * _BPS if mid > 0 else Decimal("Infinity")


class SymbolRules(Message):
    """What a venue accepts for a symbol: price tick, lot step, minimums."""

    symbol: Symbol
    tick_size: Decimal
    lot_step: Decimal
    min_qty: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    max_qty: Decimal | None = None


class OrderRequest(Message):
    """One order to place. ``price`` is the limit price; ``stop_price`` the trigger of a stop-limit."""

    client_order_id: str
    symbol: Symbol
    side: Side
    qty: Decimal
    price: Decimal
    order_type: OrderType = OrderType.LIMIT
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    purpose: OrderPurpose = OrderPurpose.ENTRY
    """Adapters give exits priority in the venue request budget."""


class OcoRequest(Message):
    """A take-profit limit and a stop-limit that cancel each other (sell side protection)."""

    list_client_id: str
    symbol: Symbol
    side: Side
    qty: Decimal
    take_profit_price: Decimal
    stop_price: Decimal
    stop_limit_price: Decimal
    take_profit_client_order_id: str
    stop_loss_client_order_id: str


class OrderSnapshot(SharedFieldsMessage):
    """An order as the venue reports it. Quantities are cumulative."""

    venue_order_id: str
    client_order_id: str
    symbol: Symbol
    side: Side
    order_type: OrderType = OrderType.LIMIT
    price: Decimal
    stop_price: Decimal | None = None
    qty: Decimal
    filled_qty: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    fee_asset: str = ""
    status: OrderStatus
    list_id: str | None = None
    ts_event: int = 0

    @property
    def remaining_qty(self) -> Decimal:
        return self.qty - self.filled_qty

    @classmethod
    def accepted(cls, request: OrderRequest, *, venue_order_id: str, ts_event: int) -> OrderSnapshot:
        """What is known of an order the venue just accepted without reading it back: resting, nothing
        filled yet, fees (once charged) in the quote asset."""
        return cls(
            venue_order_id=venue_order_id,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            price=request.price,
            stop_price=request.stop_price,
            qty=request.qty,
            fee_asset=quote_of(request.symbol),
            status=OrderStatus.NEW,
            ts_event=ts_event,
        )


class OcoSnapshot(Message):
    """The two legs of an OCO as placed."""

    list_id: str
    orders: tuple[OrderSnapshot, ...]


class Balance(Message):
    asset: str
    free: Decimal
    locked: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class PositionSnapshot(Message):
    """A long spot holding (or stock position) as the venue reports it.

    ``avg_entry_price`` is None where the venue does not know it (spot balances); the monitor then
    uses the current quote as the reference for TP/SL.
    """

    symbol: Symbol
    qty: Decimal
    avg_entry_price: Decimal | None = None
