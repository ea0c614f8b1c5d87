"""Kraken Spot wire models: the venue's field names. REST money fields are strings; websocket v2
numbers are JSON numbers, decoded with ``parse_float=Decimal`` so they never pass through float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "KrakenAddOrderResult",
    "KrakenAssetPair",
    "KrakenBalanceEx",
    "KrakenCancelResult",
    "KrakenEnvelope",
    "KrakenExecution",
    "KrakenFee",
    "KrakenOrderDescr",
    "KrakenOrderInfo",
    "KrakenTicker",
    "KrakenWsToken",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class KrakenEnvelope(_Wire):
    """Every REST answer: a non-empty ``error`` list is a failure (usually with HTTP 200)."""

    error: tuple[str, ...] = ()
    result: Any = None


class KrakenAssetPair(_Wire):
    """One value of ``GET /0/public/AssetPairs`` (keyed by the pair id, e.g. ``XXBTZUSD``)."""

    altname: str
    wsname: str = ""
    base: str
    quote: str
    pair_decimals: int
    lot_decimals: int
    cost_decimals: int = 8
    ordermin: str
    costmin: str = "0"
    tick_size: str | None = None
    status: str = "online"


class KrakenOrderDescr(_Wire):
    pair: str
    type: str
    ordertype: str
    price: str = "0"
    price2: str = "0"
    order: str = ""


class KrakenOrderInfo(_Wire):
    """``OpenOrders.open[txid]`` / ``QueryOrders[txid]``."""

    refid: str | None = None
    userref: int | None = None
    cl_ord_id: str | None = None
    status: str
    opentm: Decimal = Decimal(0)
    closetm: Decimal | None = None
    descr: KrakenOrderDescr
    vol: str
    vol_exec: str = "0"
    cost: str = "0"
    fee: str = "0"
    price: str = "0"
    """Average fill price."""
    stopprice: str = "0"
    limitprice: str = "0"
    oflags: str = ""


class KrakenAddOrderResult(_Wire):
    descr: dict[str, str] = {}
    txid: tuple[str, ...]


class KrakenCancelResult(_Wire):
    count: int
    pending: bool = False


class KrakenBalanceEx(_Wire):
    """``BalanceEx`` value per asset: available = balance - hold_trade."""

    balance: str
    hold_trade: str = "0"


class KrakenWsToken(_Wire):
    token: str
    expires: int = 900


class KrakenTicker(_Wire):
    """WS v2 ``ticker`` data entry."""

    symbol: str
    bid: Decimal
    bid_qty: Decimal = Decimal(0)
    ask: Decimal
    ask_qty: Decimal = Decimal(0)
    last: Decimal | None = None
    timestamp: str = ""


class KrakenFee(_Wire):
    asset: str
    qty: Decimal


class KrakenExecution(_Wire):
    """WS v2 ``executions`` data entry. Sparse: which fields are present depends on ``exec_type``."""

    order_id: str
    exec_type: str = ""
    order_status: str = ""
    cl_ord_id: str | None = None
    order_userref: int | None = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    cum_qty: Decimal | None = None
    cum_cost: Decimal | None = None
    avg_price: Decimal | None = None
    exec_id: str | None = None
    trade_id: int | None = None
    last_qty: Decimal | None = None
    last_price: Decimal | None = None
    cost: Decimal | None = None
    liquidity_ind: str | None = None
    fees: tuple[KrakenFee, ...] = ()
    fee_usd_equiv: Decimal | None = None
    timestamp: str = ""
    cancel_reason: str | None = None
    reason: str | None = None
