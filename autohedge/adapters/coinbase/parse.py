"""Pure parsers: Coinbase wire data + context -> autohedge messages; error bodies -> typed errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from autohedge.adapters.coinbase.constants import (
    BRACKET_CONFIGS,
    BRACKET_STOP_LIMIT_OFFSET,
    CONFIGURATION_REFUSALS,
    ORDER_STATUS,
    SIDE,
    STOP_TRIGGERED,
    VENUE,
)
from autohedge.adapters.coinbase.wire import (
    CoinbaseAccounts,
    CoinbaseCancelResult,
    CoinbaseCreateResponse,
    CoinbaseErrorBody,
    CoinbaseFill,
    CoinbaseOrder,
    CoinbasePreview,
    CoinbasePriceBook,
    CoinbaseProduct,
)
from autohedge.adapters.timestamps import parse_rfc3339_ns
from autohedge.adapters.wirevalues import retry_after_s, wire_decimal
from autohedge.adapters.wirevalues import validate_wire as validate_wire_of
from autohedge.core.client_ids import ClientId
from autohedge.core.errors import (
    AuthError,
    InsufficientFunds,
    MalformedMessage,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)
from autohedge.core.messages import Balance, OrderSnapshot, Quote, SymbolRules
from autohedge.core.types import OrderPurpose, OrderStatus, OrderType, decimal_str, validate_symbol

__all__ = [
    "ORDER_CONFIGURATION",
    "bracket_accepted",
    "bracket_body",
    "bracket_leg_ids",
    "bracket_legs",
    "bracket_stop_limit",
    "map_cancel_result",
    "map_create_response",
    "map_error",
    "of_our_shape",
    "order_legs",
    "parse_accounts",
    "parse_order",
    "parse_price_book",
    "parse_rules",
    "product_id",
    "stop_executed",
    "symbol_of",
    "take_profit_sold",
    "validate_wire",
]

_M = TypeVar("_M", bound=BaseModel)

# order_configuration key -> (our type, the field holding the limit price, the field holding the stop).
# A trigger bracket is ONE order holding a take-profit limit and a stop trigger for one quantity: parsed
# as a limit with a stop price; one of ours is then reported as its two OCO legs (``order_legs``).
ORDER_CONFIGURATION: dict[str, tuple[OrderType, str, str | None]] = {
    "limit_limit_gtc": (OrderType.LIMIT, "limit_price", None),
    "limit_limit_gtd": (OrderType.LIMIT, "limit_price", None),
    "limit_limit_fok": (OrderType.LIMIT, "limit_price", None),
    "sor_limit_ioc": (OrderType.LIMIT, "limit_price", None),
    "stop_limit_stop_limit_gtc": (OrderType.STOP_LIMIT, "limit_price", "stop_price"),
    "stop_limit_stop_limit_gtd": (OrderType.STOP_LIMIT, "limit_price", "stop_price"),
    "trigger_bracket_gtc": (OrderType.LIMIT, "limit_price", "stop_trigger_price"),
    "trigger_bracket_gtd": (OrderType.LIMIT, "limit_price", "stop_trigger_price"),
}

# ``error`` / ``new_order_failure_reason`` / ``preview_failure_reason`` values meaning "not enough
# balance". INSUFFICIENT_FUND is seen consistently across clients; the PREVIEW_ spelling is UNCONFIRMED.
_FUNDS_REASONS = frozenset({"INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND", "INSUFFICIENT_FUNDS"})
# Cancel failure reasons (batch_cancel results). UNKNOWN_CANCEL_ORDER is constructed from the enum
# (UNCONFIRMED as a live payload).
_CANCEL_UNKNOWN = frozenset({"UNKNOWN_CANCEL_ORDER"})
_NOT_FOUND_ERRORS = frozenset({"NOT_FOUND", "unknown", "UNKNOWN_ORDER"})


def _dec(raw: object, field: str) -> Decimal:
    return wire_decimal(raw, field, venue=VENUE)


def validate_wire(model: type[_M], raw: object, what: str) -> _M:
    """``model.model_validate(raw)`` with a ``MalformedMessage`` naming the first bad field."""
    return validate_wire_of(model, raw, what, venue=VENUE)


def symbol_of(product: str) -> str:
    """``BTC-USD`` -> ``BTC/USD``."""
    base, sep, quote = product.partition("-")
    try:
        if not sep:
            raise ValueError(product)
        return validate_symbol(f"{base}/{quote}")
    except ValueError:
        raise MalformedMessage(f"coinbase product id {product!r} is not BASE-QUOTE") from None


def product_id(symbol: str) -> str:
    """``BTC/USD`` -> ``BTC-USD``."""
    return symbol.replace("/", "-")


def parse_rules(product: CoinbaseProduct, *, symbol: str) -> SymbolRules:
    """``price_increment`` (falling back to ``quote_increment``) is the tick, ``base_increment`` the lot
    step, ``base_min_size`` / ``quote_min_size`` the minimums. A product that cannot take limit orders
    now (disabled, cancel-only, view-only) is refused."""
    if product.trading_disabled or product.cancel_only or product.view_only:
        raise OrderRejected(f"coinbase {product.product_id} is not accepting orders", venue=VENUE)
    tick = product.price_increment or product.quote_increment
    return SymbolRules(
        symbol=symbol,
        tick_size=_dec(tick, "price_increment").normalize(),
        lot_step=_dec(product.base_increment, "base_increment").normalize(),
        min_qty=_dec(product.base_min_size, "base_min_size"),
        min_notional=_dec(product.quote_min_size, "quote_min_size"),
        max_qty=_dec(product.base_max_size, "base_max_size") if product.base_max_size else None,
    )


def of_our_shape(order: CoinbaseOrder) -> bool:
    """Whether ``order`` has a shape we place: one configuration we know, sized in the base asset.
    Another client's order of any other shape (a TWAP, a limit sized in the quote currency) is none of
    ours to read, and its parse would fail a whole listing."""
    if len(order.order_configuration) != 1:
        return False
    ((config_key, config),) = order.order_configuration.items()
    return config_key in ORDER_CONFIGURATION and "base_size" in config


def parse_order(order: CoinbaseOrder, *, symbol: str) -> OrderSnapshot:
    """Status through the table (a miss raises); OPEN with a filled size is a partial fill. Fees are
    charged in the quote currency."""
    try:
        status = ORDER_STATUS[order.status]
        side = SIDE[order.side]
    except KeyError as exc:
        raise MalformedMessage(f"coinbase order {order.order_id}: unknown value {exc.args[0]!r}") from None
    if len(order.order_configuration) != 1:
        raise MalformedMessage(f"coinbase order {order.order_id}: expected one order_configuration")
    ((config_key, config),) = order.order_configuration.items()
    shape = ORDER_CONFIGURATION.get(config_key)
    if shape is None:
        raise MalformedMessage(f"coinbase order {order.order_id}: unknown configuration {config_key!r}")
    order_type, price_field, stop_field = shape
    if "base_size" not in config or price_field not in config:
        raise MalformedMessage(f"coinbase order {order.order_id}: {config_key} lacks base_size or price")
    filled = _dec(order.filled_size, "filled_size")
    if status is OrderStatus.NEW and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    avg = _dec(order.average_filled_price, "average_filled_price")
    stop = _dec(config[stop_field], stop_field) if stop_field and config.get(stop_field) else None
    return OrderSnapshot(
        venue_order_id=order.order_id,
        client_order_id=order.client_order_id,
        symbol=symbol,
        side=side,
        order_type=order_type,
        price=_dec(config[price_field], price_field),
        stop_price=stop,
        qty=_dec(config["base_size"], "base_size"),
        filled_qty=filled,
        avg_fill_price=avg if filled > 0 and avg > 0 else None,
        fee=_dec(order.total_fees, "total_fees"),
        fee_asset=symbol.split("/")[1],
        status=status,
        ts_event=parse_rfc3339_ns(order.last_fill_time or order.created_time or "", venue=VENUE),
    )


def bracket_body(
    client_order_id: str, product: str, *, qty: Decimal, take_profit: Decimal, stop_trigger: Decimal
) -> dict[str, Any]:
    """A ``trigger_bracket_gtc`` sell of ``qty`` held: the take-profit limit and the stop trigger in one
    order (the venue places the stop's limit itself)."""
    return {
        "client_order_id": client_order_id,
        "product_id": product,
        "side": "SELL",
        "order_configuration": {
            "trigger_bracket_gtc": {
                "base_size": decimal_str(qty),
                "limit_price": decimal_str(take_profit),
                "stop_trigger_price": decimal_str(stop_trigger),
            }
        },
    }


def bracket_accepted(preview: CoinbasePreview) -> bool:
    """Whether a bracket preview says the product takes the configuration. Other ``errs`` (funds, size,
    price of the probe) say nothing about the configuration and do not count against it."""
    return not set(preview.errs) & CONFIGURATION_REFUSALS


def bracket_leg_ids(client_order_id: str) -> tuple[str, str] | None:
    """(take-profit id, stop-loss id) when ``client_order_id`` is one of our OCO list ids, which is what a
    bracket of ours is placed with; None for any other order."""
    try:
        parsed = ClientId.decode(client_order_id)
    except ValueError:
        return None
    if parsed.purpose is not None:
        return None
    tp = ClientId(parsed.prefix, OrderPurpose.TAKE_PROFIT, parsed.key, parsed.attempt)
    sl = ClientId(parsed.prefix, OrderPurpose.STOP_LOSS, parsed.key, parsed.attempt)
    return tp.encode(), sl.encode()


def bracket_stop_limit(stop_trigger: Decimal) -> Decimal:
    """The limit the venue gives a sell bracket's stop once it triggers, at the trigger's precision."""
    return (stop_trigger * (1 - BRACKET_STOP_LIMIT_OFFSET)).quantize(stop_trigger, rounding=ROUND_DOWN)


def stop_executed(
    trigger_status: str, *, filled_qty: Decimal, avg_price: Decimal | None, take_profit: Decimal
) -> bool:
    """Whether a bracket's stop leg is the one working: the venue says it triggered, or it sold below the
    take-profit limit (the TP leg, a limit, never sells below it)."""
    if trigger_status == STOP_TRIGGERED:
        return True
    return filled_qty > 0 and avg_price is not None and avg_price < take_profit


def bracket_legs(
    order: OrderSnapshot,
    leg_ids: tuple[str, str],
    *,
    stop_working: bool,
    filled_before_stop: Decimal = Decimal(0),
    value_before_stop: Decimal = Decimal(0),
    filled_value: Decimal | None = None,
) -> tuple[OrderSnapshot, OrderSnapshot]:
    """One bracket order (``price`` the TP limit, ``stop_price`` the trigger) as the port's two OCO legs.

    Before the stop triggers, the TP leg carries the order's state and the stop leg rests for what is
    unsold. Once it triggered the TP leg is gone (holding what it sold before, ``filled_before_stop``
    for ``value_before_stop`` in the quote currency; unknown: at its limit) and the stop leg carries the
    rest of the order's fills, at their own average: the order's filled value (``filled_value``; None:
    its average times its filled quantity) less the TP leg's, over what the stop sold. The legs share
    the order's id as list id."""
    if filled_before_stop > 0 and value_before_stop <= 0:
        # Not said (a frame without ``filled_value``): a resting limit sell trades at its limit.
        value_before_stop = filled_before_stop * order.price
    tp_id, sl_id = leg_ids
    trigger = order.stop_price
    list_id = order.venue_order_id
    nothing = {"filled_qty": Decimal(0), "avg_fill_price": None, "fee": Decimal(0)}
    stop_leg = {
        "client_order_id": sl_id,
        "order_type": OrderType.STOP_LIMIT,
        # A user-channel frame may not restate the trigger: the leg's prices are then unknown (zero).
        "price": bracket_stop_limit(trigger) if trigger is not None else Decimal(0),
        "stop_price": trigger,
        "list_id": list_id,
    }
    tp_leg = {"client_order_id": tp_id, "order_type": OrderType.LIMIT, "stop_price": None, "list_id": list_id}
    if not stop_working:
        unsold = order.qty - order.filled_qty
        stop_status = OrderStatus.NEW if order.status.is_open else OrderStatus.CANCELED
        take_profit = order.model_copy(update=tp_leg)
        stop = order.model_copy(
            update={**stop_leg, **nothing, "qty": unsold if unsold > 0 else order.qty, "status": stop_status}
        )
        return take_profit, stop
    sold_by_stop = order.filled_qty - filled_before_stop
    take_profit = order.model_copy(
        update={
            **tp_leg,
            **nothing,
            "qty": filled_before_stop if filled_before_stop > 0 else order.qty,
            "filled_qty": filled_before_stop,
            "avg_fill_price": value_before_stop / filled_before_stop if filled_before_stop > 0 else None,
            "status": OrderStatus.CANCELED,
        }
    )
    status = order.status
    if status is OrderStatus.PARTIALLY_FILLED and sold_by_stop <= 0:
        status = OrderStatus.NEW
    stop = order.model_copy(
        update={
            **stop_leg,
            "qty": order.qty - filled_before_stop,
            "filled_qty": sold_by_stop,
            "avg_fill_price": _stop_average(order, sold_by_stop, value_before_stop, filled_value),
            "status": status,
        }
    )
    return take_profit, stop


def _stop_average(
    order: OrderSnapshot, sold_by_stop: Decimal, value_before_stop: Decimal, filled_value: Decimal | None
) -> Decimal | None:
    """The stop leg's own average price: what the order sold for, less what its TP leg sold for before
    the stop, over what the stop sold (None when it sold nothing or the order's value is unknown)."""
    if sold_by_stop <= 0:
        return None
    if value_before_stop <= 0:
        return order.avg_fill_price  # every fill of the order is the stop's
    if filled_value is None or filled_value <= 0:
        if order.avg_fill_price is None:
            return None
        filled_value = order.avg_fill_price * order.filled_qty
    average = (filled_value - value_before_stop) / sold_by_stop
    return average if average > 0 else None


def order_legs(
    order: CoinbaseOrder, *, symbol: str, trades: Callable[[], Sequence[CoinbaseFill]] | None = None
) -> tuple[OrderSnapshot, ...]:
    """A REST order as the port sees it: itself, or for a bracket of ours its two legs. REST does not
    say how much the TP sold before a stop triggered: ``trades`` (the order's trades, asked only then)
    tell it; without them the order's fills go to the leg working now."""
    snapshot = parse_order(order, symbol=symbol)
    leg_ids = bracket_leg_ids(order.client_order_id)
    if leg_ids is None or not set(order.order_configuration) & BRACKET_CONFIGS:
        return (snapshot,)
    working = stop_executed(
        order.trigger_status,
        filled_qty=snapshot.filled_qty,
        avg_price=snapshot.avg_fill_price,
        take_profit=snapshot.price,
    )
    sold_qty, sold_value = Decimal(0), Decimal(0)
    if working and snapshot.filled_qty > 0 and trades is not None:
        sold_qty, sold_value = take_profit_sold(trades(), take_profit=snapshot.price)
    return bracket_legs(
        snapshot,
        leg_ids,
        stop_working=working,
        filled_before_stop=sold_qty,
        value_before_stop=sold_value,
        filled_value=_dec(order.filled_value, "filled_value"),
    )


def take_profit_sold(trades: Iterable[CoinbaseFill], *, take_profit: Decimal) -> tuple[Decimal, Decimal]:
    """What a bracket's TP leg sold among the order's trades, and for how much: those at its limit or
    above (a limit sell never sells below it, and the stop, triggered below the TP, sells below it)."""
    qty, value = Decimal(0), Decimal(0)
    for trade in trades:
        price = _dec(trade.price, "price")
        if price >= take_profit:
            size = _dec(trade.size, "size")
            qty, value = qty + size, value + size * price
    return qty, value


def parse_accounts(pages: Iterable[CoinbaseAccounts]) -> dict[str, Balance]:
    """Balances by currency: free = ``available_balance``, locked = ``hold``; zero balances dropped."""
    out: dict[str, Balance] = {}
    for page in pages:
        for account in page.accounts:
            free = _dec(account.available_balance.value, "available_balance")
            held = _dec(account.hold.value, "hold")
            if free + held > 0:
                previous = out.get(account.currency)
                if previous is not None:  # several portfolios hold the same currency
                    free, held = free + previous.free, held + previous.locked
                out[account.currency] = Balance(asset=account.currency, free=free, locked=held)
    return out


def parse_price_book(book: CoinbasePriceBook, *, symbol: str, ts_init: int) -> Quote:
    if not book.bids or not book.asks:
        raise MalformedMessage(f"coinbase best_bid_ask for {book.product_id} has an empty side")
    ts_event = parse_rfc3339_ns(book.time, venue=VENUE) or ts_init
    return Quote(
        venue=VENUE,
        symbol=symbol,
        bid=_dec(book.bids[0].price, "bid"),
        ask=_dec(book.asks[0].price, "ask"),
        bid_size=_dec(book.bids[0].size, "bid size"),
        ask_size=_dec(book.asks[0].size, "ask size"),
        ts_event=ts_event,
        ts_init=ts_init,
    )


def map_create_response(response: CoinbaseCreateResponse) -> str:
    """The new (or, for a repeated ``client_order_id``, the existing) order id; a ``success: false``
    body becomes the typed error."""
    if response.success:
        order_id = response.success_response.order_id if response.success_response else response.order_id
        if not order_id:
            raise MalformedMessage("coinbase create order: success without an order_id")
        return order_id
    error = response.error_response
    reasons = {response.failure_reason}
    if error is not None:
        reasons |= {error.error, error.new_order_failure_reason, error.preview_failure_reason}
    reasons.discard("")
    detail = (error.message or error.error_details) if error is not None else ""
    text = f"coinbase order refused: {', '.join(sorted(reasons)) or 'no reason given'}" + (
        f" ({detail})" if detail else ""
    )
    code = (error.error if error is not None and error.error else response.failure_reason) or None
    if reasons & _FUNDS_REASONS:
        return _raise(InsufficientFunds(text, venue=VENUE, code=code))
    return _raise(OrderRejected(text, venue=VENUE, code=code))


def map_cancel_result(result: CoinbaseCancelResult) -> None:
    """A failed cancel row -> ``UnknownOrder`` (no such order) or ``OrderRejected`` (not cancellable)."""
    if result.success:
        return
    text = f"coinbase cancel {result.order_id}: {result.failure_reason}"
    if result.failure_reason in _CANCEL_UNKNOWN:
        raise UnknownOrder(text, venue=VENUE, code=result.failure_reason)
    raise OrderRejected(text, venue=VENUE, code=result.failure_reason)


def _raise(error: VenueError) -> str:
    raise error


def map_error(
    status: int, body: str, headers: Mapping[str, str], *, mutates: bool, auth_hint: str, now_s: float
) -> VenueError:
    """HTTP status + ``{"error","message"}`` body -> the typed error carrying the retry policy."""
    parsed = CoinbaseErrorBody()
    try:
        payload: Any = json.loads(body)
        if isinstance(payload, dict):
            parsed = CoinbaseErrorBody.model_validate(payload)
            if "errors" in payload and isinstance(payload["errors"], list) and payload["errors"]:
                first = payload["errors"][0]  # the 429 body: {"errors":[{"id","message"}]}
                if isinstance(first, dict):
                    parsed = CoinbaseErrorBody(
                        error=str(first.get("id", "")), message=str(first.get("message", ""))
                    )
    except (ValueError, RecursionError):  # ValidationError is a ValueError too
        pass
    message = parsed.message or parsed.error_details or body[:200]
    text = f"coinbase {status} {parsed.error}: {message}".replace("  ", " ")
    code = parsed.error or status
    if status == 429:
        raw = headers.get("Retry-After") or headers.get("retry-after")
        return RateLimited(
            text, venue=VENUE, code=code, retry_after_s=retry_after_s(raw, default_s=1.0, now_s=now_s)
        )
    if status >= 500:
        if mutates:
            return OutcomeUnknown(text, venue=VENUE, code=code)
        return VenueUnavailable(text, venue=VENUE, code=code, retry_after_s=1.0)
    if status in (401, 403):
        return AuthError(f"{text} ({auth_hint})", venue=VENUE, code=code)
    if status == 404 or parsed.error in _NOT_FOUND_ERRORS:
        return UnknownOrder(text, venue=VENUE, code=code)
    if parsed.error in _FUNDS_REASONS:
        return InsufficientFunds(text, venue=VENUE, code=code)
    return OrderRejected(text, venue=VENUE, code=code)
