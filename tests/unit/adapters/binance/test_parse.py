"""Parsers over Binance's documented sample payloads (tests/fixtures/binance)."""

import json
from decimal import Decimal
from functools import partial

import pytest

from autohedge.adapters.binance.parse import (
    DEFAULT_RETRY_AFTER_S,
    SymbolMap,
    map_error,
    parse_book_ticker_frame,
    parse_order,
    parse_rules,
)
from autohedge.adapters.binance.wire import BinanceOrder, BinanceSymbolInfo
from autohedge.core.errors import (
    AuthError,
    DuplicateOrder,
    InsufficientFunds,
    MalformedMessage,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownOrder,
    VenueUnavailable,
)
from autohedge.core.types import OrderStatus, OrderType, Side
from tests.fixture_files import fixture_text

fixture = partial(fixture_text, "binance")


def symbols() -> SymbolMap:
    return SymbolMap([BinanceSymbolInfo.model_validate(json.loads(fixture("exchange_info_symbol.json")))])


def test_parse_book_ticker_combined_frame() -> None:
    quote = parse_book_ticker_frame(fixture("book_ticker_combined.json"), symbols=symbols(), ts_init=5)
    assert quote is not None
    assert (quote.symbol, quote.bid, quote.ask, quote.ask_size) == (
        "BNB/USDT",
        Decimal("25.3519"),
        Decimal("25.3652"),
        Decimal("40.66"),
    )


def test_parse_subscription_reply_is_no_quote() -> None:
    assert parse_book_ticker_frame('{"result":null,"id":1}', symbols=symbols(), ts_init=0) is None


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1]",
        '{"stream":"x","data":{"s":"BNBUSDT","b":"1"}}',
        '{"data":{"s":"BNBUSDT","b":"x","B":"1","a":"2","A":"1"}}',
        '{"data":{"s":"XRPUSDT","b":"1","B":"1","a":"2","A":"1"}}',
    ],
)
def test_parse_malformed_frames_raise(raw: str) -> None:
    with pytest.raises(MalformedMessage):
        parse_book_ticker_frame(raw, symbols=symbols(), ts_init=0)


def test_parse_server_shutdown_asks_for_a_reconnect() -> None:
    with pytest.raises(ConnectionAbortedError):
        parse_book_ticker_frame('{"e":"serverShutdown","E":1}', symbols=symbols(), ts_init=0)


def test_parse_order_partial_fill_average_price() -> None:
    order = parse_order(
        BinanceOrder.model_validate_json(fixture("order_partially_filled.json")), symbol="BNB/USDT"
    )
    assert (
        order.status is OrderStatus.PARTIALLY_FILLED
        and order.side is Side.BUY
        and order.order_type is OrderType.LIMIT
    )
    assert (
        order.filled_qty == Decimal(4)
        and order.avg_fill_price == Decimal("24.95")
        and order.stop_price is None
    )
    assert order.ts_event == 1507725176595 * 1_000_000


def test_parse_order_unknown_status_raises() -> None:
    raw = json.loads(fixture("order_partially_filled.json")) | {"status": "HALF_DONE"}
    with pytest.raises(MalformedMessage, match="HALF_DONE"):
        parse_order(BinanceOrder.model_validate(raw), symbol="BNB/USDT")


def test_parse_rules_from_filters() -> None:
    info = BinanceSymbolInfo.model_validate(json.loads(fixture("exchange_info_symbol.json")))
    rules = parse_rules(info, symbol="BNB/USDT")
    assert (rules.tick_size, rules.lot_step, rules.min_qty, rules.min_notional) == (
        Decimal("0.01"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal(5),
    )


def test_symbol_map_both_ways() -> None:
    m = symbols()
    assert m.to_venue("BNB/USDT") == "BNBUSDT" and m.from_venue("BNBUSDT") == "BNB/USDT"
    with pytest.raises(OrderRejected):
        m.to_venue("DOGE/USDT")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (429, '{"code":-1003,"msg":"Too much request weight used"}', RateLimited),
        (418, '{"code":-1003,"msg":"Way too much request weight used; IP banned"}', RateLimited),
        (
            400,
            '{"code":-2010,"msg":"Account has insufficient balance for requested action."}',
            InsufficientFunds,
        ),
        (400, '{"code":-2010,"msg":"Duplicate order sent."}', DuplicateOrder),
        (400, '{"code":-2013,"msg":"Order does not exist."}', UnknownOrder),
        (400, '{"code":-2011,"msg":"Unknown order sent."}', UnknownOrder),
        (400, '{"code":-1022,"msg":"Signature for this request is not valid."}', AuthError),
        (401, '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}', AuthError),
        (
            400,
            '{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}',
            VenueUnavailable,
        ),
        (400, '{"code":-1007,"msg":"Timeout waiting for response from backend server."}', OutcomeUnknown),
        (503, "<html>unavailable</html>", OutcomeUnknown),
        (400, '{"code":-1013,"msg":"Filter failure: LOT_SIZE"}', OrderRejected),
    ],
)
def test_map_error_table(status: int, body: str, error: type[Exception]) -> None:
    mapped = map_error(status, body, {"Retry-After": "30"}, auth_hint="set the keys", now_s=0.0)
    assert type(mapped) is error


def test_map_error_418_is_a_ban_with_retry_after() -> None:
    mapped = map_error(418, '{"code":-1003,"msg":"banned"}', {"Retry-After": "120"}, auth_hint="", now_s=0.0)
    assert isinstance(mapped, RateLimited) and mapped.banned and mapped.retry_after_s == 120


def test_map_error_429_with_an_unreadable_retry_after_is_still_rate_limited() -> None:
    mapped = map_error(
        429, '{"code":-1003,"msg":"slow down"}', {"Retry-After": "soon"}, auth_hint="", now_s=0.0
    )
    assert isinstance(mapped, RateLimited) and mapped.retry_after_s == DEFAULT_RETRY_AFTER_S


@pytest.mark.parametrize("field", ["executedQty", "cummulativeQuoteQty", "origQty"])
def test_parse_order_non_finite_quantity_raises_malformed_message(field: str) -> None:
    # A REST answer the adapter cannot read is a typed error, not decimal.InvalidOperation or a pydantic
    # ValidationError (the user stream's reconciliation catches venue errors: anything else crashed it).
    raw = json.loads(fixture("order_partially_filled.json")) | {field: "NaN"}
    with pytest.raises(MalformedMessage):
        parse_order(BinanceOrder.model_validate(raw), symbol="BNB/USDT")


def test_map_error_whose_body_no_parser_takes_is_still_typed() -> None:
    body = (
        '{"code": ' + "9" * 5000 + "}"
    )  # past the interpreter's digit limit: ValueError, not JSONDecodeError
    mapped = map_error(503, body, {}, auth_hint="", now_s=0.0)
    assert isinstance(mapped, OutcomeUnknown)


def test_parse_order_time_is_taken_to_our_clock_by_the_venues_offset() -> None:
    order = BinanceOrder.model_validate_json(fixture("order_partially_filled.json"))
    ours = parse_order(order, symbol="BNB/USDT", venue_offset_ns=2_000_000_000)  # the venue 2 s ahead
    assert ours.ts_event == 1507725176595 * 1_000_000 - 2_000_000_000
