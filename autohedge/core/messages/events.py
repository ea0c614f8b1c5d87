"""Events: past tense. Facts about orders and positions."""

from __future__ import annotations

from decimal import Decimal

from autohedge.core.messages.base import Message
from autohedge.core.types import OrderPurpose, Side, Symbol

__all__ = [
    "EntryProtection",
    "OrderCanceled",
    "OrderFilled",
    "ReconciliationCompleted",
]


class EntryProtection(Message):
    """Exit prices proposed for an entry (from the signal); the monitor validates them."""

    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None


class OrderFilled(Message):
    """A fill (or the filled part of an order since the last report): ``fill_qty`` is the delta.

    ``fee`` is the fee for this delta in ``fee_asset``; when it is the base asset it reduces what is
    held. ``cum_filled_qty`` and ``order_qty`` let receivers tell a partial from a complete fill.
    """

    symbol: Symbol
    client_order_id: str
    venue_order_id: str
    side: Side
    purpose: OrderPurpose
    fill_qty: Decimal
    fill_price: Decimal
    fee: Decimal = Decimal(0)
    fee_asset: str = ""
    cum_filled_qty: Decimal
    order_qty: Decimal
    protection: EntryProtection | None = None
    ts_event: int
    ts_init: int


class OrderCanceled(Message):
    symbol: Symbol
    client_order_id: str
    venue_order_id: str
    purpose: OrderPurpose
    ts_init: int


class ReconciliationCompleted(Message):
    """The monitor adopted every exchange position and armed its exits; strategies may start."""

    positions: int
    incarnation: int
    ts_init: int
