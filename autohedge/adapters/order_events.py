"""Order states and fills of a private stream -> the engine's ``OrderUpdate`` events, one per change.

Venues that report order state (not events) restate it often: a builder remembers the last kind it
emitted per order, so an unchanged state produces nothing, a fill that completes the order is the
``FILLED`` event itself (a later "filled" status adds nothing), and a finished order never reopens.
Pure; one builder per stream connection, used on its reader thread.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from autohedge.core.messages import OrderEventKind, OrderSnapshot, OrderUpdate
from autohedge.core.types import OrderStatus

__all__ = ["OrderEventBuilder", "VenueFill", "orders_with_fills"]

_STATE_KIND = {
    OrderStatus.NEW: OrderEventKind.ACCEPTED,
    OrderStatus.FILLED: OrderEventKind.FILLED,
    OrderStatus.CANCELED: OrderEventKind.CANCELED,
    OrderStatus.REJECTED: OrderEventKind.REJECTED,
    OrderStatus.EXPIRED: OrderEventKind.EXPIRED,
}
"""A partially filled state without a fill in hand is not an event: the fill is (or was) reported."""
_REMEMBERED = 20_000


@dataclass(frozen=True)
class VenueFill:
    """A fill as a venue's private-stream tracker reports it, just before the state of its order (the
    venue's own kinds add their trade id). ``side`` is ours (``buy``/``sell``)."""

    venue_order_id: str
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    ts_event: int


FillT = TypeVar("FillT", bound=VenueFill)


def orders_with_fills(items: Iterable[OrderSnapshot | FillT]) -> list[tuple[OrderSnapshot, FillT | None]]:
    """A tracker's output (fills, each followed by the state of its order) as (order state, the fill
    that led to it or None). A fill waits for the next state of the same order."""
    out: list[tuple[OrderSnapshot, FillT | None]] = []
    pending: FillT | None = None
    for item in items:
        if not isinstance(item, OrderSnapshot):
            pending = item
            continue
        if pending is not None and pending.venue_order_id == item.venue_order_id:
            out.append((item, pending))
            pending = None
        else:
            out.append((item, None))
    return out


class OrderEventBuilder:
    def __init__(self, venue: str) -> None:
        self._venue = venue
        self._last: OrderedDict[str, OrderEventKind] = OrderedDict()

    def _record(self, order_id: str, kind: OrderEventKind) -> None:
        self._last[order_id] = kind
        self._last.move_to_end(order_id)
        while len(self._last) > _REMEMBERED:
            self._last.popitem(last=False)

    def state(self, order: OrderSnapshot, *, reason: str = "", ts_init: int) -> OrderUpdate | None:
        """The event for a state change without a fill, or None when nothing new happened."""
        kind = _STATE_KIND.get(order.status)
        last = self._last.get(order.venue_order_id)
        if kind is None or kind is last or (last is not None and last.is_terminal):
            return None
        self._record(order.venue_order_id, kind)
        return OrderUpdate.of_order(order, kind, venue=self._venue, reason=reason, ts_init=ts_init)

    def fill(
        self,
        order: OrderSnapshot,
        *,
        last_qty: Decimal,
        last_price: Decimal,
        fee: Decimal,
        fee_asset: str,
        trade_id: str | None,
        cum_filled_qty: Decimal,
        ts_init: int,
    ) -> OrderUpdate:
        """A fill; ``FILLED`` when it brings the order to its full size (or the venue says filled)."""
        complete = order.status is OrderStatus.FILLED or (order.qty > 0 and cum_filled_qty >= order.qty)
        kind = OrderEventKind.FILLED if complete else OrderEventKind.PARTIALLY_FILLED
        self._record(order.venue_order_id, kind)
        return OrderUpdate.of_order(
            order,
            kind,
            venue=self._venue,
            cum_filled_qty=cum_filled_qty,
            last_qty=last_qty,
            last_price=last_price,
            fee=fee,
            fee_asset=fee_asset,
            trade_id=trade_id,
            ts_init=ts_init,
        )
