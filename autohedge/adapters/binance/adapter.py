"""BinanceExchange: the exchange port over Binance Spot's REST API; entry points for the composition root."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TypeVar

from pydantic import TypeAdapter

from autohedge.adapters.binance.auth import BinanceSigner, load_signer
from autohedge.adapters.binance.constants import (
    CAPABILITIES,
    ORDER_TYPE,
    REQUEST_WEIGHT_PER_MINUTE,
    SIDE_TO_WIRE,
    TESTNET_USER_WS_URL,
    VENUE,
    WEIGHTS,
)
from autohedge.adapters.binance.parse import SymbolMap, parse_order, parse_rules, sum_fees
from autohedge.adapters.binance.rest import AUTH_HINT, BinanceRest, ServerClock
from autohedge.adapters.binance.user_ws import BinanceUserStream
from autohedge.adapters.binance.wire import (
    BINANCE_CANCEL,
    BINANCE_ORDER,
    BINANCE_ORDER_LIST,
    BinanceOrder,
    BinanceOrderList,
)
from autohedge.adapters.binance.ws import BinanceMarketStream
from autohedge.adapters.binance.ws_api import (
    OCO_PLACE,
    ORDER_CANCEL,
    ORDER_PLACE,
    BinanceOrderSession,
    PipelineAnswer,
    SessionDown,
)
from autohedge.adapters.credentials import check_account_keys
from autohedge.adapters.reference import VenueReference
from autohedge.adapters.wirevalues import wire_decimal
from autohedge.core.clock import Clock
from autohedge.core.config import AppConfig, Secrets
from autohedge.core.errors import MalformedMessage, OrderRefused, OutcomeUnknown, VenueError
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
from autohedge.core.order_session import OrderSessionStatus
from autohedge.core.ports import Capabilities, MarketStream, OrderAnswer
from autohedge.core.positions import spot_positions
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.types import OrderType
from autohedge.core.types import decimal_str as fmt

__all__ = [
    "BinanceExchange",
    "check_credentials",
    "create_exchange",
    "create_order_session",
    "create_stream_factory",
    "create_user_stream",
    "new_budget",
]


T = TypeVar("T")


_NS_PER_MS = 1_000_000


class BinanceExchange:
    """Implements ``core.ports.Exchange``. Thread-safe; rules and symbols are loaded once, lazily.

    ``session``: the WebSocket API order session (``venues.binance.order_entry: ws``): orders, OCO exits
    and cancels go through it while it is connected, by REST otherwise. None: REST only."""

    venue = VENUE
    capabilities: Capabilities = CAPABILITIES

    def __init__(
        self,
        rest: BinanceRest,
        *,
        symbols: Sequence[str],
        clock: Clock,
        budget: RequestBudget,
        session: BinanceOrderSession | None = None,
    ) -> None:
        self._rest = rest
        self._session = session
        self._symbols = tuple(symbols)
        self._clock = clock
        self.request_budget = budget
        self._reference = VenueReference(VENUE, self._load_reference)

    @property
    def server_clock(self) -> ServerClock:
        """The server-time offset of every signed request here; the user stream signs with it too."""
        return self._rest.server_clock

    def _offset_ns(self) -> int:
        """The venue's clock minus ours: an order's venue time less this is on our clock."""
        return self._rest.server_clock.offset_ms * _NS_PER_MS

    # -- reference data ------------------------------------------------------------------------------

    def _load_reference(self) -> tuple[SymbolMap, dict[str, SymbolRules]]:
        info = self._rest.exchange_info([s.replace("/", "") for s in self._symbols])
        symbol_map = SymbolMap(info.symbols)
        rules = {}
        for symbol_info in info.symbols:
            ours = symbol_map.from_venue(symbol_info.symbol)
            rules[ours] = parse_rules(symbol_info, symbol=ours)
        self._rest.sync_time()
        return symbol_map, rules

    def _load(self) -> SymbolMap:
        return self._reference.symbol_map()

    def symbol_map(self) -> SymbolMap:
        """Our symbols <-> the venue's, from this adapter's one exchangeInfo read (caller's thread)."""
        return self._load()

    def symbol_rules(self, symbol: str) -> SymbolRules:
        return self._reference.rules(symbol)

    def _order(self, order: BinanceOrder, symbol: str) -> OrderSnapshot:
        fee, fee_asset = Decimal(0), ""
        if order.fills is not None:
            fee, fee_asset = sum_fees(order.fills)  # a FULL response carries them: no extra read
        elif wire_decimal(order.executedQty, "executedQty", venue=VENUE) > 0:
            fee, fee_asset = sum_fees(self._rest.my_trades(order.symbol, str(order.orderId)))
        return parse_order(
            order, symbol=symbol, fee=fee, fee_asset=fee_asset, venue_offset_ns=self._offset_ns()
        )

    # -- orders --------------------------------------------------------------------------------------

    def _over_session(
        self,
        method: str,
        params: list[tuple[str, str]],
        model: TypeAdapter[T],
        *,
        places_order: bool,
        priority: bool = True,
    ) -> T | None:
        """Caller's thread: the answer over the order session, or None when it is not connected (nothing
        was sent: the caller sends by REST). Refusals raise as REST's would."""
        if self._session is None:
            return None
        try:
            return self._session.request(
                method, dict(params), model, places_order=places_order, priority=priority
            )
        except SessionDown:
            return None

    def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        params = self._order_params(request)
        raw = self._over_session(
            ORDER_PLACE, params, BINANCE_ORDER, places_order=True, priority=request.purpose.is_exit
        )
        if raw is None:
            raw = self._rest.new_order(params, priority=request.purpose.is_exit)
        return self._order(raw, request.symbol)

    def pipe_orders(self, requests: Sequence[OrderRequest], on_answer: OrderAnswer) -> int:
        """Caller's thread: the requests, from the front, written together on the order session without
        waiting (``core.ports.OrderPipe``); their answers come to ``on_answer`` on its reader thread. None
        while the session is down, nor one past a request that fails the symbol's rules or whose rules
        cannot be read now (the blocking ``submit_order`` refuses it, or fails, as usual)."""
        if self._session is None:
            return 0
        batch: list[tuple[list[tuple[str, str]], PipelineAnswer[BinanceOrder]]] = []
        for request in requests:
            try:
                params = self._order_params(request)
            except (OrderRefused, VenueError):  # the blocking way refuses it (or reads the rules) as usual
                break
            batch.append((params, self._piped_answer(request, on_answer)))
        if not batch:
            return 0
        return self._session.pipeline(ORDER_PLACE, batch, BINANCE_ORDER, priority=False)

    def _piped_answer(self, request: OrderRequest, on_answer: OrderAnswer) -> PipelineAnswer[BinanceOrder]:
        def answered(raw: BinanceOrder | None, error: VenueError | None) -> None:
            """The order session's reader thread."""
            if raw is None:
                assert error is not None
                on_answer(request, None, error)
                return
            try:
                snapshot = self._order(raw, request.symbol)
            except Exception as exc:  # noqa: BLE001 - the answer could not be read: the order may exist
                on_answer(request, None, OutcomeUnknown(f"{exc}; the order may exist", venue=VENUE))
                return
            on_answer(request, snapshot, None)

        return answered

    def _order_params(self, request: OrderRequest) -> list[tuple[str, str]]:
        """An order's wire parameters, checked against the symbol's rules (raises ``OrderRefused``)."""
        venue_symbol = self._load().to_venue(request.symbol)
        prices = [request.price] + ([request.stop_price] if request.stop_price is not None else [])
        self._reference.check(request.symbol, request.qty, *prices)
        params = [("symbol", venue_symbol), ("side", SIDE_TO_WIRE[request.side])]
        if request.order_type is OrderType.STOP_LIMIT:
            assert request.stop_price is not None
            params += [("type", "STOP_LOSS_LIMIT"), ("stopPrice", fmt(request.stop_price))]
        else:
            params += [("type", "LIMIT")]
        params += [
            ("timeInForce", request.time_in_force.value.upper()),
            ("quantity", fmt(request.qty)),
            ("price", fmt(request.price)),
            ("newClientOrderId", request.client_order_id),
            ("newOrderRespType", "FULL"),  # fills and fees in the answer, not a 20-weight myTrades read
        ]
        return params

    def submit_oco(self, request: OcoRequest) -> OcoSnapshot:
        venue_symbol = self._load().to_venue(request.symbol)
        self._reference.check(
            request.symbol,
            request.qty,
            request.take_profit_price,
            request.stop_price,
            request.stop_limit_price,
        )
        params = [
            ("symbol", venue_symbol),
            ("side", SIDE_TO_WIRE[request.side]),
            ("quantity", fmt(request.qty)),
            ("listClientOrderId", request.list_client_id),
            ("aboveType", "LIMIT_MAKER"),
            ("abovePrice", fmt(request.take_profit_price)),
            ("aboveClientOrderId", request.take_profit_client_order_id),
            ("belowType", "STOP_LOSS_LIMIT"),
            ("belowStopPrice", fmt(request.stop_price)),
            ("belowPrice", fmt(request.stop_limit_price)),
            ("belowTimeInForce", "GTC"),
            ("belowClientOrderId", request.stop_loss_client_order_id),
            ("newOrderRespType", "RESULT"),
        ]
        order_list = self._over_session(OCO_PLACE, params, BINANCE_ORDER_LIST, places_order=True)
        if order_list is None:
            order_list = self._rest.new_oco(params)
        offset_ns = self._offset_ns()
        orders = tuple(
            parse_order(o, symbol=request.symbol, venue_offset_ns=offset_ns) for o in order_list.orderReports
        )
        return OcoSnapshot(list_id=str(order_list.orderListId), orders=orders)

    def _id_params(
        self, symbol: str, venue_order_id: str | None, client_order_id: str | None
    ) -> list[tuple[str, str]]:
        params = [("symbol", self._load().to_venue(symbol))]
        if venue_order_id is not None:
            params.append(("orderId", venue_order_id))
        elif client_order_id is not None:
            params.append(("origClientOrderId", client_order_id))
        else:
            raise OrderRefused("binance: an order id is required")
        return params

    def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        params = self._id_params(symbol, venue_order_id, client_order_id)
        result = self._over_session(ORDER_CANCEL, params, BINANCE_CANCEL, places_order=False)
        if result is None:
            result = self._rest.cancel_order(params)
        if isinstance(result, BinanceOrderList):  # cancelling an OCO leg cancels the list
            if not result.orderReports:
                raise MalformedMessage("binance cancelled order list without order reports")
            leg = next(
                (
                    o
                    for o in result.orderReports
                    if str(o.orderId) == venue_order_id or o.clientOrderId == client_order_id
                ),
                result.orderReports[0],
            )
            return parse_order(leg, symbol=symbol, venue_offset_ns=self._offset_ns())
        return parse_order(result, symbol=symbol, venue_offset_ns=self._offset_ns())

    def get_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        return self._order(
            self._rest.get_order(self._id_params(symbol, venue_order_id, client_order_id)), symbol
        )

    def open_orders(self, symbol: str | None = None) -> tuple[OrderSnapshot, ...]:
        """All open orders of our symbols. Asked per symbol when that weighs less than one call for the
        whole account (6 per symbol against 80): the request weight is the scarce resource."""
        symbols = self._load()
        if symbol is not None:
            venue_symbols: list[str | None] = [symbols.to_venue(symbol)]
        elif len(self._symbols) * WEIGHTS["open_orders_symbol"] < WEIGHTS["open_orders_all"]:
            venue_symbols = [symbols.to_venue(s) for s in self._symbols]
        else:
            venue_symbols = [None]
        orders = [o for venue_symbol in venue_symbols for o in self._rest.open_orders(venue_symbol)]
        offset_ns = self._offset_ns()
        # Only limit and stop-limit orders can be ours: another client's stop-market or take-profit order
        # on the account is no order of ours to read, and its unknown type failed the whole listing.
        return tuple(
            parse_order(o, symbol=symbols.from_venue(o.symbol), venue_offset_ns=offset_ns)
            for o in orders
            if o.type in ORDER_TYPE and o.symbol in symbols
        )

    # -- account -------------------------------------------------------------------------------------

    def balances(self) -> dict[str, Balance]:
        account = self._rest.account()
        read = (
            (
                b.asset,
                wire_decimal(b.free, "free", venue=VENUE),
                wire_decimal(b.locked, "locked", venue=VENUE),
            )
            for b in account.balances
        )
        return {
            asset: Balance(asset=asset, free=free, locked=locked)
            for asset, free, locked in read
            if free + locked > 0
        }

    def positions(self, symbols: Sequence[str]) -> tuple[PositionSnapshot, ...]:
        return spot_positions(self.balances(), symbols)

    def best_quote(self, symbol: str) -> Quote:
        ticker = self._rest.book_ticker(self._load().to_venue(symbol))
        now = self._clock.wall_ns()
        return Quote(
            venue=VENUE,
            symbol=symbol,
            bid=wire_decimal(ticker.bidPrice, "bidPrice", venue=VENUE),
            ask=wire_decimal(ticker.askPrice, "askPrice", venue=VENUE),
            bid_size=wire_decimal(ticker.bidQty, "bidQty", venue=VENUE),
            ask_size=wire_decimal(ticker.askQty, "askQty", venue=VENUE),
            ts_event=now,
            ts_init=now,
        )

    @property
    def order_session(self) -> BinanceOrderSession | None:
        """The WebSocket API order session (None: REST only)."""
        return self._session

    def order_session_status(self) -> OrderSessionStatus | None:
        """Any thread: the WebSocket API order session's state and counters (None: REST only)."""
        return self._session.status() if self._session is not None else None

    def open_order_session(self) -> None:
        if self._session is not None:
            self._session.connect()

    def close(self) -> None:
        if self._session is not None:
            self._session.stop()
        self._rest.close()


def new_budget(clock: Clock) -> RequestBudget:
    """Binance counts weight per IP: one budget for the trading adapter and the market stream. The
    default is the conservative 1200/min until ``exchangeInfo.rateLimits`` says otherwise."""
    return RequestBudget(
        clock, venue=VENUE, capacity=REQUEST_WEIGHT_PER_MINUTE, per_s=60.0, reserve_fraction=0.2
    )


def _signer(secrets: Secrets | None) -> BinanceSigner | None:
    """The signer for the configured secret (HMAC or Ed25519); ``AuthError`` naming the variable for a
    PEM that is not an Ed25519 private key."""
    secret = secrets.autohedge_binance_api_secret if secrets else None
    return load_signer(secret) if secret is not None else None


def _rest(config: AppConfig, secrets: Secrets | None, clock: Clock, budget: RequestBudget) -> BinanceRest:
    endpoints = config.venues.binance
    return BinanceRest(
        base_url=endpoints.rest_url,
        api_key=secrets.autohedge_binance_api_key if secrets else None,
        signer=_signer(secrets),
        clock=clock,
        budget=budget,
        timeout_s=endpoints.timeout_s,
        recv_window_ms=endpoints.recv_window_ms,
    )


def create_order_session(
    config: AppConfig, secrets: Secrets, clock: Clock, *, budget: RequestBudget, server_clock: ServerClock
) -> BinanceOrderSession | None:
    """The WebSocket API order session when ``venues.binance.order_entry`` is ``ws`` and there are keys
    to sign with (None otherwise: REST only). Not connected yet: ``connect`` opens it. It reconnects with
    the supervisor's backoff settings, like the user stream."""
    endpoints, supervision = config.venues.binance, config.supervisor
    signer = _signer(secrets)
    api_key = secrets.autohedge_binance_api_key
    if endpoints.order_entry != "ws" or api_key is None or signer is None:
        return None
    return BinanceOrderSession(
        url=endpoints.user_ws_url or TESTNET_USER_WS_URL,
        api_key=api_key,
        signer=signer,
        clock=clock,
        budget=budget,
        server_clock=server_clock,
        recv_window_ms=endpoints.recv_window_ms,
        timeout_s=endpoints.timeout_s,
        backoff=supervision.backoff,
        reset_after_s=supervision.reset_after_s,
        rng=random.Random(supervision.seed),
    )


def create_exchange(config: AppConfig, secrets: Secrets, clock: Clock) -> BinanceExchange:
    """The trading adapter. Its order session (when configured) starts connecting when the engine starts
    (``open_order_session``), so the first entry finds it open."""
    budget = new_budget(clock)
    rest = _rest(config, secrets, clock, budget)
    session = create_order_session(config, secrets, clock, budget=budget, server_clock=rest.server_clock)
    return BinanceExchange(rest, symbols=config.symbols, clock=clock, budget=budget, session=session)


def create_stream_factory(
    config: AppConfig,
    clock: Clock,
    secrets: Secrets | None = None,
    *,
    exchange: BinanceExchange | None = None,
) -> Callable[[], MarketStream]:
    """Resolve the venue symbols once (public REST, now: before any actor starts) and return a factory
    of fresh streams, so a feed's reconnect opens the websocket and resubscribes without spending REST.
    Public data needs no keys. ``exchange``: the trading adapter when it trades here; its one exchangeInfo
    read (rules, symbols, rate limits) serves the stream too, from the same budget (weight is per IP)."""
    if exchange is not None:
        symbols = exchange.symbol_map()
    else:
        rest = _rest(config, None, clock, new_budget(clock))
        try:
            symbols = SymbolMap(rest.exchange_info([s.replace("/", "") for s in config.symbols]).symbols)
        finally:
            rest.close()
    ws_url = config.venues.binance.ws_url
    return lambda: BinanceMarketStream(ws_url=ws_url, symbol_map=symbols, clock=clock)


def check_credentials(
    config: AppConfig, secrets: Secrets, clock: Clock, *, budget: RequestBudget | None = None
) -> None:
    """One signed call (the account) before any actor starts (``check_account_keys``). ``budget``: the
    trading exchange's, so the call counts where every other request of the process does."""
    rest = _rest(config, secrets, clock, budget or new_budget(clock))
    check_account_keys(rest, venue=VENUE, hint=AUTH_HINT)


def create_user_stream(
    config: AppConfig,
    secrets: Secrets,
    clock: Clock,
    *,
    budget: RequestBudget | None = None,
    server_clock: ServerClock | None = None,
) -> BinanceUserStream:
    """The private order stream on the WebSocket API. No REST at start: Binance spot symbols are the
    base and quote assets joined, so the symbol map comes from the config. ``budget`` and
    ``server_clock``: the trading exchange's (one request weight per IP, one server-time offset)."""
    endpoints = config.venues.binance
    return BinanceUserStream(
        url=endpoints.user_ws_url or TESTNET_USER_WS_URL,
        api_key=secrets.autohedge_binance_api_key,
        signer=_signer(secrets),
        clock=clock,
        symbols={s.replace("/", ""): s for s in config.symbols},
        budget=budget,
        recv_window_ms=endpoints.recv_window_ms,
        server_clock=server_clock,
    )
