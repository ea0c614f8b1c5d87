"""Coinbase Advanced Trade wire models: the venue's own field names; money and sizes are strings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CoinbaseAccount",
    "CoinbaseAccounts",
    "CoinbaseAmount",
    "CoinbaseBestBidAsk",
    "CoinbaseBookLevel",
    "CoinbaseCancelResponse",
    "CoinbaseCancelResult",
    "CoinbaseCreateError",
    "CoinbaseCreateResponse",
    "CoinbaseCreateSuccess",
    "CoinbaseErrorBody",
    "CoinbaseFill",
    "CoinbaseFillList",
    "CoinbaseHeartbeat",
    "CoinbaseOrder",
    "CoinbaseOrderList",
    "CoinbaseOrderResponse",
    "CoinbasePreview",
    "CoinbasePriceBook",
    "CoinbaseProduct",
    "CoinbaseTicker",
    "CoinbaseUserOrder",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CoinbaseProduct(_Wire):
    """``GET /products/{id}`` (or the public ``/market/products/{id}``)."""

    product_id: str
    base_currency_id: str = ""
    quote_currency_id: str = ""
    base_increment: str
    quote_increment: str
    price_increment: str | None = None
    base_min_size: str
    base_max_size: str | None = None
    quote_min_size: str
    status: str = "online"
    trading_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False
    view_only: bool = False
    product_type: str = "SPOT"
    price: str = ""
    """The last trade price (empty for a product not trading)."""


class CoinbaseOrder(_Wire):
    """An order of ``GET /orders/historical/{id}`` and ``/orders/historical/batch``."""

    order_id: str
    product_id: str
    client_order_id: str = ""
    side: str
    status: str
    order_type: str = ""
    time_in_force: str = ""
    order_configuration: dict[str, dict[str, Any]]
    filled_size: str = "0"
    average_filled_price: str = "0"
    filled_value: str = "0"
    total_fees: str = "0"
    number_of_fills: str = "0"
    created_time: str | None = None
    last_fill_time: str | None = None
    attached_order_id: str | None = None
    originating_order_id: str | None = None
    trigger_status: str = ""
    """Stop and bracket orders: ``STOP_PENDING`` until the stop triggers, then ``STOP_TRIGGERED``."""


class CoinbaseCreateSuccess(_Wire):
    order_id: str
    product_id: str = ""
    side: str = ""
    client_order_id: str = ""
    attached_order_id: str | None = None


class CoinbaseCreateError(_Wire):
    error: str = ""
    message: str = ""
    error_details: str = ""
    preview_failure_reason: str = ""
    new_order_failure_reason: str = ""


class CoinbaseCreateResponse(_Wire):
    """``POST /orders``: HTTP 200 either way; ``success`` tells which."""

    success: bool
    failure_reason: str = ""
    order_id: str = ""
    success_response: CoinbaseCreateSuccess | None = None
    error_response: CoinbaseCreateError | None = None


class CoinbaseCancelResult(_Wire):
    """One row of ``POST /orders/batch_cancel``'s ``results``."""

    success: bool
    failure_reason: str = ""
    order_id: str


class CoinbaseAmount(_Wire):
    value: str
    currency: str


class CoinbaseAccount(_Wire):
    uuid: str = ""
    currency: str
    available_balance: CoinbaseAmount
    hold: CoinbaseAmount


class CoinbaseAccounts(_Wire):
    accounts: tuple[CoinbaseAccount, ...]
    has_next: bool = False
    cursor: str = ""


class CoinbaseFill(_Wire):
    """``GET /orders/historical/fills``: one execution; ``commission`` is in the quote currency."""

    entry_id: str = ""
    trade_id: str
    order_id: str
    trade_time: str = ""
    price: str
    size: str
    commission: str = "0"
    product_id: str
    sequence_timestamp: str = ""
    liquidity_indicator: str = ""
    side: str = ""


class CoinbaseErrorBody(_Wire):
    """Non-2xx bodies: ``{"error","code","message","details"}`` (``error_details`` on some)."""

    error: str = ""
    code: int | str | None = None
    message: str = ""
    error_details: str = ""


class CoinbaseBookLevel(_Wire):
    price: str
    size: str


class CoinbasePriceBook(_Wire):
    """One product of ``GET /best_bid_ask?product_ids=...``."""

    product_id: str
    bids: tuple[CoinbaseBookLevel, ...]
    asks: tuple[CoinbaseBookLevel, ...]
    time: str = ""


class CoinbaseTicker(_Wire):
    """One ``tickers`` entry of the ``ticker`` channel."""

    product_id: str
    price: str = ""
    best_bid: str
    best_bid_quantity: str = "0"
    best_ask: str
    best_ask_quantity: str = "0"


class CoinbaseHeartbeat(_Wire):
    """``heartbeats`` channel event. ``heartbeat_counter`` is an integer in production and a string in
    the prose docs: both are accepted."""

    current_time: str = ""
    heartbeat_counter: int | str


class CoinbaseUserOrder(_Wire):
    """One order of the ``user`` channel: cumulative state, never a single fill."""

    order_id: str
    client_order_id: str = ""
    product_id: str = ""
    status: str
    order_side: str = ""
    order_type: str = ""
    cumulative_quantity: str = "0"
    leaves_quantity: str = "0"
    avg_price: str = "0"
    filled_value: str = "0"
    number_of_fills: str = "0"
    total_fees: str = "0"
    limit_price: str = ""
    stop_price: str = ""
    creation_time: str = ""
    cancel_reason: str = ""
    reject_reason: str = ""
    trigger_status: str = ""
    """As on REST orders: ``STOP_TRIGGERED`` once a stop (or a bracket's stop leg) triggered."""


class CoinbaseBestBidAsk(_Wire):
    pricebooks: tuple[CoinbasePriceBook, ...]


class CoinbaseCancelResponse(_Wire):
    results: tuple[CoinbaseCancelResult, ...]


class CoinbaseOrderResponse(_Wire):
    order: CoinbaseOrder


class CoinbaseOrderList(_Wire):
    orders: tuple[CoinbaseOrder, ...]
    has_next: bool = False
    cursor: str = ""


class CoinbaseFillList(_Wire):
    fills: tuple[CoinbaseFill, ...]
    cursor: str = ""


class CoinbasePreview(_Wire):
    """``POST /orders/preview``: ``errs`` lists why the order would be refused (empty = accepted)."""

    errs: tuple[str, ...] = ()
    warning: tuple[str, ...] = ()
