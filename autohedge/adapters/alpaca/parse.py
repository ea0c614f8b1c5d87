"""Pure parsers: Alpaca wire data + context -> autohedge messages; error payloads -> typed errors."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from autohedge.adapters.alpaca.constants import (
    ERROR_INSUFFICIENT,
    ERROR_NOT_FOUND,
    ORDER_STATUS,
    ORDER_TYPE,
    SIDE,
    TRADE_EVENT,
    TRADE_EVENTS_IGNORED,
    TRADE_ORDER_TYPE,
    VENUE,
)
from autohedge.adapters.alpaca.wire import AlpacaAsset, AlpacaOrder, AlpacaQuote, AlpacaTradeUpdate
from autohedge.adapters.wirevalues import json_object, retry_after_s, validate_wire, wire_decimal
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
from autohedge.core.messages import OrderSnapshot, OrderUpdate, Quote, SymbolRules
from autohedge.core.types import OrderStatus

__all__ = [
    "StreamControl",
    "SymbolMap",
    "map_error",
    "parse_frame",
    "parse_order",
    "parse_rfc3339_ns",
    "parse_rules",
    "parse_trade_frame",
    "trade_stream_symbols",
]


def _dec(raw: object, field: str) -> Decimal:
    return wire_decimal(raw, field, venue=VENUE)


def parse_rfc3339_ns(text: str | None) -> int:
    """``2024-03-12T10:29:43.111588173Z`` -> ns since the epoch (nanoseconds kept exactly)."""
    if not text:
        return 0
    try:
        head, _, frac = text.rstrip("Z").partition(".")
        frac_digits = "".join(ch for ch in frac if ch.isdigit())
        offset = ""
        for sign in ("+", "-"):
            if sign in frac:
                offset = sign + frac.split(sign, 1)[1]
        base = dt.datetime.fromisoformat(head + (offset or "+00:00"))
        return int(base.timestamp()) * 1_000_000_000 + int((frac_digits + "000000000")[:9])
    except ValueError:
        raise MalformedMessage(f"alpaca timestamp {text!r} is not RFC 3339") from None


class SymbolMap:
    """Our ``BASE/QUOTE`` <-> Alpaca: crypto orders ``BTC/USD``, crypto positions ``BTCUSD``, stocks
    ``AAPL``."""

    def __init__(self, symbols: Iterable[str], crypto_assets: Iterable[str]) -> None:
        crypto = set(crypto_assets)
        self.crypto: dict[str, str] = {}
        self.stocks: dict[str, str] = {}
        for symbol in symbols:
            base, quote = symbol.split("/")
            if symbol in crypto:
                self.crypto[symbol] = symbol
            elif quote == "USD":
                self.stocks[symbol] = base  # US equities trade in dollars: AAPL/USD is ticker AAPL
            else:
                raise OrderRejected(f"alpaca does not list {symbol}", venue=VENUE)
        self._from_order = {v: k for k, v in {**self.crypto, **self.stocks}.items()}
        self._from_position = {
            **{k.replace("/", ""): k for k in self.crypto},
            **{v: k for k, v in self.stocks.items()},
        }

    def to_venue(self, symbol: str) -> str:
        try:
            return self.crypto.get(symbol) or self.stocks[symbol]
        except KeyError:
            raise OrderRejected(f"alpaca: {symbol} is not traded here", venue=VENUE) from None

    def is_crypto(self, symbol: str) -> bool:
        return symbol in self.crypto

    def from_order_symbol(self, venue_symbol: str) -> str | None:
        """Orders use ``BTC/USD`` (legacy ``BTCUSD`` accepted) and ``AAPL``; None for symbols we do not
        trade."""
        return self._from_order.get(venue_symbol) or self._from_position.get(venue_symbol)

    def from_position_symbol(self, venue_symbol: str) -> str | None:
        return self._from_position.get(venue_symbol)


def parse_rules(asset: AlpacaAsset | None, *, symbol: str, crypto: bool) -> SymbolRules:
    """Crypto: ``price_increment``, ``min_trade_increment``, ``min_order_size``. Stocks: a cent tick,
    fractional shares to 1e-9 when fractionable (else whole shares), and Alpaca's $1 fractional minimum."""
    if crypto:
        if asset is None or not (asset.price_increment and asset.min_trade_increment):
            raise MalformedMessage(f"alpaca asset {symbol} lacks price_increment/min_trade_increment")
        return SymbolRules(
            symbol=symbol,
            tick_size=_dec(asset.price_increment, "price_increment").normalize(),
            lot_step=_dec(asset.min_trade_increment, "min_trade_increment").normalize(),
            min_qty=_dec(asset.min_order_size or "0", "min_order_size"),
            min_notional=Decimal(1),
        )
    fractionable = asset is None or asset.fractionable
    return SymbolRules(
        symbol=symbol,
        tick_size=Decimal("0.01"),
        lot_step=Decimal("0.000000001") if fractionable else Decimal(1),
        min_qty=Decimal("0.000000001") if fractionable else Decimal(1),
        min_notional=Decimal(1),
    )


def parse_order(order: AlpacaOrder, *, symbol: str) -> OrderSnapshot:
    try:
        status = ORDER_STATUS[order.status]
        order_type = ORDER_TYPE[order.type]
        side = SIDE[order.side]
    except KeyError as exc:
        raise MalformedMessage(f"alpaca order {order.id}: unknown value {exc.args[0]!r}") from None
    qty = _dec(order.qty or "0", "qty")
    filled = _dec(order.filled_qty, "filled_qty")
    if (status.is_terminal or order.status == "calculated") and qty > 0 and filled >= qty:
        status = OrderStatus.FILLED
    avg = _dec(order.filled_avg_price, "filled_avg_price") if order.filled_avg_price else None
    if order.limit_price is None:
        raise MalformedMessage(f"alpaca order {order.id} has no limit_price")
    return OrderSnapshot(
        venue_order_id=order.id,
        client_order_id=order.client_order_id,
        symbol=symbol,
        side=side,
        order_type=order_type,
        price=_dec(order.limit_price, "limit_price"),
        stop_price=_dec(order.stop_price, "stop_price") if order.stop_price else None,
        qty=qty,
        filled_qty=filled,
        avg_fill_price=avg,
        status=status,
        ts_event=parse_rfc3339_ns(order.updated_at),
    )


def parse_frame(
    raw: str | bytes, *, symbols: Mapping[str, str], ts_init: int
) -> list[Quote | dict[str, Any]]:
    """One stream frame (always a JSON array). Quotes become ``Quote``; control messages (success,
    subscription, error) are returned as dicts for the stream to act on. ``symbols`` maps the stream's
    symbol (``BTC/USD``, ``AAPL``) to ours."""
    try:
        items = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:  # not JSON, or JSON no parser takes (digits, depth)
        raise MalformedMessage(f"alpaca frame is not JSON: {str(exc)[:100]}") from None
    if not isinstance(items, list):
        raise MalformedMessage("alpaca frame is not an array")
    out: list[Quote | dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict) or "T" not in item:
            raise MalformedMessage("alpaca message without a type")
        kind = item["T"]
        if kind == "q":
            ours = symbols.get(str(item.get("S")))
            if ours is None:
                raise MalformedMessage(f"alpaca quote for an unsubscribed symbol {item.get('S')!r}")
            quote = validate_wire(AlpacaQuote, item, "quote", venue=VENUE)
            out.append(
                Quote(
                    venue=VENUE,
                    symbol=ours,
                    bid=quote.bp,
                    ask=quote.ap,
                    bid_size=quote.bs,
                    ask_size=quote.ask_size,
                    ts_event=parse_rfc3339_ns(quote.t),
                    ts_init=ts_init,
                )
            )
        elif kind in ("success", "subscription", "error"):
            out.append(item)
        elif kind in ("t", "b", "d", "u", "o", "s", "l", "c", "x"):
            continue  # trades, bars, orderbooks, statuses, LULDs, corrections: not subscribed; ignored
        else:
            raise MalformedMessage(f"alpaca message type {kind!r} is unknown")
    return out


def map_error(
    status: int, body: str, headers: Mapping[str, str], *, mutates: bool, auth_hint: str, now_s: float
) -> VenueError:
    code: Any = None
    message = body[:200]
    try:
        payload = json.loads(body)
        if isinstance(payload, dict):
            code, message = payload.get("code"), str(payload.get("message", message))
    except (ValueError, RecursionError):
        pass
    text = f"alpaca {status} {code}: {message}"
    if status == 429:
        # Without a Retry-After, the window's reset (epoch seconds) says when; without either, a minute.
        try:
            reset_s = float(headers.get("X-Ratelimit-Reset") or "nan")
        except ValueError:
            reset_s = math.nan
        default_s = max(1.0, reset_s - now_s) if math.isfinite(reset_s) else 60.0
        wait_s = retry_after_s(headers.get("Retry-After"), default_s=default_s, now_s=now_s)
        return RateLimited(text, venue=VENUE, code=code, retry_after_s=wait_s)
    if status >= 500:
        if mutates:
            return OutcomeUnknown(text, venue=VENUE, code=code)
        return VenueUnavailable(text, venue=VENUE, code=code, retry_after_s=1.0)
    if status == 401:
        return AuthError(f"{text} ({auth_hint})", venue=VENUE, code=code)
    if code == ERROR_INSUFFICIENT or (status == 403 and "insufficient" in message.lower()):
        return InsufficientFunds(text, venue=VENUE, code=code)
    if status == 403:
        return AuthError(f"{text} ({auth_hint})", venue=VENUE, code=code)
    if status == 404 or code == ERROR_NOT_FOUND:
        return UnknownOrder(text, venue=VENUE, code=code)
    return OrderRejected(text, venue=VENUE, code=code)


@dataclass(frozen=True)
class StreamControl:
    """The trading stream's own replies: ``authorization`` and ``listening`` (``ok`` says whether it
    went through), or an in-stream ``error``."""

    stream: str
    ok: bool
    message: str = ""


def trade_stream_symbols(symbols: Iterable[str]) -> dict[str, str]:
    """Order symbols in ``trade_updates`` -> ours, without REST: crypto ``BTC/USD`` (legacy ``BTCUSD``),
    stocks by ticker (``AAPL`` -> ``AAPL/USD``)."""
    out: dict[str, str] = {}
    for symbol in symbols:
        base, quote = symbol.split("/")
        out[symbol] = symbol
        out[symbol.replace("/", "")] = symbol
        if quote == "USD":
            out.setdefault(base, symbol)
    return out


def parse_trade_frame(
    raw: str | bytes, *, symbols: Mapping[str, str], ts_init: int
) -> OrderUpdate | StreamControl | None:
    """One frame of the trading stream (text or binary). ``OrderUpdate`` for a ``trade_updates`` event,
    ``StreamControl`` for the stream's replies, None for events that change nothing here (transitional
    states, symbols we do not trade). Raises ``MalformedMessage`` for anything unparseable."""
    frame = json_object(raw, "trading frame", venue=VENUE)
    data = frame.get("data")
    if frame.get("action") == "error":
        message = data.get("error_message", "") if isinstance(data, dict) else ""
        return StreamControl(stream="error", ok=False, message=str(message))
    stream = frame.get("stream")
    if not isinstance(data, dict):
        raise MalformedMessage(f"alpaca trading frame without data (stream {stream!r})")
    if stream == "authorization":
        ok = data.get("status") == "authorized"
        return StreamControl(
            stream="authorization", ok=ok, message=str(data.get("message", data.get("status")))
        )
    if stream == "listening":
        streams = data.get("streams") or []
        return StreamControl(stream="listening", ok="trade_updates" in streams, message=",".join(streams))
    if stream != "trade_updates":
        raise MalformedMessage(f"alpaca trading frame of unknown stream {stream!r}")
    return _trade_update(data, symbols=symbols, ts_init=ts_init)


def _trade_update(data: dict[str, Any], *, symbols: Mapping[str, str], ts_init: int) -> OrderUpdate | None:
    update = validate_wire(AlpacaTradeUpdate, data, "trade update", venue=VENUE)
    if update.event in TRADE_EVENTS_IGNORED:
        return None
    order = update.order
    symbol = symbols.get(order.symbol)
    if symbol is None:
        return None  # an order on a symbol we do not trade
    try:
        kind = TRADE_EVENT[update.event]
        side = SIDE[order.side]
        order_type = TRADE_ORDER_TYPE[order.type]
    except KeyError as exc:
        raise MalformedMessage(f"alpaca trade update {order.id}: unknown value {exc.args[0]!r}") from None
    avg = _dec(order.filled_avg_price, "filled_avg_price") if order.filled_avg_price else None
    fill = kind.is_fill
    if fill and (update.qty is None or update.price is None):
        raise MalformedMessage(f"alpaca {update.event} of {order.id} without qty/price")
    return OrderUpdate(
        venue=VENUE,
        kind=kind,
        symbol=symbol,
        client_order_id=order.client_order_id,
        venue_order_id=order.id,
        side=side,
        order_type=order_type,
        price=_dec(order.limit_price or order.filled_avg_price or "0", "limit_price"),
        order_qty=_dec(order.qty or "0", "qty"),
        cum_filled_qty=_dec(order.filled_qty, "filled_qty"),
        avg_fill_price=avg,
        last_qty=_dec(update.qty, "qty") if fill else Decimal(0),
        last_price=_dec(update.price, "price") if fill else Decimal(0),
        trade_id=update.execution_id if fill else None,
        position_qty=_dec(update.position_qty, "position_qty") if update.position_qty is not None else None,
        ts_event=parse_rfc3339_ns(update.timestamp) or ts_init,
        ts_init=ts_init,
    )
