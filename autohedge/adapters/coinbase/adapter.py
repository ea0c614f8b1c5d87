"""CoinbaseExchange: the exchange port over Coinbase Advanced Trade; entry points for the composition root.

Protection: where a product accepts it, the port's OCO is one ``trigger_bracket_gtc`` sell placed with
the OCO's list client id: one venue order holding the take-profit limit and the stop, the venue ending
the other when one executes. It is reported as the OCO's two legs (``parse.bracket_legs``), so
cancelling, re-sizing and reading it work by either leg's client id as with an OCO list. Which products
accept it is learned once per product, with its rules, from ``POST /orders/preview`` (at composition
for the configured symbols, never between a signal and its order); ``capabilities.oco_symbols`` says
it, and the monitor falls back to a TP limit with a guarded stop elsewhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from loguru import logger

from autohedge.adapters.coinbase.auth import CoinbaseSigner
from autohedge.adapters.coinbase.constants import (
    CAPABILITIES,
    DEFAULT_USER_WS_URL,
    LIVE_STATUS_FILTERS,
    PRIVATE_REQUESTS_PER_S,
    SIDE_TO_WIRE,
    STOP_DIRECTION_DOWN,
    VENUE,
)
from autohedge.adapters.coinbase.parse import (
    bracket_accepted,
    bracket_body,
    bracket_leg_ids,
    bracket_legs,
    map_cancel_result,
    map_create_response,
    of_our_shape,
    order_legs,
    parse_accounts,
    parse_price_book,
    parse_rules,
    product_id,
    symbol_of,
)
from autohedge.adapters.coinbase.rest import AUTH_HINT, CoinbaseRest
from autohedge.adapters.coinbase.user_ws import CoinbaseUserStream
from autohedge.adapters.coinbase.wire import CoinbaseFill, CoinbaseOrder, CoinbaseProduct
from autohedge.adapters.coinbase.ws import CoinbaseMarketStream
from autohedge.adapters.order_ids import KnownOrderIds
from autohedge.core.clock import Clock
from autohedge.core.config import AppConfig, Secrets
from autohedge.core.errors import (
    AuthError,
    ConfigError,
    MalformedMessage,
    OrderRefused,
    OrderRejected,
    UnknownOrder,
    VenueError,
)
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
from autohedge.core.ports import Capabilities, Exchange, MarketStream
from autohedge.core.positions import spot_positions
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.risk import refuse_rule_violations
from autohedge.core.types import (
    OrderPurpose,
    OrderType,
    TimeInForce,
    quantize_down,
    quantize_up,
)
from autohedge.core.types import decimal_str as fmt

__all__ = [
    "CoinbaseExchange",
    "check_credentials",
    "create_exchange",
    "create_stream_factory",
    "create_user_stream",
    "new_budget",
]

_PROBE_PRICE_TICKS = 10_000
"""A product without a last price is probed at this many ticks (only the configuration's answer counts)."""
_PROBE_DISTANCE = Decimal("0.1")
"""The probe's TP and stop sit 10% either side of the reference price."""


class CoinbaseExchange:
    """Implements ``core.ports.Exchange``. Thread-safe; product rules are loaded once, lazily."""

    venue = VENUE

    def __init__(
        self, rest: CoinbaseRest, *, symbols: Sequence[str], clock: Clock, budget: RequestBudget
    ) -> None:
        self._rest = rest
        self._symbols = tuple(symbols)
        self._clock = clock
        self.request_budget = budget
        self._lock = threading.Lock()
        self._rules: dict[str, SymbolRules] = {}
        self._order_ids = KnownOrderIds()
        """Coinbase has no lookup by client id: the ids of orders this process placed or has seen (a
        bracket's list id and both leg ids name its one order)."""
        self.capabilities: Capabilities = CAPABILITIES
        """Replaced (never mutated) as products are loaded: ``oco_symbols`` grows by each product whose
        bracket preview was accepted."""

    # -- reference data ------------------------------------------------------------------------------

    def symbol_rules(self, symbol: str) -> SymbolRules:
        """The product's rules, loaded once together with whether it accepts the bracket."""
        with self._lock:
            rules = self._rules.get(symbol)
        if rules is None:
            if symbol not in self._symbols:
                raise OrderRefused(f"coinbase: {symbol} is not a configured symbol")
            product = self._rest.product(product_id(symbol))
            rules = parse_rules(product, symbol=symbol)
            accepted = self._bracket_accepted(product, rules)
            with self._lock:
                self._rules[symbol] = rules
                if accepted:
                    oco_symbols = (self.capabilities.oco_symbols or frozenset()) | {symbol}
                    self.capabilities = self.capabilities.model_copy(update={"oco_symbols": oco_symbols})
            logger.info(
                "coinbase {}: {}",
                symbol,
                "protected by the venue's bracket" if accepted else "bracket refused: TP limit + guarded SL",
            )
        return rules

    def load_products(self) -> None:
        """Load every configured product's rules and bracket acceptance now (the composition root calls
        this once at start-up). Raises VenueError."""
        for symbol in self._symbols:
            self.symbol_rules(symbol)

    def _bracket_accepted(self, product: CoinbaseProduct, rules: SymbolRules) -> bool:
        """Preview a bracket sell of the product's minimum size around its last price: accepted unless the
        venue refuses the configuration. A preview the venue does not answer counts as refused (the TP
        limit with a guarded stop protects as well, only with the stop watched here)."""
        try:
            reference = Decimal(product.price) if product.price else Decimal(0)
        except ArithmeticError:
            reference = Decimal(0)
        if reference <= 0:
            reference = rules.tick_size * _PROBE_PRICE_TICKS
        qty = max(rules.min_qty, rules.lot_step)
        body = bracket_body(
            f"probe-{product.product_id}",
            product.product_id,
            qty=qty,
            take_profit=quantize_up(reference * (1 + _PROBE_DISTANCE), rules.tick_size),
            stop_trigger=quantize_down(reference * (1 - _PROBE_DISTANCE), rules.tick_size),
        )
        try:
            preview = self._rest.preview_order(body)
        except (VenueError, MalformedMessage) as exc:
            logger.warning(
                "coinbase {}: bracket preview not answered ({}); not used", product.product_id, exc
            )
            return False
        return bracket_accepted(preview)

    def _check(self, symbol: str, qty: Decimal, *prices: Decimal) -> None:
        """Refuse before sending what the venue's increments and minimums would reject."""
        refuse_rule_violations(VENUE, symbol, self.symbol_rules(symbol), qty, *prices)

    def _snapshots(self, order: CoinbaseOrder) -> tuple[OrderSnapshot, ...]:
        """The order as the port sees it: itself, or a bracket of ours as its two legs (once its stop
        sold, the order's trades tell what its take-profit had sold before)."""
        snapshots = order_legs(
            order, symbol=symbol_of(order.product_id), trades=lambda: self._rest.fills([order.order_id])
        )
        for client_order_id in {order.client_order_id, *(s.client_order_id for s in snapshots)} - {""}:
            self._order_ids.remember(client_order_id, order.order_id)  # a bracket's list id too
        return snapshots

    def _snapshot(self, order: CoinbaseOrder, client_order_id: str | None) -> OrderSnapshot:
        """The order, or the leg of a bracket named by ``client_order_id`` (its TP leg by default)."""
        snapshots = self._snapshots(order)
        return next((s for s in snapshots if s.client_order_id == client_order_id), snapshots[0])

    # -- orders --------------------------------------------------------------------------------------

    def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        prices = [request.price] + ([request.stop_price] if request.stop_price is not None else [])
        self._check(request.symbol, request.qty, *prices)
        config: dict[str, Any]
        if request.order_type is OrderType.STOP_LIMIT:
            if request.stop_price is None:
                raise OrderRefused("coinbase: a stop-limit order needs a stop price")
            config = {
                "stop_limit_stop_limit_gtc": {
                    "base_size": fmt(request.qty),
                    "limit_price": fmt(request.price),
                    "stop_price": fmt(request.stop_price),
                    "stop_direction": STOP_DIRECTION_DOWN,
                }
            }
        elif request.time_in_force is TimeInForce.IOC:
            config = {"sor_limit_ioc": {"base_size": fmt(request.qty), "limit_price": fmt(request.price)}}
        else:
            config = {
                "limit_limit_gtc": {
                    "base_size": fmt(request.qty),
                    "limit_price": fmt(request.price),
                    "post_only": False,
                }
            }
        body = {
            "client_order_id": request.client_order_id,
            "product_id": product_id(request.symbol),
            "side": SIDE_TO_WIRE[request.side],
            "order_configuration": config,
        }
        order_id = self._create(body, request.client_order_id, priority=request.purpose.is_exit)
        # Not read back: the create answer carries only the id, a read would spend the request budget
        # (half of it at full trading pace), and the order's fills arrive by the user stream (or the
        # executor's read when no stream is live).
        return OrderSnapshot.accepted(request, venue_order_id=order_id, ts_event=self._clock.wall_ns())

    def submit_oco(self, request: OcoRequest) -> OcoSnapshot:
        """One ``trigger_bracket_gtc`` sell carrying the list client id; its legs are the OCO's legs."""
        self._check(request.symbol, request.qty, request.take_profit_price, request.stop_price)
        if request.symbol not in (self.capabilities.oco_symbols or frozenset()):  # known once rules are
            raise OrderRefused(f"coinbase: {request.symbol} does not accept the bracket; no OCO for it")
        legs = bracket_leg_ids(request.list_client_id)
        if legs != (request.take_profit_client_order_id, request.stop_loss_client_order_id):
            raise OrderRefused(
                f"coinbase: bracket legs must be named by the list id {request.list_client_id}'s key"
            )
        body = bracket_body(
            request.list_client_id,
            product_id(request.symbol),
            qty=request.qty,
            take_profit=request.take_profit_price,
            stop_trigger=request.stop_price,
        )
        order_id = self._create(body, request.list_client_id, priority=True)
        for leg_id in legs:
            self._order_ids.remember(leg_id, order_id)
        # The bracket as one order (the TP limit with the stop trigger), then as the OCO's two legs.
        bracket = OrderRequest(
            client_order_id=request.list_client_id,
            symbol=request.symbol,
            side=request.side,
            qty=request.qty,
            price=request.take_profit_price,
            stop_price=request.stop_price,
            purpose=OrderPurpose.TAKE_PROFIT,
        )
        placed = OrderSnapshot.accepted(bracket, venue_order_id=order_id, ts_event=self._clock.wall_ns())
        return OcoSnapshot(list_id=order_id, orders=bracket_legs(placed, legs, stop_working=False))

    def _create(self, body: dict[str, Any], client_order_id: str, *, priority: bool) -> str:
        """Place ``body``; the new order's id, remembered for ``client_order_id``."""
        known = self._order_ids.venue_id(client_order_id)
        order_id = map_create_response(self._rest.create_order(body, priority=priority))
        if known is not None and known == order_id:
            # Coinbase answers a repeated client_order_id with the existing order and places nothing.
            raise OrderRejected(
                f"coinbase: client order id {client_order_id} is already order {order_id}",
                venue=VENUE,
                code="duplicate",
            )
        self._order_ids.remember(client_order_id, order_id)
        return order_id

    def _order_id(self, symbol: str, venue_order_id: str | None, client_order_id: str | None) -> str:
        if venue_order_id is not None:
            return venue_order_id
        if client_order_id is None:
            raise OrderRefused("coinbase: an order id is required")
        known = self._order_ids.venue_id(client_order_id)
        if known is not None:
            return known
        # No lookup by client id on Coinbase: search the product's orders (open first, then history). A
        # bracket leg is found by its bracket's list id.
        for statuses in (("OPEN",), ()):
            for order in self._rest.list_orders(product_ids=[product_id(symbol)], statuses=statuses):
                legs = bracket_leg_ids(order.client_order_id) or ()
                if order.client_order_id == client_order_id or client_order_id in legs:
                    self._order_ids.remember(client_order_id, order.order_id)
                    return order.order_id
        raise UnknownOrder(f"coinbase: no order with client order id {client_order_id}", venue=VENUE)

    def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        order_id = self._order_id(symbol, venue_order_id, client_order_id)
        results = self._rest.cancel_orders([order_id])
        if not results:
            raise MalformedMessage("coinbase batch_cancel answered no result")
        map_cancel_result(results[0])
        return self._snapshot(self._rest.get_order(order_id), client_order_id)

    def get_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        order_id = self._order_id(symbol, venue_order_id, client_order_id)
        return self._snapshot(self._rest.get_order(order_id), client_order_id)

    def open_orders(self, symbol: str | None = None) -> tuple[OrderSnapshot, ...]:
        products = [product_id(symbol)] if symbol else [product_id(s) for s in self._symbols]
        orders = {
            order.order_id: order
            for statuses in LIVE_STATUS_FILTERS
            for order in self._rest.list_orders(product_ids=products, statuses=statuses)
        }.values()
        return tuple(
            snapshot
            for order in orders
            if order.product_id in products and of_our_shape(order)
            for snapshot in self._snapshots(order)
            if snapshot.status.is_open
        )

    # -- account -------------------------------------------------------------------------------------

    def balances(self) -> dict[str, Balance]:
        return parse_accounts(self._rest.accounts())

    def positions(self, symbols: Sequence[str]) -> tuple[PositionSnapshot, ...]:
        return spot_positions(self.balances(), symbols)

    def best_quote(self, symbol: str) -> Quote:
        books = self._rest.best_bid_ask([product_id(symbol)]).pricebooks
        book = next((b for b in books if b.product_id == product_id(symbol)), None)
        if book is None:
            raise MalformedMessage(f"coinbase best_bid_ask has no book for {symbol}")
        return parse_price_book(book, symbol=symbol, ts_init=self._clock.wall_ns())

    def fills(self, order_id: str) -> tuple[CoinbaseFill, ...]:
        """The venue's record of an order's trades (confirms the fills the user channel derives)."""
        return self._rest.fills([order_id])

    def close(self) -> None:
        self._rest.close()


def new_budget(clock: Clock) -> RequestBudget:
    """30 private requests a second per user (UNCONFIRMED number, see constants). The budget counts in
    wall-aligned windows and the venue's window is not known to be aligned: half the limit per window
    never exceeds the limit in any one-second span."""
    return RequestBudget(
        clock, venue=VENUE, capacity=PRIVATE_REQUESTS_PER_S // 2, per_s=1.0, reserve_fraction=0.2
    )


def _signer(secrets: Secrets | None) -> CoinbaseSigner | None:
    if secrets is None:
        return None
    key, secret = secrets.autohedge_coinbase_api_key, secrets.autohedge_coinbase_api_secret
    if key is None or secret is None:
        return None
    return CoinbaseSigner(key, secret)


def _rest(config: AppConfig, secrets: Secrets | None, clock: Clock, budget: RequestBudget) -> CoinbaseRest:
    endpoints = config.venues.coinbase
    return CoinbaseRest(
        rest_url=endpoints.rest_url,
        signer=_signer(secrets),
        clock=clock,
        budget=budget,
        timeout_s=endpoints.timeout_s,
    )


def create_exchange(config: AppConfig, secrets: Secrets, clock: Clock) -> CoinbaseExchange:
    """No network I/O: product rules load on first use."""
    budget = new_budget(clock)
    return CoinbaseExchange(
        _rest(config, secrets, clock, budget), symbols=config.symbols, clock=clock, budget=budget
    )


def create_stream_factory(
    config: AppConfig, clock: Clock, secrets: Secrets | None = None, exchange: Exchange | None = None
) -> Callable[[], MarketStream]:
    """Public ``ticker`` + ``heartbeats``: no keys needed (dry run on Coinbase quotes); with keys every
    subscribe carries a fresh JWT. Product ids are ours with a dash, so nothing is resolved by REST.
    Given the trading exchange (trading on Coinbase), its products are loaded now, at composition:
    rules and bracket acceptance are known before any signal (a venue that does not answer leaves them
    to load on first use)."""
    if isinstance(exchange, CoinbaseExchange):
        try:
            exchange.load_products()
        except (VenueError, MalformedMessage) as exc:
            logger.warning("coinbase products not loaded at start-up ({}); loading on first use", exc)
    signer = _signer(secrets)
    symbols = {product_id(s): s for s in config.symbols}
    ws_url = config.venues.coinbase.ws_url
    return lambda: CoinbaseMarketStream(ws_url=ws_url, clock=clock, symbols=symbols, signer=signer)


def create_user_stream(
    config: AppConfig, secrets: Secrets, clock: Clock, exchange: Exchange
) -> CoinbaseUserStream:
    """The ``user`` channel on ``venues.coinbase.user_ws_url``; derived fills are confirmed from the
    trading exchange's REST (its request budget)."""
    if not isinstance(exchange, CoinbaseExchange):
        raise ConfigError("exchange.venue", "the coinbase user stream needs the coinbase exchange")
    return CoinbaseUserStream(
        url=config.venues.coinbase.user_ws_url or DEFAULT_USER_WS_URL,
        signer=_signer(secrets),
        clock=clock,
        symbols={product_id(s): s for s in config.symbols},
        confirm=exchange.fills,
    )


def check_credentials(
    config: AppConfig, secrets: Secrets, clock: Clock, *, budget: RequestBudget | None = None
) -> None:
    """One signed call (the accounts) before any actor starts: ``AuthError`` naming the variables when
    the keys are missing, malformed or rejected. ``budget``: the trading
    exchange's, so the call counts where every other request of the process does."""
    signer = _signer(secrets)
    if signer is None:
        raise AuthError(f"coinbase needs API keys: {AUTH_HINT}", venue=VENUE)
    rest = _rest(config, secrets, clock, budget or new_budget(clock))
    try:
        rest.accounts()
    finally:
        rest.close()
