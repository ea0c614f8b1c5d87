"""AlpacaExchange: the exchange port over Alpaca's Trading API v2 (crypto and US stocks)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from autohedge.adapters.alpaca.constants import (
    CAPABILITIES,
    ORDER_TYPE,
    REQUESTS_PER_MINUTE,
    TRADING_STREAM_PAPER_URL,
    VENUE,
)
from autohedge.adapters.alpaca.parse import (
    SymbolMap,
    parse_order,
    parse_rfc3339_ns,
    parse_rules,
    trade_stream_symbols,
)
from autohedge.adapters.alpaca.rest import AUTH_HINT, AlpacaRest
from autohedge.adapters.alpaca.user_ws import AlpacaUserStream
from autohedge.adapters.alpaca.wire import (
    AlpacaOrder,
)
from autohedge.adapters.alpaca.ws import AlpacaMarketStream, CompositeStream
from autohedge.adapters.credentials import check_account_keys
from autohedge.adapters.reference import VenueReference
from autohedge.core.clock import Clock
from autohedge.core.config import AppConfig, Secrets
from autohedge.core.errors import AuthError, MalformedMessage, OrderRefused, VenueUnavailable
from autohedge.core.messages import (
    Balance,
    OcoRequest,
    OcoSnapshot,
    OrderRequest,
    OrderSnapshot,
    PositionSnapshot,
    Quote,
    SymbolRules,
)
from autohedge.core.ports import Capabilities, MarketStream
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.types import OrderType
from autohedge.core.types import decimal_str as fmt

__all__ = [
    "AlpacaExchange",
    "check_credentials",
    "create_exchange",
    "create_stream_factory",
    "create_user_stream",
    "new_budget",
]


class AlpacaExchange:
    """Implements ``core.ports.Exchange``. Thread-safe; symbols and rules load once, lazily."""

    venue = VENUE
    capabilities: Capabilities = CAPABILITIES

    def __init__(
        self, rest: AlpacaRest, *, symbols: Sequence[str], clock: Clock, budget: RequestBudget
    ) -> None:
        self._rest = rest
        self._symbols = tuple(symbols)
        self._clock = clock
        self.request_budget = budget
        self._reference = VenueReference(VENUE, self._load_reference)

    def _load_reference(self) -> tuple[SymbolMap, dict[str, SymbolRules]]:
        assets = self._rest.crypto_assets()
        by_symbol = {a.symbol: a for a in assets if a.tradable}
        symbol_map = SymbolMap(self._symbols, by_symbol)
        rules = {}
        for symbol in self._symbols:
            crypto = symbol_map.is_crypto(symbol)
            asset = by_symbol.get(symbol) if crypto else self._rest.asset(symbol_map.to_venue(symbol))
            rules[symbol] = parse_rules(asset, symbol=symbol, crypto=crypto)
        return symbol_map, rules

    def _load(self) -> SymbolMap:
        return self._reference.symbol_map()

    def symbol_rules(self, symbol: str) -> SymbolRules:
        return self._reference.rules(symbol)

    def _parse(self, order: AlpacaOrder) -> OrderSnapshot:
        symbol = self._load().from_order_symbol(order.symbol)
        if symbol is None:
            raise MalformedMessage(f"alpaca order for {order.symbol}, which is not traded here")
        return parse_order(order, symbol=symbol)

    def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        symbols = self._load()
        prices = [request.price] + ([request.stop_price] if request.stop_price is not None else [])
        self._reference.check(request.symbol, request.qty, *prices)
        body: dict[str, Any] = {
            "symbol": symbols.to_venue(request.symbol),
            "qty": fmt(request.qty),
            "side": request.side.value,
            "type": "stop_limit" if request.order_type is OrderType.STOP_LIMIT else "limit",
            "time_in_force": request.time_in_force.value,  # gtc | ioc: valid for crypto and stocks
            "limit_price": fmt(request.price),
            "client_order_id": request.client_order_id,
        }
        if request.stop_price is not None:
            body["stop_price"] = fmt(request.stop_price)
        return self._parse(self._rest.new_order(body, priority=request.purpose.is_exit))

    def submit_oco(self, request: OcoRequest) -> OcoSnapshot:
        raise OrderRefused("alpaca has no OCO for these assets: the monitor rests the TP and guards the SL")

    def _resolve_id(self, venue_order_id: str | None, client_order_id: str | None) -> str:
        if venue_order_id is not None:
            return venue_order_id
        if client_order_id is None:
            raise OrderRefused("alpaca: an order id is required")
        return self._parse(self._rest.get_order_by_client_id(client_order_id)).venue_order_id

    def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        order_id = self._resolve_id(venue_order_id, client_order_id)
        self._rest.cancel_order(order_id)  # 204: the order's state comes from a read
        return self._parse(self._rest.get_order(order_id))

    def get_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        if venue_order_id is not None:
            return self._parse(self._rest.get_order(venue_order_id))
        if client_order_id is None:
            raise OrderRefused("alpaca: an order id is required")
        return self._parse(self._rest.get_order_by_client_id(client_order_id))

    def open_orders(self, symbol: str | None = None) -> tuple[OrderSnapshot, ...]:
        symbols = self._load()
        orders = self._rest.open_orders(symbols.to_venue(symbol) if symbol else None)
        # Only limit and stop-limit orders can be ours: another client's market or stop order on the
        # account (no limit price) is no order of ours to read, and its parse failed the whole listing.
        return tuple(
            self._parse(o)
            for o in orders
            if o.type in ORDER_TYPE and symbols.from_order_symbol(o.symbol) is not None
        )

    def balances(self) -> dict[str, Balance]:
        """Cash as the quote balance (crypto buying power is the non-marginable one); holdings from
        positions."""
        account = self._rest.account()
        cash = Decimal(account.non_marginable_buying_power or account.buying_power)
        out = {account.currency: Balance(asset=account.currency, free=cash)}
        for position in self.positions(self._symbols):
            base = position.symbol.split("/")[0]
            out[base] = Balance(asset=base, free=position.qty)
        return out

    def positions(self, symbols: Sequence[str]) -> tuple[PositionSnapshot, ...]:
        mapping = self._load()
        wanted = set(symbols)
        out = []
        for position in self._rest.positions():
            ours = mapping.from_position_symbol(position.symbol)
            if ours is not None and ours in wanted and Decimal(position.qty) > 0:
                out.append(
                    PositionSnapshot(
                        symbol=ours,
                        qty=Decimal(position.qty),
                        avg_entry_price=Decimal(position.avg_entry_price),
                    )
                )
        return tuple(out)

    def best_quote(self, symbol: str) -> Quote:
        symbols = self._load()
        venue_symbol = symbols.to_venue(symbol)
        if symbols.is_crypto(symbol):
            quote = self._rest.latest_crypto_quote(venue_symbol).quotes.get(venue_symbol)
        else:
            quote = self._rest.latest_stock_quote(venue_symbol).quote
        if quote is None:
            raise VenueUnavailable(f"alpaca has no quote for {symbol}", venue=VENUE)
        return Quote(
            venue=VENUE,
            symbol=symbol,
            bid=quote.bp,
            ask=quote.ap,
            bid_size=quote.bs,
            ask_size=quote.ask_size,
            ts_event=parse_rfc3339_ns(quote.t),
            ts_init=self._clock.wall_ns(),
        )

    def close(self) -> None:
        self._rest.close()


def new_budget(clock: Clock) -> RequestBudget:
    """One budget per account (trading adapter and market stream); 200/min until the headers say.
    Rolling: the limit holds in any 60 s, so the minute's reset does not let a second 200 follow the
    first within the same 60 s."""
    return RequestBudget(
        clock, venue=VENUE, capacity=REQUESTS_PER_MINUTE, per_s=60.0, reserve_fraction=0.2, rolling=True
    )


def _rest(config: AppConfig, secrets: Secrets, clock: Clock, budget: RequestBudget) -> AlpacaRest:
    endpoints = config.venues.alpaca
    return AlpacaRest(
        rest_url=endpoints.rest_url,
        data_url=endpoints.data_rest_url or endpoints.rest_url,
        key_id=secrets.autohedge_alpaca_api_key_id,
        secret_key=secrets.autohedge_alpaca_api_secret_key,
        clock=clock,
        budget=budget,
        timeout_s=endpoints.timeout_s,
    )


def create_exchange(config: AppConfig, secrets: Secrets, clock: Clock) -> AlpacaExchange:
    budget = new_budget(clock)
    return AlpacaExchange(
        _rest(config, secrets, clock, budget), symbols=config.symbols, clock=clock, budget=budget
    )


def create_stream_factory(
    config: AppConfig, clock: Clock, secrets: Secrets | None = None, *, budget: RequestBudget | None = None
) -> Callable[[], MarketStream]:
    """Crypto quotes on the v1beta3 stream, stock quotes on the IEX stream; both need keys. Which symbols
    are crypto is read once, now (before any actor starts), so a feed's reconnect spends no REST.
    ``budget``: the trading adapter's, when there is one (one account budget for every request)."""
    secrets = secrets or Secrets()
    key, secret = secrets.autohedge_alpaca_api_key_id, secrets.autohedge_alpaca_api_secret_key
    if key is None or secret is None:
        raise AuthError(f"alpaca market data needs keys ({AUTH_HINT})", venue=VENUE)
    endpoints = config.venues.alpaca
    rest = _rest(config, secrets, clock, budget or new_budget(clock))
    try:
        listed = {asset.symbol for asset in rest.crypto_assets()}
    finally:
        rest.close()
    mapping = SymbolMap(config.symbols, listed)
    crypto = [s for s in config.symbols if mapping.is_crypto(s)]
    stocks = [s for s in config.symbols if not mapping.is_crypto(s)]

    def new_stream() -> MarketStream:
        streams: list[MarketStream] = []
        if crypto:
            streams.append(
                AlpacaMarketStream(
                    url=endpoints.ws_url,
                    key_id=key,
                    secret_key=secret,
                    clock=clock,
                    symbols={s: s for s in crypto},
                )
            )
        if stocks:
            streams.append(
                AlpacaMarketStream(
                    url=endpoints.stocks_ws_url or endpoints.ws_url,
                    key_id=key,
                    secret_key=secret,
                    clock=clock,
                    symbols={s.split("/")[0]: s for s in stocks},
                )
            )
        return streams[0] if len(streams) == 1 else CompositeStream(streams)

    return new_stream


def check_credentials(
    config: AppConfig, secrets: Secrets, clock: Clock, *, budget: RequestBudget | None = None
) -> None:
    """One signed call (the account) before any actor starts (``check_account_keys``). ``budget``: the
    trading exchange's, so the call counts where every other request of the process does."""
    rest = _rest(config, secrets, clock, budget or new_budget(clock))
    check_account_keys(rest, venue=VENUE, hint=AUTH_HINT)


def create_user_stream(
    config: AppConfig, secrets: Secrets, clock: Clock, *, budget: RequestBudget | None = None
) -> AlpacaUserStream:
    """``trade_updates`` on the trading stream. No REST at start: event symbols map from the config.
    ``budget`` is unused: the stream does not count against the REST limit."""
    return AlpacaUserStream(
        url=config.venues.alpaca.user_ws_url or TRADING_STREAM_PAPER_URL,
        key_id=secrets.autohedge_alpaca_api_key_id,
        secret_key=secrets.autohedge_alpaca_api_secret_key,
        clock=clock,
        symbols=trade_stream_symbols(config.symbols),
    )
