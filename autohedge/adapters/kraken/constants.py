"""Kraken Spot: endpoints, limits, capabilities, asset names and enum tables (data, no logic).

Kraken has no spot sandbox: the defaults are the live endpoints, so trading needs ``exchange.live:
true``; dry run on its public quotes needs neither keys nor the opt-in. Wire facts not confirmed from
official text are marked UNCONFIRMED.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlparse

from autohedge.core.ports import Capabilities
from autohedge.core.types import OrderStatus, OrderType, Side

__all__ = [
    "ASSET_NAMES",
    "CANCEL_PENALTIES",
    "CAPABILITIES",
    "DEFAULT_USER_WS_URL",
    "EXEC_TYPES",
    "LIVE_REST_HOSTS",
    "MAX_FEE_RATE",
    "ORDER_STATUS",
    "ORDER_TYPE",
    "ORDER_TYPE_TO_WIRE",
    "REST_COSTS",
    "REST_COUNTER",
    "SIDE",
    "SIDE_TO_WIRE",
    "TRADING_ADD_COST",
    "TRADING_COUNTER",
    "USER_MAX_SILENCE_S",
    "VENUE",
    "WS_ORDER_STATUS",
    "is_live_endpoint",
]

VENUE = "kraken"
DEFAULT_USER_WS_URL = "wss://ws-auth.kraken.com/v2"
USER_MAX_SILENCE_S = 10.0
"""A subscribed connection gets a ``heartbeat`` about once a second: ten missed, it is stalled."""
LIVE_REST_HOSTS = frozenset({"api.kraken.com"})

# REST call counter per API key: (maximum, drain per second) by verification tier (``venues.kraken.tier``).
REST_COUNTER = {"starter": (15.0, 0.33), "intermediate": (20.0, 0.5), "pro": (20.0, 1.0)}
REST_COSTS = {"default": 1, "ledger": 2, "trade_history": 2, "order": 0}
"""AddOrder/CancelOrder are charged to the per-pair trading counter, not to the REST counter."""

# Per-pair trading-engine counter shared by REST, websocket and FIX: (threshold, drain per second) by
# tier. Thresholds 60/125/180 are UNCONFIRMED (seen in client constants), so are the drain rates.
TRADING_COUNTER = {"starter": (60.0, 1.0), "intermediate": (125.0, 2.34), "pro": (180.0, 3.75)}
TRADING_ADD_COST = 1
CANCEL_PENALTIES = ((5.0, 8.0), (10.0, 6.0), (15.0, 5.0), (45.0, 4.0), (90.0, 2.0), (300.0, 1.0))
"""(order younger than this many seconds, counter cost of cancelling it): quick cancels cost most."""

# Spot has no OCO and no bracket; the conditional close is one-triggers-other, not one-cancels-other.
# Protection: the TP rests as a limit and the monitor guards the stop.
MAX_FEE_RATE = Decimal("0.004")
"""Kraken Pro's spot taker fee in its lowest volume tier: 0.40 % (its earlier starter tier charged
0.26 %; the higher figure is kept, as the fee schedule can change under a running account)."""
CAPABILITIES = Capabilities(
    oco=False, stop_limit=True, positions_with_entry_price=False, max_fee_rate=MAX_FEE_RATE
)

# Legacy X/Z-prefixed asset codes -> ours. Assets listed since the prefixes were dropped (SOL, USDT,
# USDC, ...) are their own names.
ASSET_NAMES = {
    "XXBT": "BTC",
    "XBT": "BTC",
    "XXDG": "DOGE",
    "XDG": "DOGE",
    "XETH": "ETH",
    "XLTC": "LTC",
    "XXRP": "XRP",
    "XXLM": "XLM",
    "XETC": "ETC",
    "XZEC": "ZEC",
    "XXMR": "XMR",
    "XREP": "REP",
    "XMLN": "MLN",
    "ZUSD": "USD",
    "ZEUR": "EUR",
    "ZGBP": "GBP",
    "ZCAD": "CAD",
    "ZJPY": "JPY",
    "ZAUD": "AUD",
    "ZCHF": "CHF",
}

# REST OrderInfo.status. A partial fill is ``open`` with vol_exec > 0 (parse.py decides).
ORDER_STATUS = {
    "pending": OrderStatus.NEW,
    "open": OrderStatus.NEW,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
}
# WS v2 executions ``order_status``.
WS_ORDER_STATUS = {
    "pending_new": OrderStatus.NEW,
    "new": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
}
EXEC_TYPES = frozenset(
    {
        "pending_new",
        "new",
        "trade",
        "filled",
        "iceberg_refill",
        "canceled",
        "expired",
        "restated",
        "status",
        "amended",
    }
)
ORDER_TYPE = {"limit": OrderType.LIMIT, "stop-loss-limit": OrderType.STOP_LIMIT}
ORDER_TYPE_TO_WIRE = {OrderType.LIMIT: "limit", OrderType.STOP_LIMIT: "stop-loss-limit"}
SIDE = {"buy": Side.BUY, "sell": Side.SELL}
SIDE_TO_WIRE = {Side.BUY: "buy", Side.SELL: "sell"}


def is_live_endpoint(url: str) -> bool:
    """True for Kraken's production REST host. Kraken has no spot testnet: every default is live."""
    return (urlparse(url).hostname or "") in LIVE_REST_HOSTS
