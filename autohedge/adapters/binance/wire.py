"""Binance wire models: the venue's own field names and types (prices as strings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, TypeAdapter

__all__ = [
    "BINANCE_CANCEL",
    "BINANCE_ORDERS",
    "BINANCE_TRADES",
    "BinanceAccount",
    "BinanceBalance",
    "BinanceBookTicker",
    "BinanceError",
    "BinanceExchangeInfo",
    "BinanceFilter",
    "BinanceOrder",
    "BinanceOrderList",
    "BinanceRateLimit",
    "BinanceRestBookTicker",
    "BinanceServerTime",
    "BinanceSymbolInfo",
    "BinanceTrade",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BinanceError(_Wire):
    code: int
    msg: str


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
BINANCE_TRADES: TypeAdapter[tuple[BinanceTrade, ...]] = TypeAdapter(tuple[BinanceTrade, ...])
BINANCE_CANCEL: TypeAdapter[BinanceOrderList | BinanceOrder] = TypeAdapter(BinanceOrderList | BinanceOrder)
"""Cancelling a leg of an order list answers with the list; a lone order answers with the order."""
