"""Alpaca wire models with the venue's field names (decimals arrive as strings on REST)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "ALPACA_ASSETS",
    "ALPACA_ORDERS",
    "ALPACA_POSITIONS",
    "AlpacaAccount",
    "AlpacaAsset",
    "AlpacaLatestCryptoQuotes",
    "AlpacaLatestStockQuote",
    "AlpacaOrder",
    "AlpacaPosition",
    "AlpacaQuote",
    "AlpacaStreamOrder",
    "AlpacaTradeUpdate",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AlpacaOrder(_Wire):
    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    qty: str | None = None
    filled_qty: str = "0"
    filled_avg_price: str | None = None
    limit_price: str | None = None
    stop_price: str | None = None
    status: str
    time_in_force: str = "gtc"
    updated_at: str | None = None


class AlpacaPosition(_Wire):
    symbol: str
    qty: str
    avg_entry_price: str
    asset_class: str = "crypto"


class AlpacaAccount(_Wire):
    cash: str
    buying_power: str
    non_marginable_buying_power: str | None = None
    currency: str = "USD"


class AlpacaAsset(_Wire):
    symbol: str
    status: str = "active"
    tradable: bool = True
    fractionable: bool = True
    min_order_size: str | None = None
    min_trade_increment: str | None = None
    price_increment: str | None = None


class AlpacaQuote(_Wire):
    """Stream and REST quote: bp/bs bid price/size, ap/as ask, t RFC 3339 time. Stream numbers are JSON
    numbers: decode with ``parse_float=Decimal`` so they never pass through float."""

    bp: Decimal
    bs: Decimal = Decimal(0)
    ap: Decimal
    ask_size: Decimal = Field(default=Decimal(0), alias="as")
    t: str | None = None


class AlpacaStreamOrder(_Wire):
    """The order object inside a ``trade_updates`` event (the REST order; numbers may be strings)."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str = "limit"
    qty: str | None = None
    filled_qty: str = "0"
    filled_avg_price: str | None = None
    limit_price: str | None = None
    status: str


class AlpacaTradeUpdate(_Wire):
    """``{"stream":"trade_updates","data":{...}}``: ``price``/``qty`` are the last fill (per fill)."""

    event: str
    execution_id: str | None = None
    order: AlpacaStreamOrder
    price: str | None = None
    qty: str | None = None
    position_qty: str | None = None
    timestamp: str | None = None


class AlpacaLatestCryptoQuotes(_Wire):
    """``GET /v1beta3/crypto/us/latest/quotes``: quotes by symbol."""

    quotes: dict[str, AlpacaQuote] = Field(default_factory=dict)


class AlpacaLatestStockQuote(_Wire):
    """``GET /v2/stocks/{symbol}/quotes/latest``."""

    quote: AlpacaQuote | None = None


ALPACA_ORDERS: TypeAdapter[tuple[AlpacaOrder, ...]] = TypeAdapter(tuple[AlpacaOrder, ...])
ALPACA_POSITIONS: TypeAdapter[tuple[AlpacaPosition, ...]] = TypeAdapter(tuple[AlpacaPosition, ...])
ALPACA_ASSETS: TypeAdapter[tuple[AlpacaAsset, ...]] = TypeAdapter(tuple[AlpacaAsset, ...])
