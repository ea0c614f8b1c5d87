"""The fake Binance's trading requests, shared by its REST routes and its WebSocket API: the same
checks, the same paper engine (order book, fills, executionReports) and the same answers, whichever way
a request came. Each returns an ``Answer`` (status + body, and whether an order was placed, for the
lost-response faults); the transport sends it its own way."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from autohedge.core.errors import InsufficientFunds, OrderRejected, UnknownOrder
from autohedge.core.messages import OcoRequest, OrderRequest, OrderSnapshot
from autohedge.core.types import OrderStatus, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from tests.fakes.binance import FakeBinance

__all__ = ["Answer", "cancel_order", "f8", "find_order", "order_json", "place_oco", "place_order"]

_STATUS = {
    OrderStatus.NEW: "NEW",
    OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.REJECTED: "REJECTED",
    OrderStatus.EXPIRED: "EXPIRED",
}


def f8(value: Decimal | None) -> str:
    """Binance's eight-decimal text for an amount (zero for none)."""
    return f"{(value or Decimal(0)):.8f}"


@dataclass(frozen=True)
class Answer:
    status: int
    payload: Any
    placed: bool = False
    """The request placed an order (the lost-response faults apply to it)."""


def _error(code: int, msg: str) -> Answer:
    return Answer(400, {"code": code, "msg": msg})


_INVALID_SYMBOL = _error(-1121, "Invalid symbol.")


def _venue_error(exc: Exception) -> Answer:
    if isinstance(exc, InsufficientFunds):
        return _error(-2010, "Account has insufficient balance for requested action.")
    if isinstance(exc, UnknownOrder):
        return _error(-2013, "Order does not exist.")
    if isinstance(exc, OrderRejected) and exc.code == "duplicate":
        return _error(-2010, "Duplicate order sent.")
    return _error(-1013, f"Filter failure: {exc}")


def order_json(order: OrderSnapshot, venue_symbol: str, *, maker: bool = False) -> dict[str, Any]:
    """Binance's order object (REST answers, the WebSocket API's ``result``)."""
    avg = order.avg_fill_price or Decimal(0)
    order_type = {
        OrderType.LIMIT: "LIMIT_MAKER" if maker else "LIMIT",
        OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
    }
    ts = order.ts_event // 1_000_000
    return {
        "symbol": venue_symbol,
        "orderId": int(order.venue_order_id[1:]),
        "orderListId": int(order.list_id[1:]) if order.list_id else -1,
        "clientOrderId": order.client_order_id,
        "price": f8(order.price),
        "origQty": f8(order.qty),
        "executedQty": f8(order.filled_qty),
        "cummulativeQuoteQty": f8(order.filled_qty * avg),
        "status": _STATUS[order.status],
        "timeInForce": "GTC",
        "type": order_type[order.order_type],
        "side": order.side.value.upper(),
        "stopPrice": f8(order.stop_price),
        "time": ts,
        "updateTime": ts,
        "transactTime": ts,
    }


def place_order(fake: FakeBinance, params: dict[str, str]) -> Answer:
    """``POST /api/v3/order`` and ``order.place``."""
    symbol = fake.symbols.get(params.get("symbol", ""))
    if symbol is None:
        return _INVALID_SYMBOL
    wire_type = params.get("type")
    if wire_type not in ("LIMIT", "STOP_LOSS_LIMIT"):
        return _error(-1116, "Invalid orderType.")
    request = OrderRequest(
        client_order_id=params["newClientOrderId"],
        symbol=symbol,
        side=Side(params["side"].lower()),
        qty=Decimal(params["quantity"]),
        price=Decimal(params["price"]),
        order_type=OrderType.STOP_LIMIT if wire_type == "STOP_LOSS_LIMIT" else OrderType.LIMIT,
        stop_price=Decimal(params["stopPrice"]) if "stopPrice" in params else None,
        time_in_force=TimeInForce(params.get("timeInForce", "GTC").lower()),
    )
    try:
        order = fake.engine.submit_order(request)
    except (InsufficientFunds, OrderRejected) as exc:
        return _venue_error(exc)
    body = order_json(order, params["symbol"])
    if params.get("newOrderRespType") == "FULL":
        body["fills"] = (
            []
            if order.filled_qty <= 0
            else [
                {
                    "price": f8(order.avg_fill_price),
                    "qty": f8(order.filled_qty),
                    "commission": f8(order.fee),
                    "commissionAsset": order.fee_asset,
                    "tradeId": 1,
                }
            ]
        )
    return Answer(200, body, placed=True)


def place_oco(fake: FakeBinance, params: dict[str, str]) -> Answer:
    """``POST /api/v3/orderList/oco`` and ``orderList.place.oco``."""
    symbol = fake.symbols.get(params.get("symbol", ""))
    if symbol is None:
        return _INVALID_SYMBOL
    if params.get("aboveType") != "LIMIT_MAKER" or params.get("belowType") != "STOP_LOSS_LIMIT":
        return _error(-1116, "Invalid orderType.")
    request = OcoRequest(
        list_client_id=params["listClientOrderId"],
        symbol=symbol,
        side=Side(params["side"].lower()),
        qty=Decimal(params["quantity"]),
        take_profit_price=Decimal(params["abovePrice"]),
        stop_price=Decimal(params["belowStopPrice"]),
        stop_limit_price=Decimal(params["belowPrice"]),
        take_profit_client_order_id=params["aboveClientOrderId"],
        stop_loss_client_order_id=params["belowClientOrderId"],
    )
    try:
        result = fake.engine.submit_oco(request)
    except (InsufficientFunds, OrderRejected) as exc:
        return _venue_error(exc)
    reports = [order_json(o, params["symbol"], maker=o.order_type is OrderType.LIMIT) for o in result.orders]
    body = {
        "orderListId": int(result.list_id[1:]),
        "contingencyType": "OCO",
        "listStatusType": "EXEC_STARTED",
        "listOrderStatus": "EXECUTING",
        "listClientOrderId": params["listClientOrderId"],
        "transactionTime": int(time.time() * 1000),
        "symbol": params["symbol"],
        "orders": [
            {"symbol": params["symbol"], "orderId": r["orderId"], "clientOrderId": r["clientOrderId"]}
            for r in reports
        ],
        "orderReports": reports,
    }
    return Answer(200, body, placed=True)


def find_order(fake: FakeBinance, params: dict[str, str]) -> tuple[str, OrderSnapshot] | Answer | None:
    """The order named by ``orderId`` or ``origClientOrderId``: (our symbol, order); an ``Answer`` when
    the symbol is not listed; None when there is no such order."""
    symbol = fake.symbols.get(params.get("symbol", ""))
    if symbol is None:
        return _INVALID_SYMBOL
    try:
        if "orderId" in params:
            order = fake.engine.get_order(symbol, venue_order_id=f"P{params['orderId']}")
        else:
            order = fake.engine.get_order(symbol, client_order_id=params.get("origClientOrderId", ""))
    except UnknownOrder:
        return None
    return symbol, order


def cancel_order(fake: FakeBinance, params: dict[str, str]) -> Answer:
    """``DELETE /api/v3/order`` and ``order.cancel``: cancelling a leg of an order list cancels the
    list, and the answer is the list."""
    found = find_order(fake, params)
    if isinstance(found, Answer):
        return found
    if found is None:
        return _error(-2011, "Unknown order sent.")
    symbol, order = found
    try:
        cancelled = fake.engine.cancel_order(symbol, venue_order_id=order.venue_order_id)
    except OrderRejected:
        return _error(-2011, "Unknown order sent.")
    if cancelled.list_id is None:
        return Answer(200, order_json(cancelled, params["symbol"]))
    legs = [o for o in fake.engine.all_orders() if o.list_id == cancelled.list_id]
    body = {
        "orderListId": int(cancelled.list_id[1:]),
        "contingencyType": "OCO",
        "listStatusType": "ALL_DONE",
        "listOrderStatus": "ALL_DONE",
        "listClientOrderId": "",
        "transactionTime": int(time.time() * 1000),
        "symbol": params["symbol"],
        "orderReports": [order_json(o, params["symbol"]) for o in legs],
    }
    return Answer(200, body)
