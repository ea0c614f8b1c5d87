"""KrakenExchange: the exchange port over Kraken Spot REST; entry points for the composition root.

Protection: Kraken spot has no OCO (its conditional close is one-triggers-other), so the monitor rests
the take-profit as a limit and guards the stop itself: never two resting legs able to sell the same
quantity. Orders are charged to the per-pair trading counter (adds +1, cancels by the order's age)
before they are sent, so the venue's ``EOrder:Rate limit exceeded`` is the exception, not the rule.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from decimal import Decimal

from loguru import logger

from autohedge.adapters.kraken.auth import NonceSource
from autohedge.adapters.kraken.constants import (
    CANCEL_PENALTIES,
    CAPABILITIES,
    DEFAULT_USER_WS_URL,
    ORDER_TYPE_TO_WIRE,
    REST_COUNTER,
    SIDE_TO_WIRE,
    TRADING_ADD_COST,
    TRADING_COUNTER,
    VENUE,
)
from autohedge.adapters.kraken.parse import PairMap, parse_balances, parse_order, parse_rules
from autohedge.adapters.kraken.rest import AUTH_HINT, KrakenRest
from autohedge.adapters.kraken.user_ws import KrakenUserStream
from autohedge.adapters.kraken.wire import KrakenOrderInfo
from autohedge.adapters.kraken.ws import KrakenMarketStream
from autohedge.adapters.order_ids import KnownOrderIds
from autohedge.adapters.wirevalues import wire_decimal
from autohedge.core.clock import Clock
from autohedge.core.config import AppConfig, Secrets
from autohedge.core.errors import (
    AuthError,
    ConfigError,
    MalformedMessage,
    OrderRefused,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownOrder,
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
from autohedge.core.ratecounter import DecayingCounter, PairOrderBudget
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.risk import refuse_rule_violations
from autohedge.core.types import OrderType, TimeInForce
from autohedge.core.types import decimal_str as fmt

__all__ = [
    "KrakenExchange",
    "check_credentials",
    "create_exchange",
    "create_stream_factory",
    "create_user_stream",
    "new_budget",
]

_PAIR_RATE = "EOrder:Rate limit exceeded"
COUNTER_MARGIN = 2


class KrakenExchange:
    """Implements ``core.ports.Exchange``. Thread-safe; pairs and rules load once, lazily."""

    venue = VENUE
    capabilities: Capabilities = CAPABILITIES

    def __init__(
        self,
        rest: KrakenRest,
        *,
        symbols: Sequence[str],
        clock: Clock,
        budget: RequestBudget,
        trading_counter: PairOrderBudget,
    ) -> None:
        self._rest = rest
        self._symbols = tuple(symbols)
        self._clock = clock
        self.request_budget = budget
        self.trading_counter = trading_counter
        self._lock = threading.Lock()
        self._pairs: PairMap | None = None
        self._order_ids = KnownOrderIds()
        """Orders placed or seen: a lookup by client id then costs one call; the order counter
        remembers orders by client id."""

    # -- reference data ------------------------------------------------------------------------------

    def _load(self) -> PairMap:
        with self._lock:
            if self._pairs is not None:
                return self._pairs
        pairs = PairMap(self._rest.asset_pairs([_guess_altname(s) for s in self._symbols]))
        with self._lock:
            self._pairs = pairs
        return pairs

    def symbol_rules(self, symbol: str) -> SymbolRules:
        pair = self._load().pairs.get(symbol)
        if pair is None:
            raise OrderRefused(f"kraken: no trading rules for {symbol}")
        return parse_rules(pair, symbol=symbol)

    def _check(self, symbol: str, qty: Decimal, *prices: Decimal) -> None:
        refuse_rule_violations(VENUE, symbol, self.symbol_rules(symbol), qty, *prices)

    def _snapshot(self, txid: str, info: KrakenOrderInfo) -> OrderSnapshot | None:
        symbol = self._load().ours(info.descr.pair)
        if symbol is None:
            return None
        snapshot = parse_order(txid, info, symbol=symbol)
        self._order_ids.remember(snapshot.client_order_id, txid)
        return snapshot

    # -- orders --------------------------------------------------------------------------------------

    def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        altname = self._load().altname(request.symbol)
        prices = [request.price] + ([request.stop_price] if request.stop_price is not None else [])
        self._check(request.symbol, request.qty, *prices)
        params = [
            ("ordertype", ORDER_TYPE_TO_WIRE[request.order_type]),
            ("type", SIDE_TO_WIRE[request.side]),
            ("volume", fmt(request.qty)),
            ("pair", altname),
        ]
        if request.order_type is OrderType.STOP_LIMIT:
            if request.stop_price is None:
                raise OrderRefused("kraken: a stop-limit order needs a stop price")
            # stop-loss-limit: ``price`` is the trigger, ``price2`` the limit.
            params += [("price", fmt(request.stop_price)), ("price2", fmt(request.price))]
        else:
            params += [("price", fmt(request.price))]
        params += [
            ("timeinforce", "IOC" if request.time_in_force is TimeInForce.IOC else "GTC"),
            ("cl_ord_id", request.client_order_id),
        ]
        priority = request.purpose.is_exit
        self.trading_counter.charge_add(altname, request.client_order_id, priority=priority)
        try:
            result = self._rest.add_order(params, priority=priority)
        except RateLimited as exc:
            if exc.code == _PAIR_RATE:
                self.trading_counter.ban(altname, exc.retry_after_s)
            raise
        if len(result.txid) != 1:
            raise OutcomeUnknown(
                f"kraken AddOrder returned {len(result.txid)} txids for one order", venue=VENUE
            )
        # Not read back: every read costs the scarce REST counter (AddOrder does not). Its state and
        # fills come from the executions stream or the next poll.
        self._order_ids.remember(request.client_order_id, result.txid[0])
        return OrderSnapshot.accepted(request, venue_order_id=result.txid[0], ts_event=self._clock.wall_ns())

    def submit_oco(self, request: OcoRequest) -> OcoSnapshot:
        raise OrderRefused("kraken has no OCO on spot: the monitor rests the TP and guards the SL")

    def _get_by_txid(self, txid: str, *, priority: bool = True) -> OrderSnapshot:
        info = self._rest.query_orders([txid], priority=priority).get(txid)
        snapshot = self._snapshot(txid, info) if info is not None else None
        if snapshot is None:
            raise UnknownOrder(f"kraken: no order {txid} among our pairs", venue=VENUE)
        return snapshot

    def _by_client_id(self, client_order_id: str, *, priority: bool = True) -> OrderSnapshot:
        """One call for an order this process placed or saw; otherwise open orders first (the usual
        case), then closed ones, both filtered by ``cl_ord_id``."""
        txid = self._order_ids.venue_id(client_order_id)
        if txid is not None:
            return self._get_by_txid(txid, priority=priority)
        for lookup in (self._rest.open_orders, self._rest.closed_orders):
            for found, info in lookup(cl_ord_id=client_order_id, priority=priority).items():
                if info.cl_ord_id == client_order_id:
                    snapshot = self._snapshot(found, info)
                    if snapshot is not None:
                        return snapshot
        raise UnknownOrder(f"kraken: no order with client order id {client_order_id}", venue=VENUE)

    def get_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        if venue_order_id is not None:
            return self._get_by_txid(venue_order_id)
        if client_order_id is None:
            raise OrderRefused("kraken: an order id is required")
        return self._by_client_id(client_order_id)

    def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        """CancelOrder straight away (it costs the pair's order counter, not the call counter), then one
        read for the order's final state. Cancels and their reads use the whole call counter."""
        txid = venue_order_id or (self._order_ids.venue_id(client_order_id) if client_order_id else None)
        if txid is None:
            if client_order_id is None:
                raise OrderRefused("kraken: an order id is required")
            txid = self._by_client_id(client_order_id, priority=True).venue_order_id
        altname = self._load().altname(symbol)
        order_key = client_order_id or self._order_ids.client_id(txid) or txid
        self.trading_counter.charge_cancel(altname, order_key)
        try:
            self._rest.cancel_order(txid=txid)
        except RateLimited as exc:
            if exc.code == _PAIR_RATE:
                self.trading_counter.ban(altname, exc.retry_after_s)
            raise
        except UnknownOrder:
            # Gone from the book: finished (filled, cancelled) or never ours. Which one decides.
            order = self._get_by_txid(txid, priority=True)
            raise OrderRejected(f"kraken: order {txid} is {order.status.value}", venue=VENUE) from None
        return self._get_by_txid(txid, priority=True)

    def open_orders(self, symbol: str | None = None) -> tuple[OrderSnapshot, ...]:
        out = []
        for txid, info in self._rest.open_orders().items():
            if info.descr.ordertype not in ("limit", "stop-loss-limit"):
                logger.warning(
                    "kraken open order {} of type {} is not ours to manage", txid, info.descr.ordertype
                )
                continue
            snapshot = self._snapshot(txid, info)
            if snapshot is not None and (symbol is None or snapshot.symbol == symbol):
                out.append(snapshot)
        return tuple(sorted(out, key=lambda o: o.ts_event))

    # -- account -------------------------------------------------------------------------------------

    def balances(self) -> dict[str, Balance]:
        return parse_balances(self._rest.balances())

    def positions(self, symbols: Sequence[str]) -> tuple[PositionSnapshot, ...]:
        return spot_positions(self.balances(), symbols)

    def best_quote(self, symbol: str) -> Quote:
        ticker = self._rest.ticker(self._load().altname(symbol))
        try:
            ask, bid = ticker["a"], ticker["b"]
            bid_price, bid_size, ask_price, ask_size = bid[0], bid[2], ask[0], ask[2]
        except (KeyError, IndexError, TypeError):
            raise MalformedMessage(f"kraken Ticker for {symbol} lacks a/b price levels") from None
        now = self._clock.wall_ns()
        return Quote(
            venue=VENUE,
            symbol=symbol,
            bid=wire_decimal(bid_price, "Ticker bid", venue=VENUE),
            ask=wire_decimal(ask_price, "Ticker ask", venue=VENUE),
            bid_size=wire_decimal(bid_size, "Ticker bid volume", venue=VENUE),
            ask_size=wire_decimal(ask_size, "Ticker ask volume", venue=VENUE),
            ts_event=now,
            ts_init=now,
        )

    def websockets_token(self) -> str:
        """A fresh token for the private websocket (one call on the REST counter)."""
        return self._rest.websockets_token().token

    def close(self) -> None:
        self._rest.close()


def _guess_altname(symbol: str) -> str:
    """AssetPairs accepts altnames; BTC is XBT there."""
    base, quote = symbol.split("/")
    return f"{'XBT' if base == 'BTC' else base}{quote}"


def new_budget(clock: Clock, tier: str = "starter") -> RequestBudget:
    """What actors read for the venue's state (paused, banned, auth failed). Its one-second windows only
    cap bursts: the call counter itself is the exact ``DecayingCounter`` in ``KrakenRest``, whose
    refusals carry the precise wait (a window as long as the counter's drain time would pause everything
    for many seconds after a single refusal)."""
    maximum, _ = REST_COUNTER[tier]
    return RequestBudget(clock, venue=VENUE, capacity=maximum, per_s=1.0, reserve_fraction=0.2)


def _rest(
    config: AppConfig, secrets: Secrets | None, clock: Clock, budget: RequestBudget, nonces: NonceSource
) -> KrakenRest:
    endpoints = config.venues.kraken
    maximum, drain_per_s = REST_COUNTER[endpoints.tier]
    # Two calls of margin: the credentials check ran on another counter, and the venue counts a call
    # when it arrives, a moment after ours.
    maximum -= COUNTER_MARGIN
    return KrakenRest(
        rest_url=endpoints.rest_url,
        api_key=secrets.autohedge_kraken_api_key if secrets else None,
        api_secret=secrets.autohedge_kraken_api_secret if secrets else None,
        clock=clock,
        budget=budget,
        counter=DecayingCounter(clock, venue=VENUE, threshold=maximum, decay_per_s=drain_per_s),
        nonces=nonces,
        timeout_s=endpoints.timeout_s,
    )


def create_exchange(config: AppConfig, secrets: Secrets, clock: Clock) -> KrakenExchange:
    """No network I/O: pairs load on first use."""
    tier = config.venues.kraken.tier
    budget = new_budget(clock, tier)
    threshold, drain_per_s = TRADING_COUNTER[tier]
    trading = PairOrderBudget(
        clock,
        venue=VENUE,
        threshold=threshold,
        decay_per_s=drain_per_s,
        add_cost=TRADING_ADD_COST,
        cancel_penalties=CANCEL_PENALTIES,
    )
    rest = _rest(config, secrets, clock, budget, NonceSource(clock))
    return KrakenExchange(rest, symbols=config.symbols, clock=clock, budget=budget, trading_counter=trading)


def create_stream_factory(
    config: AppConfig, clock: Clock, secrets: Secrets | None = None, exchange: Exchange | None = None
) -> Callable[[], MarketStream]:
    """Public WS v2 ``ticker``: no keys, no REST (v2 symbols are spelled as ours), so neither the keys
    nor the trading exchange are needed."""
    del secrets, exchange
    ws_url = config.venues.kraken.ws_url
    symbols = tuple(config.symbols)
    return lambda: KrakenMarketStream(ws_url=ws_url, clock=clock, symbols=symbols)


def create_user_stream(
    config: AppConfig, secrets: Secrets, clock: Clock, exchange: Exchange
) -> KrakenUserStream:
    """WS v2 ``executions`` on ``venues.kraken.user_ws_url`` with a token from the trading exchange's
    REST (its call counter)."""
    if not isinstance(exchange, KrakenExchange):
        raise ConfigError("exchange.venue", "the kraken user stream needs the kraken exchange")
    return KrakenUserStream(
        url=config.venues.kraken.user_ws_url or DEFAULT_USER_WS_URL,
        token=exchange.websockets_token,
        clock=clock,
        symbols=config.symbols,
    )


def check_credentials(
    config: AppConfig, secrets: Secrets, clock: Clock, *, budget: RequestBudget | None = None
) -> None:
    """One signed call (the balances) before any actor starts: ``AuthError`` naming the variables when
    the keys are missing or rejected. ``budget``: the trading
    exchange's, so the call counts where every other request of the process does."""
    if secrets.autohedge_kraken_api_key is None or secrets.autohedge_kraken_api_secret is None:
        raise AuthError(f"kraken needs API keys: {AUTH_HINT}", venue=VENUE)
    rest = _rest(
        config, secrets, clock, budget or new_budget(clock, config.venues.kraken.tier), NonceSource(clock)
    )
    try:
        rest.balances()
    finally:
        rest.close()
