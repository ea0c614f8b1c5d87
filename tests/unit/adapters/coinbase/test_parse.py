"""Coinbase parsers over documented payloads (tests/fixtures/coinbase) and constructed error bodies."""

from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from autohedge.adapters.coinbase.parse import (
    map_cancel_result,
    map_create_response,
    map_error,
    parse_accounts,
    parse_order,
    parse_price_book,
    parse_rules,
    product_id,
    symbol_of,
)
from autohedge.adapters.coinbase.wire import (
    CoinbaseAccounts,
    CoinbaseCancelResult,
    CoinbaseCreateResponse,
    CoinbaseOrder,
    CoinbasePriceBook,
    CoinbaseProduct,
)
from autohedge.core.errors import (
    AuthError,
    InsufficientFunds,
    MalformedMessage,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownOrder,
    VenueUnavailable,
)
from autohedge.core.types import OrderStatus, OrderType, Side
from tests.fixture_files import fixture_json
from tests.ids import entry_id

D = Decimal


fixture = partial(fixture_json, "coinbase")


def _order(**changes: Any) -> CoinbaseOrder:
    raw = fixture("order_partially_filled.json")["order"]
    raw.update(changes)
    return CoinbaseOrder.model_validate(raw)


def test_parse_product_ids_map_both_ways() -> None:
    assert symbol_of("BTC-USD") == "BTC/USD" and product_id("BTC/USD") == "BTC-USD"


def test_parse_product_id_without_dash_is_malformed() -> None:
    with pytest.raises(MalformedMessage):
        symbol_of("BTCUSD")


def test_parse_rules_use_increments_and_minimums() -> None:
    rules = parse_rules(CoinbaseProduct.model_validate(fixture("product.json")), symbol="BTC/USD")
    assert (rules.tick_size, rules.lot_step) == (D("0.01"), D("1E-8"))
    assert (rules.min_qty, rules.min_notional, rules.max_qty) == (D("0.00000001"), D(1), D(3400))


def test_parse_rules_fall_back_to_quote_increment_without_price_increment() -> None:
    raw = fixture("product.json") | {"price_increment": None, "quote_increment": "0.5"}
    assert parse_rules(CoinbaseProduct.model_validate(raw), symbol="BTC/USD").tick_size == D("0.5")


def test_parse_rules_refuse_a_cancel_only_product() -> None:
    raw = fixture("product.json") | {"cancel_only": True}
    with pytest.raises(OrderRejected, match="not accepting"):
        parse_rules(CoinbaseProduct.model_validate(raw), symbol="BTC/USD")


def test_parse_order_open_with_filled_size_is_partially_filled() -> None:
    order = parse_order(_order(), symbol="BTC/USD")
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.side is Side.BUY
    assert (order.qty, order.price, order.filled_qty) == (D("0.01"), D(50000), D("0.004"))
    assert (order.avg_fill_price, order.fee, order.fee_asset) == (D(49990), D("0.8"), "USD")
    assert order.client_order_id == entry_id(1) and order.ts_event == 1_718_994_600_500_000_000


def test_parse_order_stop_limit_carries_the_stop() -> None:
    config = {"stop_limit_stop_limit_gtc": {"base_size": "1", "limit_price": "9", "stop_price": "10"}}
    order = parse_order(_order(order_configuration=config, filled_size="0"), symbol="BTC/USD")
    assert (order.order_type, order.price, order.stop_price) == (OrderType.STOP_LIMIT, D(9), D(10))


def test_parse_order_bracket_is_one_limit_with_a_stop() -> None:
    config = {"trigger_bracket_gtc": {"base_size": "1", "limit_price": "110", "stop_trigger_price": "90"}}
    order = parse_order(_order(order_configuration=config), symbol="BTC/USD")
    assert (order.order_type, order.price, order.stop_price) == (OrderType.LIMIT, D(110), D(90))


def test_parse_order_unknown_status_raises() -> None:
    with pytest.raises(MalformedMessage, match="SOMETHING_NEW"):
        parse_order(_order(status="SOMETHING_NEW"), symbol="BTC/USD")


def test_parse_order_unknown_configuration_raises() -> None:
    with pytest.raises(MalformedMessage, match="market_market_ioc"):
        parse_order(_order(order_configuration={"market_market_ioc": {"base_size": "1"}}), symbol="BTC/USD")


def test_parse_order_cancel_queued_is_still_open() -> None:
    assert parse_order(_order(status="CANCEL_QUEUED", filled_size="0"), symbol="BTC/USD").status is (
        OrderStatus.NEW
    )


def test_parse_accounts_sum_available_and_hold_across_pages() -> None:
    def account(currency: str, free: str, hold: str) -> dict[str, Any]:
        return {
            "currency": currency,
            "available_balance": {"value": free, "currency": currency},
            "hold": {"value": hold, "currency": currency},
        }

    pages = [
        CoinbaseAccounts.model_validate({"accounts": [account("USD", "100", "5"), account("ETH", "0", "0")]}),
        CoinbaseAccounts.model_validate({"accounts": [account("BTC", "0.5", "0.1")]}),
    ]
    balances = parse_accounts(pages)
    assert sorted(balances) == ["BTC", "USD"]
    assert (balances["BTC"].free, balances["BTC"].locked) == (D("0.5"), D("0.1"))


def test_parse_price_book_takes_the_top_of_each_side() -> None:
    book = CoinbasePriceBook.model_validate(
        {
            "product_id": "BTC-USD",
            "bids": [{"price": "100", "size": "1"}],
            "asks": [{"price": "101", "size": "2"}],
            "time": "",
        }
    )
    quote = parse_price_book(book, symbol="BTC/USD", ts_init=7)
    assert (quote.bid, quote.ask, quote.ask_size, quote.ts_event) == (D(100), D(101), D(2), 7)


def test_parse_create_success_returns_the_order_id() -> None:
    response = CoinbaseCreateResponse.model_validate(
        {"success": True, "success_response": {"order_id": "abc", "client_order_id": "ah-1"}}
    )
    assert map_create_response(response) == "abc"


def test_parse_create_insufficient_fund_is_typed() -> None:
    response = CoinbaseCreateResponse.model_validate(fixture("create_insufficient_fund.json"))
    with pytest.raises(InsufficientFunds, match="Insufficient balance"):
        map_create_response(response)


@pytest.mark.parametrize("reason", ["INVALID_LIMIT_PRICE_PRECISION", "INVALID_SIZE_PRECISION"])
def test_parse_create_invalid_size_or_price_is_rejected(reason: str) -> None:
    body = {"success": False, "error_response": {"error": reason, "message": "bad"}}
    with pytest.raises(OrderRejected) as caught:
        map_create_response(CoinbaseCreateResponse.model_validate(body))
    assert caught.value.code == reason


def test_parse_cancel_unknown_order_is_typed() -> None:
    row = CoinbaseCancelResult(success=False, failure_reason="UNKNOWN_CANCEL_ORDER", order_id="x")
    with pytest.raises(UnknownOrder):
        map_cancel_result(row)


def test_parse_cancel_of_a_filled_order_is_rejected() -> None:
    row = CoinbaseCancelResult(success=False, failure_reason="ORDER_IS_FULLY_FILLED", order_id="x")
    with pytest.raises(OrderRejected):
        map_cancel_result(row)


def test_parse_error_429_is_rate_limited_with_retry_after() -> None:
    body = '{"errors":[{"id":"rate_limit_exceeded","message":"Too many requests"}]}'
    error = map_error(429, body, {"Retry-After": "3"}, mutates=True, auth_hint="set keys", now_s=0.0)
    assert isinstance(error, RateLimited) and error.retry_after_s == 3.0 and "Too many" in str(error)


def test_parse_error_401_names_the_variables() -> None:
    error = map_error(
        401, '{"error":"UNAUTHENTICATED"}', {}, mutates=False, auth_hint="set AUTOHEDGE_X", now_s=0.0
    )
    assert isinstance(error, AuthError) and "AUTOHEDGE_X" in str(error)


def test_parse_error_404_is_unknown_order() -> None:
    body = '{"error":"NOT_FOUND","error_details":"order with this orderID was not found","message":"x"}'
    assert isinstance(map_error(404, body, {}, mutates=False, auth_hint="", now_s=0.0), UnknownOrder)


def test_parse_error_5xx_on_a_mutation_is_outcome_unknown() -> None:
    assert isinstance(map_error(503, "oops", {}, mutates=True, auth_hint="", now_s=0.0), OutcomeUnknown)
    assert isinstance(map_error(503, "oops", {}, mutates=False, auth_hint="", now_s=0.0), VenueUnavailable)
