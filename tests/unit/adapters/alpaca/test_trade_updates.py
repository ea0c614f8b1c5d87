"""Alpaca ``trade_updates``: parsers over the documented frames (tests/fixtures/alpaca/trade_*.json: the
reference's [OFF] fill, [OBS] new, [CON] partial/canceled/rejected) and the stream against the fake."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from functools import partial

import pytest
from pydantic import SecretStr

from autohedge.adapters.alpaca.adapter import create_user_stream
from autohedge.adapters.alpaca.parse import StreamControl, parse_trade_frame, trade_stream_symbols
from autohedge.adapters.alpaca.user_ws import AlpacaUserStream
from autohedge.core.clock import RealClock
from autohedge.core.config import Secrets, parse_config
from autohedge.core.errors import MalformedMessage
from autohedge.core.messages import OrderEventKind, OrderRequest, OrderUpdate
from autohedge.core.types import OrderType, Side
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca
from tests.fakes.order_sink import OrderQueueSink, first_disconnect, streaming
from tests.fixture_files import fixture_bytes
from tests.ids import entry_id

SYMBOLS = trade_stream_symbols(["BTC/USD", "SOL/USD", "AAPL/USD"])
D = Decimal


frame = partial(fixture_bytes, "alpaca")  # binary, as the paper stream sends them


def update(name: str) -> OrderUpdate:
    parsed = parse_trade_frame(frame(name), symbols=SYMBOLS, ts_init=1)
    assert isinstance(parsed, OrderUpdate)
    return parsed


def test_trade_frame_fill_carries_the_last_fill_and_the_position_after_it() -> None:
    fill = update("trade_fill.json")
    assert fill.kind is OrderEventKind.FILLED and fill.symbol == "SOL/USD" and fill.side is Side.SELL
    assert (fill.last_qty, fill.last_price) == (D("1790.86"), D("105.8988475"))
    assert fill.trade_id == "2f63ea93-423d-4169-b3f6-3fdafc10c418" and fill.position_qty == 0
    assert fill.venue_order_id == "a5be8f5e-fdfa-41f5-a644-7a74fe947a8f"
    assert fill.fee == 0 and fill.fee_asset == ""  # Alpaca reports no fee per fill


def test_trade_frame_new_of_a_market_order_is_accepted() -> None:
    new = update("trade_new.json")
    assert new.kind is OrderEventKind.ACCEPTED and new.order_type is OrderType.LIMIT and new.trade_id is None
    assert new.client_order_id == "0f1f3764-107a-4d09-8b9a-d75a11738f5c" and new.order_qty == D("0.01")


def test_trade_frame_partial_fill_keeps_cumulative_and_last() -> None:
    partial = update("trade_partial_fill.json")
    assert partial.kind is OrderEventKind.PARTIALLY_FILLED and partial.client_order_id == "ah-7"
    assert partial.cum_filled_qty == D("0.004") == partial.last_qty and partial.position_qty == D("0.004")
    assert partial.ts_event == 1714557600123456789


@pytest.mark.parametrize(
    ("name", "kind"),
    [("trade_canceled.json", OrderEventKind.CANCELED), ("trade_rejected.json", OrderEventKind.REJECTED)],
)
def test_trade_frame_ends(name: str, kind: OrderEventKind) -> None:
    ended = update(name)
    assert ended.kind is kind and ended.last_qty == 0 and ended.trade_id is None


def test_trade_frame_stream_replies_are_controls() -> None:
    assert parse_trade_frame(frame("trade_authorized.json"), symbols=SYMBOLS, ts_init=1) == StreamControl(
        stream="authorization", ok=True, message="authorized"
    )
    refused = parse_trade_frame(frame("trade_unauthorized.json"), symbols=SYMBOLS, ts_init=1)
    assert isinstance(refused, StreamControl) and not refused.ok and "verification failed" in refused.message
    listening = parse_trade_frame(frame("trade_listening.json"), symbols=SYMBOLS, ts_init=1)
    assert isinstance(listening, StreamControl) and listening.ok


def test_trade_frame_transitional_event_and_untraded_symbol_change_nothing() -> None:
    pending = frame("trade_new.json").replace(b'"event": "new"', b'"event": "pending_new"')
    assert parse_trade_frame(pending, symbols=SYMBOLS, ts_init=1) is None
    assert parse_trade_frame(frame("trade_new.json"), symbols={"ETH/USD": "ETH/USD"}, ts_init=1) is None


def test_trade_frame_done_for_day_does_not_end_the_order() -> None:
    # The order resumes the next trading day and may fill then: reported as ended, the entry is forgotten
    # and that fill is dropped as a late event of a finished entry (bought, never protected).
    raw = frame("trade_partial_fill.json").replace(b'"event": "partial_fill"', b'"event": "done_for_day"')
    assert parse_trade_frame(raw, symbols=SYMBOLS, ts_init=1) is None  # transitional: changes nothing


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",
        b"[]",
        b'{"stream":"trade_updates"}',
        b'{"stream":"somewhere","data":{}}',
        frame("trade_new.json").replace(b'"event": "new"', b'"event": "teleported"'),
        frame("trade_fill.json").replace(b'"qty": "1790.86", "timestamp"', b'"timestamp"'),
    ],
)
def test_trade_frame_malformed_raises_malformed_message(raw: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_trade_frame(raw, symbols=SYMBOLS, ts_init=1)


# -- against the fake ---------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(crypto=["BTC/USD"]) as server:
        server.push_quote("BTC/USD", D(50000), D("50000.5"))
        yield server


def user_stream(fake: FakeAlpaca, *, secret: str = SECRET_KEY) -> AlpacaUserStream:
    config = parse_config(
        {
            "exchange": {"venue": "alpaca", "market_data": "alpaca"},
            "symbols": ["BTC/USD"],
            "venues": {
                "alpaca": {
                    "rest_url": fake.rest_url,
                    "ws_url": fake.crypto_ws_url,
                    "user_ws_url": fake.user_ws_url,
                }
            },
        }
    )
    secrets = Secrets(
        autohedge_alpaca_api_key_id=SecretStr(KEY_ID), autohedge_alpaca_api_secret_key=SecretStr(secret)
    )
    return create_user_stream(config, secrets, RealClock())


def buy(fake: FakeAlpaca, coid: str, price: str) -> None:
    fake.engine.submit_order(
        OrderRequest(client_order_id=coid, symbol="BTC/USD", side=Side.BUY, qty=D("0.01"), price=D(price))
    )


@pytest.fixture
def connected(fake: FakeAlpaca) -> Iterator[OrderQueueSink]:
    with streaming(user_stream(fake)) as sink:
        yield sink


def test_trade_stream_fake_binary_frames_deliver_accepted_then_filled(
    fake: FakeAlpaca, connected: OrderQueueSink
) -> None:
    buy(fake, entry_id(1), "50010")
    first, second = connected.next_update(entry_id(1)), connected.next_update(entry_id(1))
    assert (first.kind, second.kind) == (OrderEventKind.ACCEPTED, OrderEventKind.FILLED)
    assert second.last_qty == D("0.01") and second.position_qty == D("0.01") and second.trade_id
    assert fake.trades.subscriptions == 1


def test_trade_stream_fake_wrong_secret_is_refused_and_reported(fake: FakeAlpaca) -> None:
    error, sink = first_disconnect(user_stream(fake, secret="wrong"))
    assert "refused" in error and not sink.connected.is_set()


def test_trade_stream_fake_duplicates_and_fill_before_ack(
    fake: FakeAlpaca, connected: OrderQueueSink
) -> None:
    fake.trades.faults.duplicate_events = True
    fake.trades.faults.fill_before_ack = True
    buy(fake, entry_id(2), "50010")
    kinds = [connected.next_update(entry_id(2)).kind for _ in range(4)]
    assert kinds == [
        OrderEventKind.FILLED,
        OrderEventKind.FILLED,
        OrderEventKind.ACCEPTED,
        OrderEventKind.ACCEPTED,
    ]


def test_trade_stream_fake_dropped_socket_is_reported(fake: FakeAlpaca, connected: OrderQueueSink) -> None:
    fake.drop_clients()
    assert connected.disconnected.get(timeout=5).startswith("alpaca trading stream")
