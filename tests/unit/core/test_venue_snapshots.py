"""Snapshots every venue adapter builds the same way: spot positions, an accepted order, event status."""

from decimal import Decimal

import pytest

from autohedge.core.messages import (
    Balance,
    OrderEventKind,
    OrderRequest,
    OrderSnapshot,
    OrderUpdate,
    PositionSnapshot,
)
from autohedge.core.positions import spot_positions
from autohedge.core.types import OrderStatus, OrderType, Side
from tests.ids import entry_id


def test_spot_positions_are_the_whole_base_balances_of_the_symbols() -> None:
    balances = {
        "BTC": Balance(asset="BTC", free=Decimal("0.5"), locked=Decimal("0.25")),
        "ETH": Balance(asset="ETH", free=Decimal(0)),
        "USD": Balance(asset="USD", free=Decimal(100)),
    }
    positions = spot_positions(balances, ["BTC/USD", "ETH/USD", "SOL/USD"])
    assert positions == (PositionSnapshot(symbol="BTC/USD", qty=Decimal("0.75")),)


def test_accepted_snapshot_rests_unfilled_with_fees_in_quote() -> None:
    request = OrderRequest(
        client_order_id=entry_id(1),
        symbol="BTC/USD",
        side=Side.SELL,
        qty=Decimal("0.1"),
        price=Decimal(30_000),
        order_type=OrderType.STOP_LIMIT,
        stop_price=Decimal(30_100),
    )
    order = OrderSnapshot.accepted(request, venue_order_id="v-1", ts_event=5)
    assert (order.venue_order_id, order.client_order_id, order.status) == (
        "v-1",
        entry_id(1),
        OrderStatus.NEW,
    )
    assert (order.qty, order.filled_qty, order.price, order.stop_price) == (
        Decimal("0.1"),
        Decimal(0),
        Decimal(30_000),
        Decimal(30_100),
    )
    assert (order.order_type, order.fee_asset, order.ts_event) == (OrderType.STOP_LIMIT, "USD", 5)


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (OrderEventKind.ACCEPTED, OrderStatus.NEW),
        (OrderEventKind.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED),
        (OrderEventKind.FILLED, OrderStatus.FILLED),
        (OrderEventKind.CANCELED, OrderStatus.CANCELED),
        (OrderEventKind.REJECTED, OrderStatus.REJECTED),
        (OrderEventKind.EXPIRED, OrderStatus.EXPIRED),
    ],
)
def test_order_event_kind_names_the_status_it_leaves(kind: OrderEventKind, status: OrderStatus) -> None:
    assert kind.order_status is status


def partly_filled(cum: str = "1", avg: str = "99", last_price: str = "99") -> OrderUpdate:
    """An entry's event: its last fill 1 (of 2, at the limit of 100) at ``last_price``."""
    return OrderUpdate(
        venue="paper",
        kind=OrderEventKind.PARTIALLY_FILLED,
        symbol="BTC/USD",
        client_order_id=entry_id(1),
        venue_order_id="P1",
        side=Side.BUY,
        price=Decimal(100),
        order_qty=Decimal(2),
        cum_filled_qty=Decimal(cum),
        avg_fill_price=Decimal(avg),
        last_qty=Decimal(1),
        last_price=Decimal(last_price),
        ts_event=7,
        ts_init=8,
    )


def test_an_order_event_snapshot_is_its_order_with_or_without_the_fills() -> None:
    update = partly_filled()
    order = update.snapshot()
    assert (order.venue_order_id, order.client_order_id, order.qty, order.price) == (
        "P1",
        entry_id(1),
        Decimal(2),
        Decimal(100),
    )
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.ts_event == 7
    assert (order.filled_qty, order.avg_fill_price) == (Decimal(1), Decimal(99))
    bare = update.snapshot(with_fills=False)
    assert (bare.filled_qty, bare.avg_fill_price) == (Decimal(0), None)
    assert bare.model_copy(update={"filled_qty": Decimal(1), "avg_fill_price": Decimal(99)}) == order


def test_the_price_of_what_an_event_filled_is_its_own_fill_price_or_the_orders_average() -> None:
    update = partly_filled(cum="2", avg="99.5", last_price="100")
    assert update.price_of(Decimal(1)) == Decimal(100)
    assert update.price_of(Decimal(2)) == Decimal("99.5")  # an earlier fill was missed: the average
    assert update.model_copy(update={"avg_fill_price": None}).price_of(Decimal(2)) == Decimal(100)


def test_simulation_found_the_fee_of_what_an_event_filled_covers_the_missed_fills_at_its_rate() -> None:
    update = partly_filled(cum="2").model_copy(update={"fee": Decimal("0.001"), "fee_asset": "BTC"})
    assert update.fee_of(Decimal(1)) == Decimal("0.001")
    assert update.fee_of(Decimal(2)) == Decimal("0.002")  # an earlier fill was missed: its fee too
    assert update.model_copy(update={"last_qty": Decimal(0)}).fee_of(Decimal(2)) == Decimal("0.001")
