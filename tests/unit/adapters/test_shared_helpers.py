"""The helpers every venue folder shares: checked wire values, known order ids, fills paired with orders."""

from decimal import Decimal

import pytest
from pydantic import BaseModel

from autohedge.adapters.order_events import VenueFill, orders_with_fills
from autohedge.adapters.order_ids import KnownOrderIds
from autohedge.adapters.wirevalues import validate_wire, wire_decimal
from autohedge.core.errors import MalformedMessage
from autohedge.core.messages import OrderSnapshot
from autohedge.core.types import OrderStatus, Side
from tests.ids import entry_id


class _Ticker(BaseModel):
    bid: Decimal
    symbol: str


@pytest.mark.parametrize(
    ("raw", "value"), [("1.50", Decimal("1.50")), (Decimal("2"), Decimal(2)), (3, Decimal(3))]
)
def test_wire_decimal_reads_strings_numbers_and_decimals(raw: object, value: Decimal) -> None:
    assert wire_decimal(raw, "price", venue="kraken") == value


def test_wire_decimal_names_venue_and_field() -> None:
    with pytest.raises(MalformedMessage, match=r"coinbase best_bid is not a decimal: 'oops'"):
        wire_decimal("oops", "best_bid", venue="coinbase")


def test_validate_wire_names_the_first_bad_field() -> None:
    assert validate_wire(_Ticker, {"bid": "1", "symbol": "BTC/USD"}, "ticker", venue="kraken").bid == 1
    with pytest.raises(MalformedMessage, match=r"^kraken ticker: bid: "):
        validate_wire(_Ticker, {"bid": "x", "symbol": "BTC/USD"}, "ticker", venue="kraken")


def test_known_order_ids_map_both_ways() -> None:
    ids = KnownOrderIds()
    ids.remember(entry_id(1), "venue-1")
    assert ids.venue_id(entry_id(1)) == "venue-1"
    assert ids.client_id("venue-1") == entry_id(1)
    assert ids.venue_id(entry_id(2)) is None


def test_known_order_ids_skip_orders_without_our_id() -> None:
    ids = KnownOrderIds()
    ids.remember("", "venue-1")
    assert ids.client_id("venue-1") is None


def test_known_order_ids_forget_the_oldest_first() -> None:
    ids = KnownOrderIds(maximum=2)
    for n in range(3):
        ids.remember(entry_id(n), f"v{n}")
    assert ids.venue_id(entry_id(0)) is None and ids.client_id("v0") is None
    assert (ids.venue_id(entry_id(1)), ids.venue_id(entry_id(2))) == ("v1", "v2")


def _fill(venue_order_id: str) -> VenueFill:
    return VenueFill(
        venue_order_id=venue_order_id,
        client_order_id=entry_id(1),
        symbol="BTC/USD",
        side="buy",
        qty=Decimal(1),
        price=Decimal(1),
        fee=Decimal(0),
        fee_asset="USD",
        ts_event=0,
    )


def _order(venue_order_id: str) -> OrderSnapshot:
    return OrderSnapshot(
        venue_order_id=venue_order_id,
        client_order_id=entry_id(1),
        symbol="BTC/USD",
        side=Side.BUY,
        price=Decimal(1),
        qty=Decimal(1),
        status=OrderStatus.PARTIALLY_FILLED,
    )


def test_orders_with_fills_pair_a_fill_with_the_next_state_of_its_order() -> None:
    a, b = _order("a"), _order("b")
    fill_a = _fill("a")
    items: list[OrderSnapshot | VenueFill] = [a, fill_a, b, a]
    assert orders_with_fills(items) == [(a, None), (b, None), (a, fill_a)]
    items = [fill_a, a, a]
    assert orders_with_fills(items) == [(a, fill_a), (a, None)]
