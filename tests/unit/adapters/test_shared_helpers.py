"""The helpers every venue folder shares: checked wire values, known order ids, fills paired with orders."""

from decimal import Decimal

import pytest
from pydantic import BaseModel

from autohedge.adapters.order_events import VenueFill, orders_with_fills
from autohedge.adapters.order_ids import KnownOrderIds
from autohedge.adapters.wirevalues import json_object, retry_after_s, validate_wire, wire_decimal
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


@pytest.mark.parametrize("raw", ["NaN", "-Infinity", "inf", Decimal("NaN")])
def test_wire_decimal_refuses_what_is_no_quantity_or_price(raw: object) -> None:
    # Compared, a NaN raises decimal.InvalidOperation: a frame no reader would count and skip.
    with pytest.raises(MalformedMessage, match=r"^kraken last_qty is not a finite decimal"):
        wire_decimal(raw, "last_qty", venue="kraken")


@pytest.mark.parametrize("raw", [b"\xff{}", b'{"q": ' + b"9" * 5000 + b"}", b"[" * 100_000])
def test_json_object_counts_what_no_parser_takes_as_malformed(raw: bytes) -> None:
    # Not UTF-8, an integer past the interpreter's digit limit, nesting past the stack: each raised an
    # error of its own (ValueError, RecursionError) that no reader counted and skipped.
    with pytest.raises(MalformedMessage, match=r"^coinbase user frame is not JSON"):
        json_object(raw, "user frame", venue="coinbase")


def test_validate_wire_names_the_first_bad_field() -> None:
    assert validate_wire(_Ticker, {"bid": "1", "symbol": "BTC/USD"}, "ticker", venue="kraken").bid == 1
    with pytest.raises(MalformedMessage, match=r"^kraken ticker: bid: "):
        validate_wire(_Ticker, {"bid": "x", "symbol": "BTC/USD"}, "ticker", venue="kraken")


@pytest.mark.parametrize(
    ("raw", "wait_s"),
    [
        ("30", 30.0),
        (" 2.5 ", 2.5),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 40.0),  # an HTTP date, 40 s after now (60 s)
        ("Thu, 01 Jan 1970 00:00:10 GMT", 0.0),  # already past: no wait
        ("-5", 0.0),
        (None, 7.0),
        ("", 7.0),
        ("soon", 7.0),
        ("nan", 7.0),
        ("inf", 7.0),
    ],
)
def test_retry_after_is_seconds_or_an_http_date_and_anything_else_the_default(
    raw: str | None, wait_s: float
) -> None:
    # A garbled header must still become a wait, never an error escaping the venue's error mapping.
    assert retry_after_s(raw, default_s=7.0, now_s=60.0) == wait_s


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
