"""Alpaca (Trading API v2, market data v1beta3 crypto and v2 stocks): endpoints, limits, enum tables."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlparse

from autohedge.core.messages import OrderEventKind
from autohedge.core.ports import Capabilities
from autohedge.core.types import OrderStatus, OrderType, Side

__all__ = [
    "CAPABILITIES",
    "LIVE_REST_HOSTS",
    "MAX_FEE_RATE",
    "ORDER_STATUS",
    "ORDER_TYPE",
    "REQUESTS_PER_MINUTE",
    "SIDE",
    "TRADE_EVENT",
    "TRADE_EVENTS_IGNORED",
    "TRADE_ORDER_TYPE",
    "TRADING_STREAM_PAPER_URL",
    "VENUE",
    "is_live_endpoint",
]

VENUE = "alpaca"
LIVE_REST_HOSTS = frozenset({"api.alpaca.markets"})
REQUESTS_PER_MINUTE = 200
TRADING_STREAM_PAPER_URL = "wss://paper-api.alpaca.markets/stream"

# Crypto has no OCO or bracket orders on Alpaca: the TP rests as a limit, the monitor guards the SL.
MAX_FEE_RATE = Decimal("0.0025")
"""Alpaca's crypto taker fee in its lowest volume tier (under $100,000 in 30 days): 0.25 %. Stocks trade
commission-free, so the crypto figure is the highest an order of ours pays."""

CAPABILITIES = Capabilities(
    oco=False,
    stop_limit=True,
    positions_with_entry_price=True,
    spot_positions=False,
    max_fee_rate=MAX_FEE_RATE,
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
    # Not ends: "done executing for the day, ... no further updates until the next trading day" (it
    # resumes and may fill then); "calculated": completed for the day, filled or done_for_day (parse.py
    # calls it filled when all is filled).
    "calculated": OrderStatus.NEW,
    "done_for_day": OrderStatus.NEW,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
ORDER_TYPE = {"limit": OrderType.LIMIT, "stop_limit": OrderType.STOP_LIMIT}
SIDE = {"buy": Side.BUY, "sell": Side.SELL}
TRADE_EVENT = {
    # trade_updates ``event`` -> order event kind
    "new": OrderEventKind.ACCEPTED,
    "accepted": OrderEventKind.ACCEPTED,
    "partial_fill": OrderEventKind.PARTIALLY_FILLED,
    "fill": OrderEventKind.FILLED,
    "canceled": OrderEventKind.CANCELED,
    "replaced": OrderEventKind.CANCELED,  # the old order ends; its replacement reports as new
    "expired": OrderEventKind.EXPIRED,
    "rejected": OrderEventKind.REJECTED,
}
TRADE_EVENTS_IGNORED = frozenset(
    {
        # transitional states that change neither quantities nor liveness
        "pending_new",
        "pending_cancel",
        "pending_replace",
        "calculated",
        "done_for_day",  # the order resumes the next trading day: not an end
        "stopped",
        "suspended",
        "order_replace_rejected",
        "order_cancel_rejected",
    }
)
TRADE_ORDER_TYPE = {
    # Only "is it a stop" matters downstream; we never send market orders, but someone else may.
    "limit": OrderType.LIMIT,
    "market": OrderType.LIMIT,
    "stop_limit": OrderType.STOP_LIMIT,
    "stop": OrderType.STOP_LIMIT,
}

ERROR_INSUFFICIENT = 40310000
ERROR_NOT_FOUND = 40410000


def is_live_endpoint(url: str) -> bool:
    """True for Alpaca's live trading host (the paper host is ``paper-api.alpaca.markets``)."""
    return (urlparse(url).hostname or "") in LIVE_REST_HOSTS
