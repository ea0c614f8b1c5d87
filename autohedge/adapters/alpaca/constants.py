"""Alpaca (Trading API v2, market data v1beta3 crypto and v2 stocks): endpoints, limits, enum tables."""

from __future__ import annotations

from urllib.parse import urlparse

from autohedge.core.ports import Capabilities
from autohedge.core.types import OrderStatus, OrderType, Side

__all__ = [
    "CAPABILITIES",
    "LIVE_REST_HOSTS",
    "ORDER_STATUS",
    "ORDER_TYPE",
    "REQUESTS_PER_MINUTE",
    "SIDE",
    "VENUE",
    "is_live_endpoint",
]

VENUE = "alpaca"
LIVE_REST_HOSTS = frozenset({"api.alpaca.markets"})
REQUESTS_PER_MINUTE = 200

# Crypto has no OCO or bracket orders on Alpaca: the TP rests as a limit, the monitor guards the SL.
CAPABILITIES = Capabilities(
    oco=False, stop_limit=True, positions_with_entry_price=True, client_order_id_lookup=True
)

ORDER_STATUS = {
    "new": OrderStatus.NEW,
    "accepted": OrderStatus.NEW,
    "pending_new": OrderStatus.NEW,
    "accepted_for_bidding": OrderStatus.NEW,
    "pending_cancel": OrderStatus.NEW,  # still live until the venue confirms
    "pending_replace": OrderStatus.NEW,
    "stopped": OrderStatus.NEW,
    "suspended": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "calculated": OrderStatus.FILLED,
    "done_for_day": OrderStatus.EXPIRED,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
ORDER_TYPE = {"limit": OrderType.LIMIT, "stop_limit": OrderType.STOP_LIMIT}
SIDE = {"buy": Side.BUY, "sell": Side.SELL}

ERROR_INSUFFICIENT = 40310000
ERROR_NOT_FOUND = 40410000


def is_live_endpoint(url: str) -> bool:
    """True for Alpaca's live trading host (the paper host is ``paper-api.alpaca.markets``)."""
    return (urlparse(url).hostname or "") in LIVE_REST_HOSTS
