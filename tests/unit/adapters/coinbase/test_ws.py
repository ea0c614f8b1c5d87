"""Coinbase websocket pure parts: frames, ticker quotes, and the user channel's derived fills."""

import json
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from autohedge.adapters.coinbase.ws import (
    DerivedFill,
    UserOrderTracker,
    parse_frame,
    quotes_of,
    subscribe_message,
)
from autohedge.core.errors import MalformedMessage
from autohedge.core.messages import OrderSnapshot
from autohedge.core.types import OrderStatus
from tests.fixture_files import fixture_text
from tests.ids import entry_id

D = Decimal
PRODUCTS = {"BTC-USD": "BTC/USD"}


fixture = partial(fixture_text, "coinbase")


def user_frame(kind: str, seq: int, *others: dict[str, Any], **order: Any) -> str:
    """A constructed ``user`` update (field names from the channel docs, values invented): ``order``, then
    ``others`` (each over the same defaults)."""
    base = {
        "order_id": "o-1",
        "client_order_id": entry_id(1),
        "product_id": "BTC-USD",
        "order_side": "BUY",
        "order_type": "Limit",
        "status": "OPEN",
        "cumulative_quantity": "0",
        "leaves_quantity": "0.01",
        "avg_price": "0",
        "filled_value": "0",
        "total_fees": "0",
        "limit_price": "50000",
    }
    events = [{"type": kind, "orders": [base | order, *(base | other for other in others)]}]
    return json.dumps(
        {"channel": "user", "timestamp": "2024-01-01T00:00:00Z", "sequence_num": seq, "events": events}
    )


def fills(items: list[OrderSnapshot | DerivedFill]) -> list[DerivedFill]:
    return [i for i in items if isinstance(i, DerivedFill)]


def apply(tracker: UserOrderTracker, kind: str, seq: int, **order: Any) -> list[OrderSnapshot | DerivedFill]:
    """One user frame (``user_frame``) through ``tracker``."""
    return tracker.apply(parse_frame(user_frame(kind, seq, **order)), ts_init=1)


def test_ws_subscribe_carries_one_channel_and_the_jwt() -> None:
    assert subscribe_message("ticker", ["BTC-USD"], "tok") == {
        "type": "subscribe",
        "channel": "ticker",
        "product_ids": ["BTC-USD"],
        "jwt": "tok",
    }
    assert subscribe_message("heartbeats", [], None) == {"type": "subscribe", "channel": "heartbeats"}


def test_ws_ticker_frame_becomes_a_quote() -> None:
    frame = parse_frame(fixture("ticker_frame.json"))
    (quote,) = quotes_of(frame, symbols=PRODUCTS, ts_init=5)
    assert (quote.symbol, quote.bid, quote.ask) == ("BTC/USD", D("21931.98"), D("21933.98"))
    assert quote.ask_size == D("8038.07770938") and quote.ts_event == 1_675_974_637_167_359_596


def test_ws_ticker_of_an_unsubscribed_product_is_skipped() -> None:
    assert quotes_of(parse_frame(fixture("ticker_frame.json")), symbols={}, ts_init=5) == []


def test_ws_heartbeat_frame_parses() -> None:
    frame = parse_frame(fixture("heartbeat_frame.json"))
    assert frame.channel == "heartbeats" and frame.events[0]["heartbeat_counter"] == "3049"


@pytest.mark.parametrize(
    "raw", ["{", "[]", '{"channel":"ticker"}', '{"channel":"x","sequence_num":1,"events":[1]}']
)
def test_ws_malformed_frames_raise(raw: str) -> None:
    with pytest.raises(MalformedMessage):
        parse_frame(raw)


def test_ws_error_frame_is_reported() -> None:
    assert (
        parse_frame('{"type":"error","message":"authentication failure"}').error == "authentication failure"
    )


def test_user_snapshot_restates_state_and_never_becomes_fills() -> None:
    tracker = UserOrderTracker(PRODUCTS)
    out = tracker.apply(parse_frame(fixture("user_snapshot_frame.json")), ts_init=1)
    assert fills(out) == [] and tracker.snapshot_complete
    (snap,) = out
    assert (
        isinstance(snap, OrderSnapshot) and snap.status is OrderStatus.FILLED and snap.filled_qty == D("0.01")
    )


def test_user_update_rise_is_a_fill_of_the_difference() -> None:
    tracker = UserOrderTracker(PRODUCTS)
    apply(
        tracker,
        "snapshot",
        0,
        cumulative_quantity="0.004",
        filled_value="200",
        total_fees="0.8",
        leaves_quantity="0.006",
    )
    out = apply(
        tracker,
        "update",
        1,
        cumulative_quantity="0.01",
        filled_value="500.6",
        total_fees="2",
        leaves_quantity="0",
        status="FILLED",
    )
    (fill,) = fills(out)
    assert (fill.qty, fill.price, fill.fee, fill.fee_asset) == (D("0.006"), D("50100"), D("1.2"), "USD")
    assert fill.fill_id == "o-1:0.01" and fill.cumulative_qty == D("0.01") and fill.side == "buy"


def test_user_order_first_seen_in_an_update_fills_from_zero() -> None:
    tracker = UserOrderTracker(PRODUCTS)
    out = apply(
        tracker,
        "update",
        3,
        cumulative_quantity="0.004",
        filled_value="200",
        total_fees="0.8",
        leaves_quantity="0.006",
    )
    (fill,) = fills(out)
    assert (fill.qty, fill.price) == (D("0.004"), D(50000))
    assert out[-1].status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]


def test_user_duplicated_update_is_not_a_second_fill() -> None:
    tracker = UserOrderTracker(PRODUCTS)
    frame = user_frame("update", 1, cumulative_quantity="0.004", filled_value="200", leaves_quantity="0.006")
    assert len(fills(tracker.apply(parse_frame(frame), ts_init=1))) == 1
    assert fills(tracker.apply(parse_frame(frame), ts_init=1)) == []


def test_user_late_update_is_ignored_and_counted() -> None:
    tracker = UserOrderTracker(PRODUCTS)
    apply(
        tracker,
        "update",
        2,
        cumulative_quantity="0.01",
        filled_value="500",
        status="FILLED",
        leaves_quantity="0",
    )
    late = apply(tracker, "update", 1, cumulative_quantity="0.004", filled_value="200")
    assert late == [] and tracker.late_updates == 1


def test_user_cancel_after_partial_fill_is_a_state_change_only() -> None:
    tracker = UserOrderTracker(PRODUCTS)
    apply(tracker, "update", 1, cumulative_quantity="0.004", filled_value="200")
    out = apply(
        tracker,
        "update",
        2,
        cumulative_quantity="0.004",
        filled_value="200",
        status="CANCELLED",
        leaves_quantity="0",
    )
    assert fills(out) == [] and out[0].status is OrderStatus.CANCELED  # type: ignore[union-attr]


def test_user_full_snapshot_batch_is_not_yet_complete() -> None:
    tracker = UserOrderTracker(PRODUCTS)
    orders = [
        json.loads(user_frame("snapshot", 0, order_id=f"o-{i}"))["events"][0]["orders"][0] for i in range(50)
    ]
    frame = {
        "channel": "user",
        "timestamp": "",
        "sequence_num": 0,
        "events": [{"type": "snapshot", "orders": orders}],
    }
    tracker.apply(parse_frame(json.dumps(frame)), ts_init=1)
    assert not tracker.snapshot_complete


def test_user_unknown_status_raises() -> None:
    with pytest.raises(MalformedMessage, match="PARKED"):
        UserOrderTracker(PRODUCTS).apply(parse_frame(user_frame("update", 1, status="PARKED")), ts_init=1)
