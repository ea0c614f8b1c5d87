"""The pure parts of Binance order entry over the WebSocket API: the request frame and its signature
(Binance's published ``order.place`` example), what a refusal means (the same typed errors as REST), the
in-band ``rateLimits`` aligning the shared budget, and the ``order_entry`` setting."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from autohedge.adapters.binance.auth import HmacSigner, ws_request
from autohedge.adapters.binance.rest import observe_ws_rate_limits
from autohedge.adapters.binance.wire import BinanceWsRateLimit, BinanceWsResponse
from autohedge.adapters.binance.ws_api import ORDER_PLACE, ws_error
from autohedge.core.clock import ManualClock
from autohedge.core.config import parse_config
from autohedge.core.errors import (
    AuthError,
    ConfigError,
    InsufficientFunds,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueUnavailable,
)
from autohedge.core.ratelimit import LimitKind, LimitRule, RequestBudget
from tests.unit.adapters.binance.vectors import (
    API_KEY,
    ORDER_PLACE_PARAMS,
    ORDER_PLACE_RECV_WINDOW_MS,
    ORDER_PLACE_SIGNATURE,
    ORDER_PLACE_TIMESTAMP_MS,
    SECRET,
)

NOW_MS = 1_700_000_000_000


def test_ws_order_place_signature_matches_the_published_example() -> None:
    frame = ws_request(
        ORDER_PLACE,
        ORDER_PLACE_PARAMS,
        request_id="56374a46-3061-486b-a311-99ee972eb648",
        timestamp_ms=ORDER_PLACE_TIMESTAMP_MS,
        recv_window_ms=ORDER_PLACE_RECV_WINDOW_MS,
        api_key=API_KEY,
        signer=HmacSigner(SecretStr(SECRET)),
    )
    params = frame["params"]
    assert params["signature"] == ORDER_PLACE_SIGNATURE
    assert frame["method"] == "order.place" and frame["id"] == "56374a46-3061-486b-a311-99ee972eb648"
    assert params["timestamp"] == ORDER_PLACE_TIMESTAMP_MS and params["recvWindow"] == 100  # JSON numbers
    assert params["apiKey"] == API_KEY and params["price"] == "52000.00"


def test_ws_order_on_a_logged_on_session_is_unsigned_but_timestamped() -> None:
    frame = ws_request(ORDER_PLACE, ORDER_PLACE_PARAMS, request_id="1", timestamp_ms=ORDER_PLACE_TIMESTAMP_MS)
    assert "signature" not in frame["params"] and "apiKey" not in frame["params"]
    assert frame["params"]["timestamp"] == ORDER_PLACE_TIMESTAMP_MS and "recvWindow" not in frame["params"]


def response(status: int, code: int, msg: str = "m", retry_after_ms: int | None = None) -> BinanceWsResponse:
    error: dict[str, object] = {"code": code, "msg": msg}
    if retry_after_ms is not None:
        error["data"] = {"serverTime": NOW_MS, "retryAfter": retry_after_ms}
    return BinanceWsResponse.model_validate({"id": "ah-1", "status": status, "error": error})


def test_ws_error_429_waits_until_retry_after() -> None:
    error = ws_error(response(429, -1003, retry_after_ms=NOW_MS + 7_500), NOW_MS)
    assert isinstance(error, RateLimited) and not error.banned
    assert error.retry_after_s == pytest.approx(7.5)


def test_ws_error_418_is_a_ban_and_without_retry_after_waits_a_weight_window() -> None:
    error = ws_error(response(418, -1003), NOW_MS)
    assert isinstance(error, RateLimited) and error.banned and error.retry_after_s == 60.0


@pytest.mark.parametrize(
    ("status", "code", "msg", "expected"),
    [
        (400, -2010, "Account has insufficient balance for requested action.", InsufficientFunds),
        (400, -1013, "Filter failure: PRICE_FILTER", OrderRejected),
        (503, -1001, "Internal error", OutcomeUnknown),
        (400, -1007, "Timeout waiting for response from backend server.", OutcomeUnknown),
        (401, -2015, "Invalid API-key, IP, or permissions for action.", AuthError),
        (400, -1021, "Timestamp for this request is outside of the recvWindow.", VenueUnavailable),
    ],
)
def test_ws_error_maps_like_rest(status: int, code: int, msg: str, expected: type[Exception]) -> None:
    error = ws_error(response(status, code, msg), NOW_MS)
    assert type(error) is expected and error.code == code and msg in str(error)


def test_ws_rate_limits_align_weight_and_order_windows_never_lower() -> None:
    clock = ManualClock(start_wall_ns=NOW_MS // 60_000 * 60_000 * 1_000_000)
    budget = RequestBudget(clock, venue="binance", capacity=1200, per_s=60, reserve_fraction=0.2)
    budget.apply_limits([LimitRule(LimitKind.WEIGHT, 1200, 60), LimitRule(LimitKind.ORDERS, 50, 10)])
    limits = (
        BinanceWsRateLimit(
            rateLimitType="REQUEST_WEIGHT", interval="MINUTE", intervalNum=1, limit=1200, count=600
        ),
        BinanceWsRateLimit(rateLimitType="ORDERS", interval="SECOND", intervalNum=10, limit=50, count=50),
        BinanceWsRateLimit(
            rateLimitType="RAW_REQUESTS", interval="MINUTE", intervalNum=5, limit=61000, count=9
        ),
    )
    observe_ws_rate_limits(budget, limits)
    assert budget.used_fraction == pytest.approx(0.5)
    assert budget.wait_s(orders=1, priority=True) > 0  # the account's 50 orders per 10 s are spent
    assert budget.wait_s(priority=True) == 0.0  # a cancel weighs, it is no new order
    lower = (limits[0].model_copy(update={"count": 10}),)
    observe_ws_rate_limits(budget, lower)
    assert budget.used_fraction == pytest.approx(0.5)


def config_with(order_entry: object) -> dict[str, object]:
    endpoints = {"rest_url": "http://127.0.0.1:1", "ws_url": "ws://127.0.0.1:1", "order_entry": order_entry}
    exchange = {"venue": "binance", "market_data": "binance"}
    return {"exchange": exchange, "symbols": ["BTC/USDT"], "venues": {"binance": endpoints}}


def test_ws_order_entry_defaults_to_ws_and_a_bad_value_names_the_key() -> None:
    assert parse_config(config_with("rest")).venues.binance.order_entry == "rest"
    assert parse_config({"symbols": ["BTC/USDT"]}).venues.binance.order_entry == "ws"
    with pytest.raises(ConfigError, match=r"venues\.binance\.order_entry"):
        parse_config(config_with("fix"))
