"""Binance wire models: the venue's own field names and types (prices as strings)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "BINANCE_CANCEL",
    "BINANCE_ORDER",
    "BINANCE_ORDERS",
    "BINANCE_ORDER_LIST",
    "BINANCE_TRADES",
    "BinanceAccount",
    "BinanceAccountPosition",
    "BinanceBalance",
    "BinanceBookTicker",
    "BinanceError",
    "BinanceExchangeInfo",
    "BinanceExecutionReport",
    "BinanceFill",
    "BinanceFilter",
    "BinanceOrder",
    "BinanceOrderList",
    "BinanceRateLimit",
    "BinanceRestBookTicker",
    "BinanceServerTime",
    "BinanceSymbolInfo",
    "BinanceTrade",
    "BinanceWsBalance",
    "BinanceWsError",
    "BinanceWsErrorData",
    "BinanceWsRateLimit",
    "BinanceWsResponse",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BinanceError(_Wire):
    code: int
    msg: str


class BinanceFill(_Wire):
    """One fill in a ``newOrderRespType=FULL`` order response."""

    price: str
    qty: str
    commission: str
    commissionAsset: str
    tradeId: int = -1


class BinanceOrder(_Wire):
    symbol: str
    orderId: int
    orderListId: int = -1
    clientOrderId: str
    price: str
    origQty: str
    executedQty: str
    cummulativeQuoteQty: str = "0"
    status: str
    timeInForce: str = "GTC"
    type: str
    side: str
    stopPrice: str = "0"
    time: int = 0
    updateTime: int = 0
    transactTime: int = 0
    fills: tuple[BinanceFill, ...] | None = None
    """Only in FULL responses to a new order: its fills with their commission."""


class BinanceOrderList(_Wire):
    orderListId: int
    contingencyType: str
    listStatusType: str
    listOrderStatus: str
    listClientOrderId: str
    transactionTime: int
    symbol: str
    orderReports: tuple[BinanceOrder, ...] = ()


class BinanceBalance(_Wire):
    asset: str
    free: str
    locked: str


class BinanceAccount(_Wire):
    balances: tuple[BinanceBalance, ...]


class BinanceFilter(_Wire):
    filterType: str
    tickSize: str | None = None
    minPrice: str | None = None
    stepSize: str | None = None
    minQty: str | None = None
    maxQty: str | None = None
    minNotional: str | None = None


class BinanceSymbolInfo(_Wire):
    symbol: str
    status: str
    baseAsset: str
    quoteAsset: str
    filters: tuple[BinanceFilter, ...]


class BinanceBookTicker(_Wire):
    """``<symbol>@bookTicker`` stream payload (b/B bid price/qty, a/A ask price/qty)."""

    u: int = 0
    s: str
    b: str
    B: str
    a: str
    A: str


class BinanceTrade(_Wire):
    orderId: int
    qty: str
    commission: str
    commissionAsset: str


class BinanceExecutionReport(_Wire):
    """User data stream ``executionReport`` (one order event). On CANCELED ``c`` is the cancel
    request's id and ``C`` the order's own client id."""

    e: str
    E: int
    s: str
    c: str
    S: str
    o: str
    q: str
    p: str
    g: int = -1
    C: str | None = ""
    x: str
    X: str
    r: str = "NONE"
    i: int
    l: str  # noqa: E741  (the venue's field name)
    z: str
    L: str
    n: str | None = "0"
    N: str | None = None
    transaction_time_ms: int = Field(alias="T")
    """``T`` on the wire (named apart: a field ``T`` confuses the type checker's view of TypeAdapter)."""
    t: int = -1
    Z: str = "0"


class BinanceWsBalance(_Wire):
    a: str
    f: str
    l: str  # noqa: E741  (the venue's field name)


class BinanceAccountPosition(_Wire):
    """User data stream ``outboundAccountPosition``: balances changed by the last account update ``u``."""

    e: str
    E: int
    u: int
    B: tuple[BinanceWsBalance, ...]


class BinanceWsRateLimit(_Wire):
    """One entry of a WebSocket API response's ``rateLimits``."""

    rateLimitType: str
    interval: str
    intervalNum: int
    limit: int
    count: int = 0


class BinanceWsErrorData(_Wire):
    """A refusal's details: on 429/418, when the venue accepts requests again."""

    retryAfter: int | None = None
    """Epoch milliseconds."""


class BinanceWsError(_Wire):
    code: int
    msg: str
    data: BinanceWsErrorData | None = None


class BinanceWsResponse(_Wire):
    """A WebSocket API response (it has an ``id``; events have none)."""

    id: str | int | None
    status: int
    result: Any = None
    """The request's answer when ``status`` is 200 (an order request's: the REST order object), read by
    the request's own model."""
    error: BinanceWsError | None = None
    rateLimits: tuple[BinanceWsRateLimit, ...] = ()


class BinanceRateLimit(_Wire):
    """One entry of ``exchangeInfo.rateLimits``: REQUEST_WEIGHT, ORDERS or RAW_REQUESTS."""

    rateLimitType: str
    interval: str
    intervalNum: int
    limit: int


class BinanceExchangeInfo(_Wire):
    rateLimits: tuple[BinanceRateLimit, ...] = ()
    symbols: tuple[BinanceSymbolInfo, ...]


class BinanceServerTime(_Wire):
    serverTime: int


class BinanceRestBookTicker(_Wire):
    """``GET /api/v3/ticker/bookTicker``: the stream's fields under long names."""

    symbol: str
    bidPrice: str
    bidQty: str
    askPrice: str
    askQty: str


BINANCE_ORDERS: TypeAdapter[tuple[BinanceOrder, ...]] = TypeAdapter(tuple[BinanceOrder, ...])
BINANCE_ORDER: TypeAdapter[BinanceOrder] = TypeAdapter(BinanceOrder)
BINANCE_ORDER_LIST: TypeAdapter[BinanceOrderList] = TypeAdapter(BinanceOrderList)
BINANCE_TRADES: TypeAdapter[tuple[BinanceTrade, ...]] = TypeAdapter(tuple[BinanceTrade, ...])
_CANCEL_ANSWER: Any = BinanceOrderList | BinanceOrder  # a union is no ``type[...]`` to the installed checker
BINANCE_CANCEL: TypeAdapter[BinanceOrderList | BinanceOrder] = TypeAdapter(_CANCEL_ANSWER)
"""Cancelling a leg of an order list answers with the list; a lone order answers with the order."""
