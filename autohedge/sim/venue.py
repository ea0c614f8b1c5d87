"""The venue as the simulator sees it: the paper exchange behind a recording proxy.

``ObservedExchange`` is the exchange port one simulated process gets. It passes every call to the
paper exchange (whose fault model injects the venue's faults) and tells the invariant checker what
the engine asked for and what the venue answered: order requests (oversells, resends after an
unknown outcome), lookups by client id, Retry-After windows. When the simulator kills the process it
``sever``s the proxy: the dead process's threads can no longer reach the venue while they are torn
down. Market data does not pass here: the simulator feeds the venue every quote itself (the venue's
market moves on while our feed is down).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TypeVar

from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.config import SymbolParams
from autohedge.core.errors import OrderRejected, OutcomeUnknown, RateLimited, UnknownOrder, VenueUnavailable
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
from autohedge.core.ports import Capabilities
from autohedge.core.protection import exit_prices, exit_qty
from autohedge.core.types import OrderType, Side, quantize_down
from autohedge.sim.invariants import BookView, InvariantChecker, RestingSell

__all__ = ["ObservedExchange", "book_view", "dust_at_bid", "resting_sell_qty"]

T = TypeVar("T")


def resting_sell_qty(orders: Sequence[OrderSnapshot]) -> Decimal:
    """Remaining quantity of resting sells; the legs of one OCO list can sell it only once."""
    by_list: dict[str, Decimal] = {}
    total = Decimal(0)
    for order in orders:
        if order.side is not Side.SELL:
            continue
        if order.list_id is None:
            total += order.remaining_qty
        else:
            by_list[order.list_id] = max(by_list.get(order.list_id, Decimal(0)), order.remaining_qty)
    return total + sum(by_list.values(), Decimal(0))


def dust_at_bid(params: SymbolParams, rules: SymbolRules) -> Callable[[Decimal], Decimal]:
    """A symbol's dust at a bid: below the minimum notional no venue takes a sell, so such a remainder
    cannot be protected. An exit's lowest leg asks the stop-limit price of a position entered at the
    bid, so a remainder worth the minimum at the bid but not at that price has no valid exit either."""

    def dust_at(bid: Decimal) -> Decimal:
        if bid <= 0:
            return Decimal(0)
        lowest = exit_prices(bid, params, rules).stop_limit
        return quantize_down(rules.min_notional / lowest, rules.lot_step)

    return dust_at


def book_view(engine: PaperEngine, symbol: str, params: SymbolParams) -> BookView:
    """``symbol`` on the venue now, as the invariant checker judges it (any thread: the engine locks)."""
    rules = engine.symbol_rules(symbol)
    open_orders = engine.open_orders(symbol)
    sells = [o for o in open_orders if o.side is Side.SELL]
    stops = [o.stop_price for o in sells if o.order_type is OrderType.STOP_LIMIT and o.stop_price is not None]
    return BookView(
        symbol=symbol,
        sellable_qty=exit_qty(engine.held_qty(symbol), rules),
        covered_qty=resting_sell_qty(open_orders),
        stop_price=max(stops) if stops else None,
        sold_qty=engine.sold_qty(symbol),
        open_entries=sum(1 for o in open_orders if o.side is Side.BUY),
        dust_at=dust_at_bid(params, rules),
        sells=tuple(
            RestingSell(o.list_id or o.client_order_id, o.price, o.remaining_qty, o.stop_price) for o in sells
        ),
    )


class ObservedExchange:
    """Implements ``core.ports.Exchange``; every method runs on the calling actor's thread."""

    def __init__(
        self, inner: PaperExchange, *, checker: InvariantChecker, clock: Clock, step: Callable[[], int]
    ) -> None:
        self.inner = inner
        self.venue = inner.venue
        self.capabilities: Capabilities = inner.capabilities
        self.request_budget = inner.request_budget
        """The venue's pushback state, read by the actors (the paper venue's own)."""
        self._checker = checker
        self._clock = clock
        self._step = step
        self._severed = False

    def sever(self) -> None:
        """The process is dead: from now on every call fails without reaching the venue."""
        self._severed = True

    def _check_alive(self) -> None:
        if self._severed:
            raise VenueUnavailable("simulated process is down", venue=self.venue)

    def _pushback(self, exc: RateLimited) -> None:
        now_ns = self._clock.monotonic_ns()
        self._checker.pushback(now_ns, now_ns + round(exc.retry_after_s * NS_PER_S))

    def on_quote(self, quote: Quote) -> None:
        """The feed's market listener: the simulator already gave the venue this quote."""

    # -- orders ------------------------------------------------------------------------------------

    def _record_request(self, symbol: str, side: Side, client_order_id: str, qty: Decimal) -> None:
        engine = self.inner.engine
        self._checker.submitted(
            self._clock.monotonic_ns(),
            self._step(),
            symbol=symbol,
            buy=side is Side.BUY,
            client_order_id=client_order_id,
            qty=qty,
            held=engine.held_qty(symbol),
            resting_sells=resting_sell_qty(engine.open_orders(symbol)) if side is Side.SELL else Decimal(0),
        )

    def _unknown(self, symbol: str, client_order_id: str, side: Side) -> None:
        try:
            self.inner.engine.get_order(symbol, client_order_id=client_order_id)
            accepted = True
        except UnknownOrder:
            accepted = False
        self._checker.outcome_unknown(symbol, client_order_id, accepted=accepted, buy=side is Side.BUY)

    def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        self._check_alive()
        self._record_request(request.symbol, request.side, request.client_order_id, request.qty)
        try:
            return self.inner.submit_order(request)
        except OutcomeUnknown:
            self._unknown(request.symbol, request.client_order_id, request.side)
            raise
        except RateLimited as exc:
            self._pushback(exc)
            raise

    def submit_oco(self, request: OcoRequest) -> OcoSnapshot:
        self._check_alive()
        self._record_request(request.symbol, request.side, request.take_profit_client_order_id, request.qty)
        try:
            return self.inner.submit_oco(request)
        except OutcomeUnknown:
            self._unknown(request.symbol, request.take_profit_client_order_id, request.side)
            raise
        except RateLimited as exc:
            self._pushback(exc)
            raise

    def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        self._check_alive()
        try:
            return self.inner.cancel_order(
                symbol, venue_order_id=venue_order_id, client_order_id=client_order_id
            )
        except RateLimited as exc:
            self._pushback(exc)
            raise
        except OrderRejected as exc:
            # As the strictest venue answers a cancel of an order no longer open, filled or not (Binance
            # -2011): "unknown". Only a read tells a fill from a cancel.
            raise UnknownOrder(f"-2011 Unknown order sent. ({exc})", venue=exc.venue, code=-2011) from None

    def get_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        self._check_alive()
        try:
            snapshot = self.inner.get_order(
                symbol, venue_order_id=venue_order_id, client_order_id=client_order_id
            )
        except UnknownOrder:
            if client_order_id is not None:
                self._checker.asked(symbol, client_order_id)
            raise
        except RateLimited as exc:
            self._pushback(exc)
            raise
        self._checker.asked(symbol, snapshot.client_order_id)
        return snapshot

    # -- reads -------------------------------------------------------------------------------------

    def _read(self, call: Callable[[], T]) -> T:
        self._check_alive()
        try:
            return call()
        except RateLimited as exc:
            self._pushback(exc)
            raise

    def symbol_rules(self, symbol: str) -> SymbolRules:
        return self._read(lambda: self.inner.symbol_rules(symbol))

    def open_orders(self, symbol: str | None = None) -> tuple[OrderSnapshot, ...]:
        return self._read(lambda: self.inner.open_orders(symbol))

    def balances(self) -> dict[str, Balance]:
        return self._read(self.inner.balances)

    def positions(self, symbols: Sequence[str]) -> tuple[PositionSnapshot, ...]:
        return self._read(lambda: self.inner.positions(symbols))

    def best_quote(self, symbol: str) -> Quote:
        return self._read(lambda: self.inner.best_quote(symbol))

    def close(self) -> None:
        """The venue outlives the process: nothing to release."""
