"""The Binance user data stream: the subscribe signature vector and parsers over the documented frames
(tests/fixtures/binance/user_*.json; the reference's [OFF] NEW and reject, [OBS] partial, [CON] rest)."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from functools import partial

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from autohedge.adapters.binance.auth import HmacSigner, load_signer, ws_signature_payload
from autohedge.adapters.binance.parse import parse_user_frame
from autohedge.adapters.binance.user_ws import (
    SESSION_LOGON,
    SUBSCRIBE_SIGNATURE,
    BinanceUserStream,
    signed_request,
    subscribe_request,
)
from autohedge.adapters.binance.wire import BinanceWsResponse
from autohedge.core.clock import ManualClock
from autohedge.core.errors import MalformedMessage
from autohedge.core.messages import AccountBalances, OrderEventKind, OrderUpdate
from autohedge.core.types import Side
from tests.fakes.binance_keys import pkcs8_pem
from tests.fakes.order_sink import first_disconnect
from tests.fakes.silent_ws import SilentWsServer
from tests.fixture_files import fixture_text
from tests.unit.adapters.binance.vectors import (
    API_KEY,
    ORDER_PLACE_PARAMS,
    ORDER_PLACE_RECV_WINDOW_MS,
    ORDER_PLACE_SIGNATURE,
    ORDER_PLACE_TIMESTAMP_MS,
    SECRET,
)

SYMBOLS = {"ETHBTC": "ETH/BTC", "ETHUSDT": "ETH/USDT"}
D = Decimal


frame = partial(fixture_text, "binance")


def update(name: str) -> OrderUpdate:
    parsed = parse_user_frame(frame(name), symbols=SYMBOLS, ts_init=1)
    assert isinstance(parsed, OrderUpdate)
    return parsed


def test_subscribe_signature_reproduces_the_reference_vector() -> None:
    request = signed_request(
        SUBSCRIBE_SIGNATURE,
        request_id="1",
        api_key=API_KEY,
        signer=HmacSigner(SecretStr(SECRET)),
        timestamp_ms=1747385641636,
    )
    assert request["method"] == "userDataStream.subscribe.signature"
    assert (
        request["params"]["signature"] == "681110a6057ad58657af22f5640fab9dd17418834cdfccdc81be8b0f7b2cde3e"
    )


def test_session_logon_request_is_signed_with_the_ed25519_key_and_the_subscription_is_not() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    request = signed_request(
        SESSION_LOGON,
        request_id="2",
        api_key=API_KEY,
        signer=load_signer(SecretStr(pkcs8_pem(key))),
        timestamp_ms=1649729878532,
        recv_window_ms=5000,
    )
    params = request["params"]
    assert request["method"] == "session.logon" and params["timestamp"] == 1649729878532
    payload = f"apiKey={API_KEY}&recvWindow=5000&timestamp=1649729878532"
    key.public_key().verify(base64.b64decode(params["signature"]), payload.encode())  # raises if not valid
    assert subscribe_request("3") == {"id": "3", "method": "userDataStream.subscribe"}


def test_ws_signature_payload_sorts_by_name_and_reproduces_the_order_place_vector() -> None:
    params = {
        **ORDER_PLACE_PARAMS,
        "recvWindow": str(ORDER_PLACE_RECV_WINDOW_MS),
        "timestamp": str(ORDER_PLACE_TIMESTAMP_MS),
        "apiKey": API_KEY,
    }
    payload = ws_signature_payload(params)
    assert payload.startswith("apiKey=") and payload.endswith("type=LIMIT")
    assert HmacSigner(SecretStr(SECRET)).sign(payload) == ORDER_PLACE_SIGNATURE


def test_user_frame_new_is_accepted_keyed_by_both_ids() -> None:
    new = update("user_new.json")
    assert new.kind is OrderEventKind.ACCEPTED and new.symbol == "ETH/BTC" and new.side is Side.BUY
    assert new.client_order_id == "mUvoqJxFIILMdfAW5iGSOW" and new.venue_order_id == "4293153"
    assert new.trade_id is None and new.fee_asset == "" and new.last_qty == 0


def test_user_frame_trade_partially_filled_carries_the_last_fill() -> None:
    partial = update("user_partially_filled.json")
    assert partial.kind is OrderEventKind.PARTIALLY_FILLED
    assert (partial.last_qty, partial.last_price) == (D("0.5"), D("2499.5"))
    assert (partial.fee, partial.fee_asset, partial.trade_id) == (D("0.0005"), "ETH", "98765432")
    assert partial.cum_filled_qty == D("0.5") and partial.avg_fill_price == D("2499.5")
    assert partial.ts_event == 1759347763167 * 1_000_000


def test_user_frame_trade_filled_is_filled() -> None:
    filled = update("user_filled.json")
    assert filled.kind is OrderEventKind.FILLED and filled.client_order_id == "ah-7"
    assert filled.cum_filled_qty == D(1) and filled.fill_key == "1234567890:t:98765433"


def test_user_frame_canceled_names_the_original_client_id_not_the_cancel_request() -> None:
    canceled = update("user_canceled.json")
    assert canceled.kind is OrderEventKind.CANCELED and canceled.client_order_id == "ah-7"


def test_user_frame_response_keeps_error_and_rate_limits() -> None:
    reject = parse_user_frame(frame("user_reject_response.json"), symbols=SYMBOLS, ts_init=1)
    assert isinstance(reject, BinanceWsResponse) and reject.status == 400
    assert reject.error is not None and reject.error.code == -2010
    assert [(r.rateLimitType, r.count) for r in reject.rateLimits] == [("ORDERS", 1), ("REQUEST_WEIGHT", 1)]


def test_user_frame_outbound_account_position_is_balances_at_the_update_time() -> None:
    balances = parse_user_frame(frame("user_account_position.json"), symbols=SYMBOLS, ts_init=1)
    assert isinstance(balances, AccountBalances)
    assert [(b.asset, b.free, b.locked) for b in balances.balances] == [("ETH", D(10000), D(0))]
    assert balances.ts_event == 1564034571073 * 1_000_000


def test_user_frame_event_of_an_untraded_symbol_is_ignored() -> None:
    assert parse_user_frame(frame("user_new.json"), symbols={"ETHUSDT": "ETH/USDT"}, ts_init=1) is None


@pytest.mark.parametrize("order_type", ["MARKET", "STOP_LOSS", "TAKE_PROFIT"])
def test_user_frame_event_of_another_clients_order_of_a_type_never_ours_is_ignored(order_type: str) -> None:
    # A manual stop-market order on a traded symbol is valid data, not a malformed frame to count.
    raw = json.loads(frame("user_new.json"))
    event = raw.get("event", raw)
    event["o"] = order_type
    assert parse_user_frame(json.dumps(raw), symbols=SYMBOLS, ts_init=1) is None


@pytest.mark.parametrize("kind", ["eventStreamTerminated", "serverShutdown"])
def test_user_frame_end_of_stream_asks_for_a_reconnect(kind: str) -> None:
    with pytest.raises(ConnectionAbortedError):
        parse_user_frame(
            json.dumps({"subscriptionId": 0, "event": {"e": kind, "E": 1}}), symbols=SYMBOLS, ts_init=1
        )


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff not json",
        "[]",
        '{"subscriptionId":0,"event":{"e":"executionReport","s":"ETHBTC"}}',
        '{"subscriptionId":0,"event":{"e":"somethingNew","E":1}}',
        frame("user_new.json").replace('"x": "NEW"', '"x": "WHATEVER"'),
    ],
)
def test_user_frame_malformed_raises_malformed_message(raw: str | bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_user_frame(raw, symbols=SYMBOLS, ts_init=1)


@pytest.mark.parametrize(
    ("fixture_name", "field", "value"),
    [
        ("user_partially_filled.json", "z", "NaN"),  # compared with 0: decimal.InvalidOperation
        ("user_partially_filled.json", "Z", "NaN"),
        ("user_partially_filled.json", "l", "NaN"),  # not finite: pydantic's ValidationError
        ("user_partially_filled.json", "n", "Infinity"),
        ("user_filled.json", "z", "Infinity"),
    ],
)
def test_user_frame_non_finite_number_raises_malformed_message(
    fixture_name: str, field: str, value: str
) -> None:
    # Anything else escapes the reader's ``except MalformedMessage``: the frame is neither counted nor
    # skipped, and websocket-client's callback guard records it as the connection's error.
    raw = json.loads(frame(fixture_name))
    raw["event"][field] = value
    with pytest.raises(MalformedMessage):
        parse_user_frame(json.dumps(raw), symbols=SYMBOLS, ts_init=1)


def test_user_frame_account_position_with_a_non_finite_balance_raises_malformed_message() -> None:
    raw = json.loads(frame("user_account_position.json"))
    raw["event"]["B"][0]["f"] = "NaN"
    with pytest.raises(MalformedMessage):
        parse_user_frame(json.dumps(raw), symbols=SYMBOLS, ts_init=1)


def test_user_stream_whose_peer_is_gone_without_closing_ends_on_the_missing_pong() -> None:
    # The venue sends nothing while nothing trades, so only our ping can find a connection whose peer
    # vanished without closing it; unwatched, every event from then on was lost without a reconnect.
    with SilentWsServer() as server:
        stream = BinanceUserStream(
            url=server.url,
            api_key=SecretStr(API_KEY),
            signer=HmacSigner(SecretStr(SECRET)),
            clock=ManualClock(),
            symbols=SYMBOLS,
        )
        stream.ping_interval_s, stream.ping_timeout_s = 0.2, 0.1
        error, sink = first_disconnect(stream, timeout_s=20.0)  # found within a few seconds
    assert "ping" in error.lower() or "timed out" in error.lower(), error
    assert not sink.connected.is_set()
