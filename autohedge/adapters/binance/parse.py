"""Pure parsers: Binance wire data + context -> autohedge messages; error payloads -> typed errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import msgspec

from autohedge.adapters.binance.constants import EXECUTION_TYPE, ORDER_STATUS, ORDER_TYPE, SIDE, VENUE
from autohedge.adapters.binance.wire import (
    BinanceAccountPosition,
    BinanceBookTicker,
    BinanceExecutionReport,
    BinanceFill,
    BinanceOrder,
    BinanceSymbolInfo,
    BinanceTrade,
    BinanceWsResponse,
)
from autohedge.adapters.wirevalues import json_object, retry_after_s, validate_wire, wire_decimal
from autohedge.core.errors import (
    AuthError,
    DuplicateOrder,
    InsufficientFunds,
    MalformedMessage,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)
from autohedge.core.messages import (
    AccountBalances,
    Balance,
    OrderEventKind,
    OrderSnapshot,
    OrderUpdate,
    Quote,
    SymbolRules,
)

__all__ = [
    "DEFAULT_RETRY_AFTER_S",
    "BookTickerDecoder",
    "SymbolMap",
    "is_auth_refusal",
    "map_error",
    "map_error_code",
    "parse_book_ticker_frame",
    "parse_order",
    "parse_rules",
    "parse_user_frame",
    "sum_fees",
]

_NS_PER_MS = 1_000_000


def _dec(raw: object, field: str) -> Decimal:
    return wire_decimal(raw, field, venue=VENUE)


class SymbolMap:
    """``BTC/USDT`` <-> ``BTCUSDT``, built from exchangeInfo (Binance symbols have no separator)."""

    def __init__(self, infos: Iterable[BinanceSymbolInfo]) -> None:
        self._to_venue: dict[str, str] = {}
        self._from_venue: dict[str, str] = {}
        for info in infos:
            ours = f"{info.baseAsset}/{info.quoteAsset}"
            self._to_venue[ours] = info.symbol
            self._from_venue[info.symbol] = ours

    def to_venue(self, symbol: str) -> str:
        try:
            return self._to_venue[symbol]
        except KeyError:
            raise OrderRejected(f"binance does not list {symbol}", venue=VENUE) from None

    def from_venue(self, venue_symbol: str) -> str:
        try:
            return self._from_venue[venue_symbol]
        except KeyError:
            raise MalformedMessage(f"binance symbol {venue_symbol!r} is not one we trade") from None

    def __contains__(self, venue_symbol: object) -> bool:
        return venue_symbol in self._from_venue

    def from_venue_table(self) -> dict[str, str]:
        """``BTCUSDT`` -> ``BTC/USDT`` for every listed symbol (a copy, for lookups on a hot path)."""
        return dict(self._from_venue)


def parse_rules(info: BinanceSymbolInfo, *, symbol: str) -> SymbolRules:
    """PRICE_FILTER / LOT_SIZE / NOTIONAL (or the older MIN_NOTIONAL) -> SymbolRules."""
    filters = {f.filterType: f for f in info.filters}
    price, lot = filters.get("PRICE_FILTER"), filters.get("LOT_SIZE")
    if price is None or lot is None or price.tickSize is None or lot.stepSize is None:
        raise MalformedMessage(f"binance exchangeInfo for {info.symbol} lacks PRICE_FILTER or LOT_SIZE")
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL")
    min_notional = (
        _dec(notional.minNotional, "minNotional") if notional and notional.minNotional else Decimal(0)
    )
    max_qty = _dec(lot.maxQty, "maxQty") if lot.maxQty else None
    return SymbolRules(
        symbol=symbol,
        tick_size=_dec(price.tickSize, "tickSize").normalize(),
        lot_step=_dec(lot.stepSize, "stepSize").normalize(),
        min_qty=_dec(lot.minQty or "0", "minQty"),
        min_notional=min_notional,
        max_qty=max_qty,
    )


def parse_order(
    order: BinanceOrder,
    *,
    symbol: str,
    fee: Decimal = Decimal(0),
    fee_asset: str = "",
    venue_offset_ns: int = 0,
) -> OrderSnapshot:
    """``venue_offset_ns``: the venue's clock minus ours; the order's time is taken to our clock, as the
    user stream's events are (``parse_user_frame``)."""
    try:
        status = ORDER_STATUS[order.status]
        order_type = ORDER_TYPE[order.type]
        side = SIDE[order.side]
    except KeyError as exc:
        raise MalformedMessage(f"binance order {order.orderId}: unknown value {exc.args[0]!r}") from None
    executed = _dec(order.executedQty, "executedQty")
    quote_qty = _dec(order.cummulativeQuoteQty, "cummulativeQuoteQty")
    avg = quote_qty / executed if executed > 0 and quote_qty > 0 else None
    stop = _dec(order.stopPrice, "stopPrice")
    ts_ms = order.updateTime or order.transactTime or order.time
    return OrderSnapshot(
        venue_order_id=str(order.orderId),
        client_order_id=order.clientOrderId,
        symbol=symbol,
        side=side,
        order_type=order_type,
        price=_dec(order.price, "price"),
        stop_price=stop if stop > 0 else None,
        qty=_dec(order.origQty, "origQty"),
        filled_qty=executed,
        avg_fill_price=avg,
        fee=fee,
        fee_asset=fee_asset,
        status=status,
        list_id=str(order.orderListId) if order.orderListId >= 0 else None,
        ts_event=ts_ms * _NS_PER_MS - venue_offset_ns,
    )


def sum_fees(trades: Iterable[BinanceTrade | BinanceFill]) -> tuple[Decimal, str]:
    """Total commission of an order's trades and its asset (the last seen when several)."""
    total, asset = Decimal(0), ""
    for trade in trades:
        total += _dec(trade.commission, "commission")
        asset = trade.commissionAsset
    return total, asset


def parse_book_ticker_frame(raw: str, *, symbols: SymbolMap, ts_init: int) -> Quote | None:
    """One frame of the combined stream. Quote for bookTicker data; None for frames that carry no
    quote (subscription results). Raises MalformedMessage for anything unparseable."""
    frame = json_object(raw, "frame", venue=VENUE)
    data = frame.get("data", frame)
    if not isinstance(data, dict):
        raise MalformedMessage("binance frame data is not an object")
    if "result" in frame and "id" in frame:
        return None  # reply to a SUBSCRIBE
    if data.get("e") == "serverShutdown":
        raise ConnectionAbortedError("binance serverShutdown: reconnect")
    ticker = validate_wire(BinanceBookTicker, data, "bookTicker", venue=VENUE)
    bid, ask = _dec(ticker.b, "b"), _dec(ticker.a, "a")
    return Quote(
        venue=VENUE,
        symbol=symbols.from_venue(ticker.s),
        bid=bid,
        ask=ask,
        bid_size=_dec(ticker.B, "B"),
        ask_size=_dec(ticker.A, "A"),
        ts_event=ts_init,
        ts_init=ts_init,
    )


UserFrame = OrderUpdate | AccountBalances | BinanceWsResponse | None


def parse_user_frame(
    raw: str | bytes, *, symbols: Mapping[str, str], ts_init: int, venue_offset_ns: int = 0
) -> UserFrame:
    """One frame of the WebSocket API connection carrying the user data stream.

    ``symbols``: venue symbol -> ours. ``venue_offset_ns``: the venue's clock minus ours (the measured
    server-time offset): event times (``T``, ``u``) are taken back to our clock, the one the ledger's
    re-base reads (a fill or balance push dated on the venue's clock was compared with our reading and,
    our clock ahead, taken for one the re-base held: never applied). Returns a response (it has an
    ``id``), an ``OrderUpdate`` (``executionReport``), ``AccountBalances`` (``outboundAccountPosition``),
    or None for frames that change nothing here (``listStatus``, ``balanceUpdate``, events of symbols we
    do not trade).
    Raises ``ConnectionAbortedError`` when the venue ends the stream (reconnect), ``MalformedMessage``
    for anything unparseable.
    """
    frame = json_object(raw, "user frame", venue=VENUE)
    if "id" in frame and "status" in frame:
        return validate_wire(BinanceWsResponse, frame, "response", venue=VENUE)
    event = frame.get("event", frame)
    if not isinstance(event, dict):
        raise MalformedMessage("binance user event is not an object")
    kind = event.get("e")
    if kind in ("eventStreamTerminated", "serverShutdown"):
        raise ConnectionAbortedError(f"binance {kind}: reconnect")
    if kind == "executionReport":
        return _execution_report(event, symbols=symbols, ts_init=ts_init, venue_offset_ns=venue_offset_ns)
    if kind == "outboundAccountPosition":
        position = validate_wire(BinanceAccountPosition, event, "outboundAccountPosition", venue=VENUE)
        return AccountBalances(
            venue=VENUE,
            balances=tuple(
                Balance(asset=b.a, free=_dec(b.f, "f"), locked=_dec(b.l, "l")) for b in position.B
            ),
            ts_event=position.u * _NS_PER_MS - venue_offset_ns,
            ts_init=ts_init,
        )
    if kind in ("listStatus", "balanceUpdate", "externalLockUpdate"):
        return None  # list legs report themselves; deposits show in the next balance snapshot
    raise MalformedMessage(f"binance user event of unknown type {kind!r}")


def _execution_report(
    event: dict[str, Any], *, symbols: Mapping[str, str], ts_init: int, venue_offset_ns: int
) -> OrderUpdate | None:
    report = validate_wire(BinanceExecutionReport, event, "executionReport", venue=VENUE)
    symbol = symbols.get(report.s)
    if symbol is None:
        return None  # an order on a symbol we do not trade
    if report.o not in ORDER_TYPE:
        return None  # another client's order of a type we never place (a stop-market, a market order)
    try:
        kind = EXECUTION_TYPE[report.x]
        side = SIDE[report.S]
        order_type = ORDER_TYPE[report.o]
    except KeyError as exc:
        raise MalformedMessage(f"binance executionReport {report.i}: unknown value {exc.args[0]!r}") from None
    if kind is OrderEventKind.PARTIALLY_FILLED and report.X == "FILLED":
        kind = OrderEventKind.FILLED
    # On CANCELED ``c`` names the cancel request; the order's own id is in ``C``.
    client_order_id = report.C if report.x == "CANCELED" and report.C else report.c
    cum = _dec(report.z, "z")
    cum_quote = _dec(report.Z, "Z")
    return OrderUpdate(
        venue=VENUE,
        kind=kind,
        symbol=symbol,
        client_order_id=client_order_id,
        venue_order_id=str(report.i),
        side=side,
        order_type=order_type,
        price=_dec(report.p, "p"),
        order_qty=_dec(report.q, "q"),
        cum_filled_qty=cum,
        avg_fill_price=cum_quote / cum if cum > 0 and cum_quote > 0 else None,
        last_qty=_dec(report.l, "l"),
        last_price=_dec(report.L, "L"),
        fee=_dec(report.n or "0", "n"),
        fee_asset=report.N or "",
        trade_id=str(report.t) if report.t >= 0 else None,
        list_id=str(report.g) if report.g >= 0 else None,
        reason=report.r if report.r != "NONE" else "",
        ts_event=report.transaction_time_ms * _NS_PER_MS - venue_offset_ns,
        ts_init=ts_init,
    )


class _Ticker(msgspec.Struct):
    s: str
    b: Decimal
    B: Decimal
    a: Decimal
    A: Decimal


class _CombinedTicker(msgspec.Struct):
    data: _Ticker


class BookTickerDecoder:
    """Combined-stream ``bookTicker`` frames -> Quote with a typed decoder (one pass over the bytes,
    prices parsed straight to ``Decimal``). Anything the typed decoder refuses (a subscription reply,
    ``serverShutdown``, a malformed frame) goes through ``parse_book_ticker_frame``, which classifies
    it. Used on the market stream's reader thread."""

    def __init__(self, symbols: SymbolMap) -> None:
        self._symbols = symbols
        self._by_venue = symbols.from_venue_table()
        self._decoder = msgspec.json.Decoder(_CombinedTicker)

    def decode(self, raw: bytes, *, ts_init: int) -> Quote | None:
        """Quote, or None for a frame that carries none; raises MalformedMessage or, on
        ``serverShutdown``, ConnectionAbortedError."""
        try:
            ticker = self._decoder.decode(raw).data
        except msgspec.MsgspecError:
            return parse_book_ticker_frame(
                raw.decode("utf-8", errors="replace"), symbols=self._symbols, ts_init=ts_init
            )
        symbol = self._by_venue.get(ticker.s)
        if symbol is None:
            raise MalformedMessage(f"binance symbol {ticker.s!r} is not one we trade")
        try:
            return Quote(
                venue=VENUE,
                symbol=symbol,
                bid=ticker.b,
                ask=ticker.a,
                bid_size=ticker.B,
                ask_size=ticker.A,
                ts_event=ts_init,
                ts_init=ts_init,
            )
        except ValueError as exc:  # NaN or Infinity: decimals, but no price
            raise MalformedMessage(f"binance bookTicker: {exc}") from None


DEFAULT_RETRY_AFTER_S = 60.0
"""A 429/418 without Retry-After (or ``retryAfter``): wait a whole weight window (the venue's own unit)."""
_FUNDS_CODES = {-2010}
_UNKNOWN_ORDER_CODES = {-2011, -2013}
_AUTH_CODES = {-2014, -2015, -1022, -1002}
_UNKNOWN_OUTCOME_CODES = {-1007, -1006}


def is_auth_refusal(status: int, code: object) -> bool:
    """The venue refused our keys (missing, wrong, revoked, a bad signature, an unauthorised session)."""
    return status in (401, 403) or code in _AUTH_CODES


def map_error(
    status: int, body: str, headers: Mapping[str, str], *, auth_hint: str, now_s: float
) -> VenueError:
    """HTTP status + Binance ``{code,msg}`` -> the typed error that carries the retry policy."""
    code: Any = None
    msg = body[:200]
    try:
        payload = json.loads(body)
        if isinstance(payload, dict):
            code, msg = payload.get("code"), str(payload.get("msg", msg))
    except (ValueError, RecursionError):
        pass
    raw = headers.get("Retry-After") or headers.get("retry-after")
    wait_s = retry_after_s(raw, default_s=DEFAULT_RETRY_AFTER_S, now_s=now_s)
    return map_error_code(status, code, msg, retry_after_s=wait_s, auth_hint=auth_hint)


def map_error_code(status: int, code: Any, msg: str, *, retry_after_s: float, auth_hint: str) -> VenueError:
    """Status + Binance error code and message -> the typed error, for REST (``map_error``) and the
    WebSocket API (whose errors carry the same codes, ``retryAfter`` in epoch ms instead of a header)."""
    text = f"binance {status} {code}: {msg}"
    if status in (429, 418):
        return RateLimited(text, venue=VENUE, code=code, retry_after_s=retry_after_s, banned=status == 418)
    if status >= 500 or code in _UNKNOWN_OUTCOME_CODES:
        return OutcomeUnknown(text, venue=VENUE, code=code)
    if code == -1021:
        return VenueUnavailable(
            f"{text} (our clock is off; resyncing)", venue=VENUE, code=code, retry_after_s=1.0
        )
    if is_auth_refusal(status, code):
        return AuthError(f"{text} ({auth_hint})", venue=VENUE, code=code)
    if code in _UNKNOWN_ORDER_CODES:
        return UnknownOrder(text, venue=VENUE, code=code)
    if code in _FUNDS_CODES and "insufficient" in msg.lower():
        return InsufficientFunds(text, venue=VENUE, code=code)
    if code in _FUNDS_CODES and "duplicate order" in msg.lower():
        return DuplicateOrder(text, venue=VENUE, code=code)  # the client order id is taken: it exists
    return OrderRejected(text, venue=VENUE, code=code)
