"""Coinbase Advanced Trade: endpoints, limits, capabilities and enum tables (data, no logic).

Wire facts not confirmed from official text are marked UNCONFIRMED.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlparse

from autohedge.core.ports import Capabilities
from autohedge.core.reads import ReadWeights
from autohedge.core.types import OrderStatus, OrderType, Side

__all__ = [
    "BRACKET_CONFIGS",
    "BRACKET_STOP_LIMIT_OFFSET",
    "CAPABILITIES",
    "CONFIGURATION_REFUSALS",
    "DEFAULT_USER_WS_URL",
    "JWT_LIFETIME_S",
    "LIVE_REST_HOSTS",
    "LIVE_STATUS_FILTERS",
    "MAX_FEE_RATE",
    "ORDER_STATUS",
    "ORDER_TYPE",
    "PRIVATE_REQUESTS_PER_S",
    "PUBLIC_REQUESTS_PER_S",
    "SIDE",
    "SIDE_TO_WIRE",
    "SNAPSHOT_BATCH",
    "STOP_DIRECTION_DOWN",
    "STOP_TRIGGERED",
    "USER_MAX_SILENCE_S",
    "VENUE",
    "WS_SUBSCRIBE_DEADLINE_S",
    "is_live_endpoint",
]

VENUE = "coinbase"
DEFAULT_USER_WS_URL = "wss://advanced-trade-ws-user.coinbase.com"
LIVE_REST_HOSTS = frozenset({"api.coinbase.com"})

JWT_LIFETIME_S = 120
"""Every REST JWT and every websocket subscribe JWT expires 120 s after it was made."""
WS_SUBSCRIBE_DEADLINE_S = 5.0
"""The server closes a websocket that has not subscribed within 5 s of connecting."""
SNAPSHOT_BATCH = 50
USER_MAX_SILENCE_S = 10.0
"""The ``heartbeats`` channel beats once a second: ten missed, the user stream is stalled."""
"""The ``user`` channel's snapshot lists open orders in batches of 50; a shorter batch is the last."""

# UNCONFIRMED (secondary sources; the official rate-limit page was not retrievable): private REST
# 30 requests/s per user, public 10 requests/s per IP, both answered with 429.
PRIVATE_REQUESTS_PER_S = 30
PUBLIC_REQUESTS_PER_S = 10

# Protection: a ``trigger_bracket_gtc`` sell is ONE order holding a take-profit limit and a stop for one
# quantity; when either executes the other is gone (it maps onto the port's OCO as one venue order).
# Spot availability is UNCONFIRMED (the SDK says spot, other clients say not on spot), so it is learned
# per product from ``POST /orders/preview`` when the product is loaded: ``oco_symbols`` starts empty
# and holds the products whose preview accepted the bracket. Elsewhere the monitor rests a TP limit and
# guards the stop itself; a lone resting stop-limit exists too (``stop_limit_stop_limit_gtc``).
LIVE_STATUS_FILTERS = (("PENDING", "QUEUED"), ("OPEN",), ("CANCEL_QUEUED",))
"""The order-list filters that together cover every live order, asked in the order a live order moves
through them (one that moves on between two reads is still listed once): ``OPEN`` alone leaves out the
orders not open yet and those whose cancel is only queued, which may still fill. ``OPEN`` is asked
alone, as clients of the venue ask it."""
MAX_FEE_RATE = Decimal("0.012")
"""Coinbase Advanced Trade's taker fee in its lowest volume tier (Intro 1, under $1,000 in 30 days):
1.20 %, the highest of its spot schedule."""
CAPABILITIES = Capabilities(
    oco=True,
    oco_symbols=frozenset(),
    stop_limit=True,
    positions_with_entry_price=False,
    max_fee_rate=MAX_FEE_RATE,
    # A listing of the live orders is one request per filter: the read planner weighs it so.
    read_weights=ReadWeights(
        open_orders_symbol=len(LIVE_STATUS_FILTERS), open_orders_all=len(LIVE_STATUS_FILTERS)
    ),
)
BRACKET_CONFIGS = frozenset({"trigger_bracket_gtc", "trigger_bracket_gtd"})
BRACKET_STOP_LIMIT_OFFSET = Decimal("0.05")
"""When a bracket's stop triggers, the venue places a stop-limit 5% below the trigger for a sell (field
text of the official docs as copied by clients; OBS)."""
STOP_TRIGGERED = "STOP_TRIGGERED"
"""``trigger_status`` of a stop (or a bracket's stop leg) that triggered (SDK enum; the user channel
carrying it for brackets is UNCONFIRMED, so the fill price decides too: see ``parse.stop_executed``)."""
# ``errs`` of a preview (and create failure reasons) meaning the venue does not take this order
# configuration for the product. UNCONFIRMED spellings: the SDK's enums list both families.
CONFIGURATION_REFUSALS = frozenset(
    {
        "UNSUPPORTED_ORDER_CONFIGURATION",
        "INVALID_ORDER_CONFIG",
        "PREVIEW_INVALID_ORDER_CONFIG",
        "PREVIEW_UNSUPPORTED_ORDER_CONFIGURATION",
        "PREVIEW_INVALID_PRODUCT_ID",
    }
)

# No PARTIALLY_FILLED status: a partial fill is OPEN with filled_size > 0 (parse.py decides).
ORDER_STATUS = {
    "PENDING": OrderStatus.NEW,
    "OPEN": OrderStatus.NEW,
    "QUEUED": OrderStatus.NEW,  # UNCONFIRMED: seen in clients, not in the user-channel docs
    "CANCEL_QUEUED": OrderStatus.NEW,  # still live until the venue confirms the cancel
    "FILLED": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "FAILED": OrderStatus.REJECTED,
}
ORDER_TYPE = {
    "LIMIT": OrderType.LIMIT,
    "Limit": OrderType.LIMIT,  # the user channel spells order types in title case
    "STOP_LIMIT": OrderType.STOP_LIMIT,
    "Stop_Limit": OrderType.STOP_LIMIT,  # UNCONFIRMED title-case spelling on the user channel
    "StopLimit": OrderType.STOP_LIMIT,  # UNCONFIRMED alternative spelling seen in captures
}
SIDE = {"BUY": Side.BUY, "SELL": Side.SELL}
SIDE_TO_WIRE = {Side.BUY: "BUY", Side.SELL: "SELL"}
STOP_DIRECTION_DOWN = "STOP_DIRECTION_STOP_DOWN"
"""A sell stop triggers when the last trade falls to the stop price."""


def is_live_endpoint(url: str) -> bool:
    """True for Coinbase's production REST host (trading real money)."""
    return (urlparse(url).hostname or "") in LIVE_REST_HOSTS
