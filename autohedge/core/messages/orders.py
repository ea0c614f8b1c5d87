"""Order and account events from a venue's private stream (the trigger; REST stays the record).

One ``OrderUpdate`` type carries every order event; ``kind`` says which (accepted, partially filled,
filled, canceled, rejected, expired). Every update is keyed by the venue order id AND our client
order id, because the order's acknowledgement and its first event may arrive in either order.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from autohedge.core.messages.base import Message, SharedFieldsMessage
from autohedge.core.messages.data import Balance, OrderSnapshot
from autohedge.core.types import OrderStatus, OrderType, Side, Symbol

__all__ = [
    "AccountBalances",
    "OrderEventKind",
    "OrderState",
    "OrderUpdate",
    "UserStreamStatus",
]


class OrderEventKind(StrEnum):
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_fill(self) -> bool:
        return self is OrderEventKind.PARTIALLY_FILLED or self is OrderEventKind.FILLED

    @property
    def is_terminal(self) -> bool:
        return self is not OrderEventKind.ACCEPTED and self is not OrderEventKind.PARTIALLY_FILLED

    @property
    def order_status(self) -> OrderStatus:
        """The order's status once this event happened."""
        return _ORDER_STATUS[self]


_ORDER_STATUS = {
    OrderEventKind.ACCEPTED: OrderStatus.NEW,
    OrderEventKind.PARTIALLY_FILLED: OrderStatus.PARTIALLY_FILLED,
    OrderEventKind.FILLED: OrderStatus.FILLED,
    OrderEventKind.CANCELED: OrderStatus.CANCELED,
    OrderEventKind.REJECTED: OrderStatus.REJECTED,
    OrderEventKind.EXPIRED: OrderStatus.EXPIRED,
}


class OrderState(Protocol):
    """What an order event says of its order (an ``OrderSnapshot``, or a venue's own order record)."""

    @property
    def venue_order_id(self) -> str: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def qty(self) -> Decimal: ...
    @property
    def filled_qty(self) -> Decimal: ...
    @property
    def avg_fill_price(self) -> Decimal | None: ...
    @property
    def list_id(self) -> str | None: ...
    @property
    def ts_event(self) -> int: ...


class OrderUpdate(SharedFieldsMessage):
    """One event of one order. Fill events carry the last fill (``last_qty`` at ``last_price``, its
    ``fee`` in ``fee_asset`` and the venue's ``trade_id``); every event carries the cumulative
    ``cum_filled_qty`` so a receiver can tell a replay (no progress) from a new fill.

    ``position_qty`` is the venue's holding after the event where the venue says (Alpaca), else None.
    """

    venue: str
    kind: OrderEventKind
    symbol: Symbol
    client_order_id: str
    venue_order_id: str
    side: Side
    order_type: OrderType = OrderType.LIMIT
    price: Decimal
    order_qty: Decimal
    cum_filled_qty: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    last_qty: Decimal = Decimal(0)
    last_price: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fee_asset: str = ""
    trade_id: str | None = None
    list_id: str | None = None
    position_qty: Decimal | None = None
    reason: str = ""
    ts_event: int
    ts_init: int

    @property
    def fill_key(self) -> str:
        """What identifies this fill at the venue: its trade id, or (when the venue gives none) the
        cumulative quantity it brought the order to, which no other fill of the order can repeat.
        That quantity is the leg's where one venue order is reported as two legs (a Coinbase
        bracket's stop leg counts from zero again): the leg's client id keeps their fills apart."""
        if self.trade_id:
            return f"{self.venue_order_id}:t:{self.trade_id}"
        return f"{self.venue_order_id}:{self.client_order_id}:c:{self.cum_filled_qty}"

    @classmethod
    def of_order(
        cls,
        order: OrderState,
        kind: OrderEventKind,
        *,
        venue: str,
        ts_init: int,
        cum_filled_qty: Decimal | None = None,
        last_qty: Decimal = Decimal(0),
        last_price: Decimal = Decimal(0),
        fee: Decimal = Decimal(0),
        fee_asset: str = "",
        trade_id: str | None = None,
        reason: str = "",
    ) -> OrderUpdate:
        """The event ``kind`` of ``order`` as it stands (its fill so far unless ``cum_filled_qty`` says);
        a fill event names its own fill (``last_qty`` at ``last_price``, ``fee``, ``trade_id``)."""
        return cls(
            venue=venue,
            kind=kind,
            symbol=order.symbol,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            side=order.side,
            order_type=order.order_type,
            price=order.price,
            order_qty=order.qty,
            cum_filled_qty=order.filled_qty if cum_filled_qty is None else cum_filled_qty,
            avg_fill_price=order.avg_fill_price,
            last_qty=last_qty,
            last_price=last_price,
            fee=fee,
            fee_asset=fee_asset,
            trade_id=trade_id,
            list_id=order.list_id,
            reason=reason,
            ts_event=order.ts_event or ts_init,
            ts_init=ts_init,
        )

    def price_of(self, new_qty: Decimal) -> Decimal:
        """The price of ``new_qty``, what this event filled that a receiver had not counted: the event's
        own fill price when it is exactly that fill, else the order's average (some fills were missed)."""
        if new_qty == self.last_qty:
            return self.last_price
        return self.avg_fill_price or self.last_price

    def fee_of(self, new_qty: Decimal) -> Decimal:
        """The fee of ``new_qty``, what this event filled that a receiver had not counted: the event's own
        fee when it is exactly that fill, else that fee at its rate over all of it. The missed fills' fees
        are not in this event; counted as nothing, a fee paid in the base asset made the holding look
        larger than it is and its exit ask for more than was held (simulation, config.yaml seed 58)."""
        if new_qty == self.last_qty or self.last_qty <= 0:
            return self.fee
        return self.fee * new_qty / self.last_qty

    def snapshot(self, *, with_fills: bool = True) -> OrderSnapshot:
        """The order as this event leaves it. ``with_fills=False`` leaves out what it filled (quantity
        and average price) for a receiver that counts the fills itself, one event at a time."""
        return OrderSnapshot(
            venue_order_id=self.venue_order_id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            price=self.price,
            qty=self.order_qty,
            filled_qty=self.cum_filled_qty if with_fills else Decimal(0),
            avg_fill_price=self.avg_fill_price if with_fills else None,
            status=self.kind.order_status,
            list_id=self.list_id,
            ts_event=self.ts_event,
        )


class AccountBalances(Message):
    """Balances the venue pushed (Binance ``outboundAccountPosition``): each listed asset's free and
    locked amount as of ``ts_event``; assets not listed are unchanged."""

    venue: str
    balances: tuple[Balance, ...]
    ts_event: int
    ts_init: int


class UserStreamStatus(Message):
    """Told by the user-stream actor to the executor and the monitor: is push delivery live?

    While it is not, they poll the venue at their fast interval; while it is, only as a safety net.
    """

    venue: str
    connected: bool
