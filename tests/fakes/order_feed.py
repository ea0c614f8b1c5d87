"""What changed in a paper engine's orders since the last look: the source of a fake venue's private
stream events and fill history. Fakes call ``changes()`` after every action that can move orders (an
order placed or cancelled over REST, a quote pushed), so every change is seen exactly once, in order."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from decimal import Decimal

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.messages import OrderSnapshot

__all__ = ["FakeFill", "OrderChange", "OrderChangeFeed"]

_ZERO = Decimal(0)


@dataclass(frozen=True)
class FakeFill:
    """One execution, derived from the change of an order's cumulative fill."""

    trade_id: int
    order: OrderSnapshot
    qty: Decimal
    price: Decimal
    fee: Decimal


@dataclass(frozen=True)
class OrderChange:
    before: OrderSnapshot | None
    after: OrderSnapshot
    fill: FakeFill | None


def _notional(order: OrderSnapshot | None) -> Decimal:
    if order is None or order.avg_fill_price is None:
        return _ZERO
    return order.avg_fill_price * order.filled_qty


class OrderChangeFeed:
    """Thread-safe. ``fills`` keeps every derived execution (the venue's fill history)."""

    def __init__(self, engine: PaperEngine) -> None:
        self._engine = engine
        self._known: dict[str, OrderSnapshot] = {}
        self._trade_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.fills: list[FakeFill] = []

    def changes(self) -> list[OrderChange]:
        with self._lock:
            out = []
            orders = sorted(self._engine.all_orders(), key=lambda o: int(o.venue_order_id[1:]))
            for order in orders:
                before = self._known.get(order.venue_order_id)
                if before == order:
                    continue
                self._known[order.venue_order_id] = order
                filled_before = before.filled_qty if before is not None else _ZERO
                fill = None
                if order.filled_qty > filled_before:
                    qty = order.filled_qty - filled_before
                    price = (_notional(order) - _notional(before)) / qty
                    fee = order.fee - (before.fee if before is not None else _ZERO)
                    fill = FakeFill(next(self._trade_ids), order, qty, price, fee)
                    self.fills.append(fill)
                out.append(OrderChange(before, order, fill))
            return out
