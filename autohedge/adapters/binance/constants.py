"""Binance Spot: endpoints, limits, capabilities and enum tables (data, no logic)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlparse

from autohedge.core.messages import OrderEventKind
from autohedge.core.ports import Capabilities
from autohedge.core.reads import ReadWeights
from autohedge.core.types import OrderStatus, OrderType, Side

__all__ = [
    "CAPABILITIES",
    "EXECUTION_TYPE",
    "LIVE_REST_HOSTS",
    "MAX_FEE_RATE",
    "ORDER_STATUS",
    "ORDER_TYPE",
    "REQUEST_WEIGHT_PER_MINUTE",
    "SIDE",
    "SIDE_TO_WIRE",
    "TESTNET_USER_WS_URL",
    "VENUE",
    "WEIGHTS",
    "is_live_endpoint",
]

VENUE = "binance"
LIVE_REST_HOSTS = frozenset(
    {
        "api.binance.com",
        "api-gcp.binance.com",
        "api1.binance.com",
        "api2.binance.com",
        "api3.binance.com",
        "api4.binance.com",
    }
)
TESTNET_USER_WS_URL = "wss://ws-api.testnet.binance.vision/ws-api/v3"

REQUEST_WEIGHT_PER_MINUTE = 1200
"""Until ``exchangeInfo.rateLimits`` is read: the lowest REQUEST_WEIGHT Binance has advertised."""
WEIGHTS = {
    "order": 1,
    "order_list": 1,
    "cancel": 1,
    "get_order": 4,
    "open_orders_symbol": 6,
    "open_orders_all": 80,
    "account": 20,
    "exchange_info": 20,
    "book_ticker": 2,
    "time": 1,
    "my_trades": 20,
}

MAX_FEE_RATE = Decimal("0.001")
"""Spot fee of Binance's published schedule for a regular (VIP 0) account, maker and taker alike:
0.1 %. Paying fees in BNB or a VIP tier only lowers it."""

CAPABILITIES = Capabilities(
    oco=True,
    stop_limit=True,
    positions_with_entry_price=False,
    max_fee_rate=MAX_FEE_RATE,
    read_weights=ReadWeights(
        get_order=WEIGHTS["get_order"],
        open_orders_symbol=WEIGHTS["open_orders_symbol"],
        open_orders_all=WEIGHTS["open_orders_all"],
    ),
)

ORDER_STATUS = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}
ORDER_TYPE = {
    "LIMIT": OrderType.LIMIT,
    "LIMIT_MAKER": OrderType.LIMIT,
    "STOP_LOSS_LIMIT": OrderType.STOP_LIMIT,
}
SIDE = {"BUY": Side.BUY, "SELL": Side.SELL}
EXECUTION_TYPE = {
    # executionReport ``x`` -> event kind; TRADE is resolved by ``X`` (partially filled or filled).
    "NEW": OrderEventKind.ACCEPTED,
    "REPLACED": OrderEventKind.ACCEPTED,
    "TRADE": OrderEventKind.PARTIALLY_FILLED,
    "CANCELED": OrderEventKind.CANCELED,
    "REJECTED": OrderEventKind.REJECTED,
    "EXPIRED": OrderEventKind.EXPIRED,
    "TRADE_PREVENTION": OrderEventKind.EXPIRED,
}
SIDE_TO_WIRE = {Side.BUY: "BUY", Side.SELL: "SELL"}


def is_live_endpoint(url: str) -> bool:
    """True for Binance's production REST hosts (trading real money)."""
    return (urlparse(url).hostname or "") in LIVE_REST_HOSTS
