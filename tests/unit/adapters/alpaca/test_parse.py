"""Alpaca parsers over documented sample payloads (tests/fixtures/alpaca)."""

from decimal import Decimal
from functools import partial

import pytest
from pydantic import SecretStr

from autohedge.adapters.alpaca.auth import auth_headers, ws_auth_message
from autohedge.adapters.alpaca.parse import (
    SymbolMap,
    map_error,
    parse_frame,
    parse_order,
    parse_rfc3339_ns,
    parse_rules,
)
from autohedge.adapters.alpaca.wire import AlpacaAsset, AlpacaOrder
from autohedge.core.errors import (
    AuthError,
    InsufficientFunds,
    MalformedMessage,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownOrder,
)
from autohedge.core.messages import Quote
from autohedge.core.types import OrderStatus, Side
from tests.fixture_files import fixture_text

fixture = partial(fixture_text, "alpaca")


def test_auth_headers_and_stream_auth_message() -> None:
    key, secret = SecretStr("k"), SecretStr("s")
    assert auth_headers(key, secret) == {"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}
    assert ws_auth_message(key, secret) == {"action": "auth", "key": "k", "secret": "s"}


def test_parse_crypto_quote_numbers_become_exact_decimals() -> None:
    (quote,) = parse_frame(fixture("crypto_quote_frame.json"), symbols={"BAT/USD": "BAT/USD"}, ts_init=9)
    assert isinstance(quote, Quote)
    assert (quote.bid, quote.ask, quote.ask_size) == (
        Decimal("0.35718"),
        Decimal("0.3581"),
        Decimal("13561.902"),
    )
    assert quote.ts_event == 1710239383111588173


def test_parse_stock_frame_quote_kept_trade_ignored() -> None:
    items = parse_frame(fixture("stock_quote_frame.json"), symbols={"AAPL": "AAPL/USD"}, ts_init=0)
    assert len(items) == 1 and isinstance(items[0], Quote) and items[0].symbol == "AAPL/USD"


def test_parse_control_messages_are_returned() -> None:
    items = parse_frame('[{"T":"success","msg":"connected"}]', symbols={}, ts_init=0)
    assert items == [{"T": "success", "msg": "connected"}]


@pytest.mark.parametrize(
    "raw",
    [
        "{}",
        "not json",
        '[{"S":"BTC/USD"}]',
        '[{"T":"zz"}]',
        '[{"T":"q","S":"BTC/USD","bp":"x","ap":1}]',
        '[{"T":"q","S":"ETH/USD","bp":1,"ap":2}]',
    ],
)
def test_parse_malformed_frames_raise(raw: str) -> None:
    with pytest.raises(MalformedMessage):
        parse_frame(raw, symbols={"BTC/USD": "BTC/USD"}, ts_init=0)


def test_parse_order_partial_fill() -> None:
    order = parse_order(
        AlpacaOrder.model_validate_json(fixture("order_partially_filled.json")), symbol="BTC/USD"
    )
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.side is Side.BUY
    assert (order.qty, order.filled_qty, order.avg_fill_price, order.price) == (
        Decimal("0.02"),
        Decimal("0.005"),
        Decimal("60012.5"),
        Decimal(60020),
    )


def test_parse_order_unknown_status_raises() -> None:
    raw = AlpacaOrder.model_validate_json(fixture("order_partially_filled.json")).model_copy(
        update={"status": "teleported"}
    )
    with pytest.raises(MalformedMessage, match="teleported"):
        parse_order(raw, symbol="BTC/USD")


def test_parse_order_done_for_day_is_still_live() -> None:
    # Alpaca: done_for_day = "done executing for the day, will not receive further updates until the
    # next trading day" (it resumes and may fill then); calculated = "completed for the day (either
    # filled or done_for_day), settlement pending". Neither ends a partly filled order.
    raw = AlpacaOrder.model_validate_json(fixture("order_partially_filled.json"))
    for status in ("done_for_day", "calculated"):
        order = parse_order(raw.model_copy(update={"status": status}), symbol="BTC/USD")
        assert not order.status.is_terminal, status
        assert order.filled_qty == Decimal("0.005")
    done = raw.model_copy(update={"status": "calculated", "filled_qty": "0.02"})
    assert parse_order(done, symbol="BTC/USD").status is OrderStatus.FILLED


def test_symbol_map_crypto_orders_positions_and_stocks() -> None:
    m = SymbolMap(["BTC/USD", "AAPL/USD"], {"BTC/USD", "ETH/USD"})
    assert m.to_venue("BTC/USD") == "BTC/USD" and m.to_venue("AAPL/USD") == "AAPL"
    assert m.from_position_symbol("BTCUSD") == "BTC/USD" and m.from_position_symbol("AAPL") == "AAPL/USD"
    assert m.from_order_symbol("BTCUSD") == "BTC/USD"
    with pytest.raises(OrderRejected):
        SymbolMap(["DOGE/EUR"], {"BTC/USD"})


def test_parse_rules_crypto_and_stocks() -> None:
    asset = AlpacaAsset(
        symbol="BTC/USD", min_order_size="0.0001", min_trade_increment="0.000000001", price_increment="1"
    )
    crypto = parse_rules(asset, symbol="BTC/USD", crypto=True)
    assert (crypto.tick_size, crypto.lot_step, crypto.min_qty) == (
        Decimal(1),
        Decimal("0.000000001"),
        Decimal("0.0001"),
    )
    whole = parse_rules(AlpacaAsset(symbol="XYZ", fractionable=False), symbol="XYZ/USD", crypto=False)
    assert whole.lot_step == Decimal(1) and whole.tick_size == Decimal("0.01")


def test_rfc3339_nanoseconds_exact() -> None:
    assert parse_rfc3339_ns("1970-01-01T00:00:01.000000001Z") == 1_000_000_001


@pytest.mark.parametrize(
    ("status", "body", "mutates", "error"),
    [
        (429, "", False, RateLimited),
        (403, '{"code":40310000,"message":"insufficient balance for USD"}', True, InsufficientFunds),
        (404, '{"code":40410000,"message":"order not found"}', False, UnknownOrder),
        (422, '{"code":42210000,"message":"invalid limit_price"}', True, OrderRejected),
        (401, '{"message":"unauthorized"}', False, AuthError),
        (500, '{"code":50010000,"message":"internal"}', True, OutcomeUnknown),
    ],
)
def test_map_error_table(status: int, body: str, mutates: bool, error: type[Exception]) -> None:
    assert (
        type(map_error(status, body, {"X-Ratelimit-Reset": "130"}, mutates=mutates, auth_hint="h", now_s=100))
        is error
    )


def test_map_error_429_waits_until_the_reset() -> None:
    mapped = map_error(429, "", {"X-Ratelimit-Reset": "130"}, mutates=False, auth_hint="h", now_s=100)
    assert isinstance(mapped, RateLimited) and mapped.retry_after_s == 30


def test_map_error_429_with_unreadable_headers_waits_a_minute() -> None:
    headers = {"Retry-After": "later", "X-Ratelimit-Reset": "soon"}
    mapped = map_error(429, "", headers, mutates=False, auth_hint="h", now_s=100)
    assert isinstance(mapped, RateLimited) and mapped.retry_after_s == 60
