"""PaperEngine: in-process matching, balances, fees, OCO lists and an optional crash-safe state file.

A limit buy fills when the ask reaches its price, a sell when the bid does; a limit that is marketable
on arrival fills at the quote (price improvement), one that becomes marketable later fills at its
limit. A stop-limit sell triggers when the bid falls to its stop and then rests as a limit. Liquidity is
unlimited unless ``partial_fill_ratio`` caps each match. Every public method is thread-safe.

Cost stays flat over a long run: the state file holds only the live state (balances, open orders,
and the client ids of the newest ``KEEP_FINISHED_ORDERS`` finished orders, still refused as
duplicates after a restart); memory holds that plus those finished orders themselves (so an order that
just filled can still be looked up). Every finished
order is appended, once, to the history log next to the state file (``<state file>.history.jsonl``).
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from autohedge.core.clock import Clock
from autohedge.core.errors import (
    ConfigError,
    DuplicateOrder,
    InsufficientFunds,
    OrderRejected,
    UnknownOrder,
    VenueUnavailable,
)
from autohedge.core.messages import (
    Balance,
    OcoRequest,
    OcoSnapshot,
    OrderEventKind,
    OrderRequest,
    OrderSnapshot,
    OrderUpdate,
    PositionSnapshot,
    Quote,
    SymbolRules,
)
from autohedge.core.risk import rule_violations
from autohedge.core.types import (
    OrderStatus,
    OrderType,
    Side,
    base_of,
    quantize_down,
    quote_of,
    validate_symbol,
)

__all__ = ["DEFAULT_RULES", "KEEP_FINISHED_ORDERS", "OrderListener", "PaperEngine", "history_path"]

DEFAULT_RULES = {
    "tick_size": Decimal("0.01"),
    "lot_step": Decimal("0.000001"),
    "min_qty": Decimal("0.000001"),
    "min_notional": Decimal(1),
}
_STATE_VERSION = 2
KEEP_FINISHED_ORDERS = 500
_ZERO = Decimal(0)

OrderListener = Callable[[OrderUpdate], None]
"""Receives every order event, in order, with the engine's lock held: it must not block or call back."""


@dataclass
class _Order:
    venue_order_id: str
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    price: Decimal
    qty: Decimal
    stop_price: Decimal | None = None
    filled_qty: Decimal = _ZERO
    filled_notional: Decimal = _ZERO
    fee: Decimal = _ZERO
    fee_asset: str = ""
    status: OrderStatus = OrderStatus.NEW
    list_id: str | None = None
    lock_owner: str | None = None
    """OCO legs share one lock held by the first leg; None = this order holds its own lock."""
    locked: Decimal = _ZERO
    """Amount still locked for this order (quote asset for buys, base asset for sells)."""
    triggered: bool = False
    ts_event: int = 0
    seq: int = 0

    @property
    def avg_fill_price(self) -> Decimal | None:
        return self.filled_notional / self.filled_qty if self.filled_qty > 0 else None

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            venue_order_id=self.venue_order_id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            price=self.price,
            stop_price=self.stop_price,
            qty=self.qty,
            filled_qty=self.filled_qty,
            avg_fill_price=self.avg_fill_price,
            fee=self.fee,
            fee_asset=self.fee_asset,
            status=self.status,
            list_id=self.list_id,
            ts_event=self.ts_event,
        )


def history_path(state_file: Path) -> Path:
    """Where the finished orders of ``state_file``'s account are appended (JSON lines)."""
    return state_file.with_name(state_file.name + ".history.jsonl")


class PaperEngine:
    """The paper venue's matching engine and account."""

    def __init__(
        self,
        *,
        clock: Clock,
        balances: Mapping[str, Decimal],
        fee_rate: Decimal,
        fee_in_base: bool = True,
        rules: Mapping[str, SymbolRules] | None = None,
        partial_fill_ratio: float = 0.0,
        state_file: Path | None = None,
        venue: str = "paper",
        flush_on_demand: bool = False,
        fee_step: Decimal | None = None,
    ) -> None:
        """``flush_on_demand``: the state file is written only by ``flush()`` and without fsync, for a
        driver that decides when a crash can happen (the simulator flushes after every step).
        ``fee_step``: fees are charged in whole units of it (a venue's commission precision, Binance's
        8 decimals), so every balance has the precision the venue reports; None charges them exactly."""
        self._clock = clock
        self._fee_rate = Decimal(fee_rate)
        self._fee_step = fee_step
        self._fee_in_base = fee_in_base
        self._rules = dict(rules or {})
        self._partial = Decimal(repr(partial_fill_ratio))
        self._state_file = state_file
        self._flush_on_demand = flush_on_demand
        self._dirty = False
        self.venue = venue
        self._lock = threading.RLock()
        self._free: dict[str, Decimal] = {k: Decimal(v) for k, v in balances.items()}
        self._locked: dict[str, Decimal] = {}
        self._orders: dict[str, _Order] = {}
        self._open: dict[str, dict[str, _Order]] = {}
        """Open orders by symbol, in arrival order: matching never scans the order history."""
        self._lists: dict[str, list[_Order]] = {}
        self._by_client_id: dict[str, str] = {}
        self._avg_price: dict[str, Decimal | None] = {}
        self._quotes: dict[str, Quote] = {}
        self._counter = 0
        self._trade_seq = 0
        self._listeners: list[OrderListener] = []
        self._finished: deque[_Order] = deque()
        """Finished orders still kept, oldest first (bounded by ``KEEP_FINISHED_ORDERS``)."""
        self._reserved: deque[str] = deque()
        """Client ids of finished orders read back from the state file: refused as duplicates while
        they are among the newest ``KEEP_FINISHED_ORDERS`` finished orders."""
        self._unlogged: list[_Order] = []
        """Finished since the last save: appended to the history log at the next save."""
        self._sold: dict[str, Decimal] = {}
        self.revision = 0
        """Grows on every change of the books (readers skip work when it has not moved)."""
        self.state_bytes = 0
        """Size of the last state snapshot written."""
        if state_file is not None and state_file.exists():
            self._load(state_file)

    # -- order events (the paper venue's private stream) ----------------------------------------------

    def add_listener(self, listener: OrderListener) -> Callable[[], None]:
        """Deliver every order event from now on to ``listener``; returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def _emit(
        self,
        order: _Order,
        kind: OrderEventKind,
        *,
        last_qty: Decimal = _ZERO,
        last_price: Decimal = _ZERO,
        fee: Decimal = _ZERO,
        trade_id: str | None = None,
    ) -> None:
        if not self._listeners:
            return
        update = OrderUpdate.of_order(
            order,
            kind,
            venue=self.venue,
            ts_init=self._clock.wall_ns(),
            last_qty=last_qty,
            last_price=last_price,
            fee=fee,
            fee_asset=order.fee_asset if fee > 0 or last_qty > 0 else "",
            trade_id=trade_id,
        )
        for listener in list(self._listeners):
            listener(update)

    # -- rules --------------------------------------------------------------------------------------

    @property
    def fee_rate(self) -> Decimal:
        """The share of an order's value charged as its fee (``paper.fee_rate``)."""
        return self._fee_rate

    @property
    def clock(self) -> Clock:
        return self._clock

    def symbol_rules(self, symbol: str) -> SymbolRules:
        rules = self._rules.get(symbol)
        if rules is None:
            try:
                validate_symbol(symbol)
            except ValueError as exc:
                raise OrderRejected(str(exc), venue=self.venue) from None
            rules = self._rules[symbol] = SymbolRules(symbol=symbol, **DEFAULT_RULES)
        return rules

    def _check_rules(self, symbol: str, qty: Decimal, *prices: Decimal) -> None:
        problems = rule_violations(self.symbol_rules(symbol), qty, *prices)
        if problems:
            raise OrderRejected(f"{symbol}: " + "; ".join(problems), venue=self.venue)

    # -- orders -------------------------------------------------------------------------------------

    def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        with self._lock:
            self._check_new_id(request.client_order_id)
            prices = [request.price] + ([request.stop_price] if request.stop_price is not None else [])
            self._check_rules(request.symbol, request.qty, *prices)
            if request.order_type is OrderType.STOP_LIMIT and (
                request.side is not Side.SELL or request.stop_price is None
            ):
                raise OrderRejected("stop-limit orders must be sells with a stop price", venue=self.venue)
            order = self._new_order(
                request.client_order_id,
                request.symbol,
                request.side,
                request.order_type,
                request.price,
                request.qty,
                request.stop_price,
            )
            self._lock_for(order)
            self._register(order)
            self._emit(order, OrderEventKind.ACCEPTED)
            self._match_order(order, arrival=True)
            self._save()
            return order.snapshot()

    def submit_oco(self, request: OcoRequest) -> OcoSnapshot:
        with self._lock:
            if request.side is not Side.SELL:
                raise OrderRejected("OCO lists protect long positions: side must be sell", venue=self.venue)
            self._check_new_id(request.take_profit_client_order_id)
            self._check_new_id(request.stop_loss_client_order_id)
            if request.take_profit_client_order_id == request.stop_loss_client_order_id:
                raise OrderRejected("OCO legs need distinct client order ids", venue=self.venue)
            self._check_rules(
                request.symbol,
                request.qty,
                request.take_profit_price,
                request.stop_price,
                request.stop_limit_price,
            )
            if not request.stop_price < request.take_profit_price:
                raise OrderRejected("OCO stop price must be below the take-profit price", venue=self.venue)
            list_id = f"L{self._counter + 1}"
            tp = self._new_order(
                request.take_profit_client_order_id,
                request.symbol,
                Side.SELL,
                OrderType.LIMIT,
                request.take_profit_price,
                request.qty,
                None,
                list_id=list_id,
            )
            self._lock_for(tp)
            sl = self._new_order(
                request.stop_loss_client_order_id,
                request.symbol,
                Side.SELL,
                OrderType.STOP_LIMIT,
                request.stop_limit_price,
                request.qty,
                request.stop_price,
                list_id=list_id,
            )
            sl.lock_owner = tp.venue_order_id
            self._register(tp)
            self._register(sl)
            self._emit(tp, OrderEventKind.ACCEPTED)
            self._emit(sl, OrderEventKind.ACCEPTED)
            self._match_order(tp, arrival=True)
            if sl.status.is_open:
                self._match_order(sl, arrival=True)
            self._save()
            return OcoSnapshot(list_id=list_id, orders=(tp.snapshot(), sl.snapshot()))

    def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        with self._lock:
            order = self._find(venue_order_id, client_order_id)
            if not order.status.is_open:
                raise OrderRejected(
                    f"order {order.client_order_id} is not open ({order.status.value})", venue=self.venue
                )
            self._cancel(order)
            for sibling in self._siblings(order):
                if sibling.status.is_open:
                    self._cancel(sibling)
            self._save()
            return order.snapshot()

    def get_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        with self._lock:
            return self._find(venue_order_id, client_order_id).snapshot()

    def open_orders(self, symbol: str | None = None) -> tuple[OrderSnapshot, ...]:
        with self._lock:
            books = self._open.values() if symbol is None else [self._open.get(symbol, {})]
            return tuple(
                sorted(
                    (o.snapshot() for book in books for o in book.values()),
                    key=lambda snap: int(snap.venue_order_id[1:]),
                )
            )

    def all_orders(self) -> tuple[OrderSnapshot, ...]:
        """Open orders and the newest finished ones (older ones are in the history log)."""
        with self._lock:
            return tuple(o.snapshot() for o in self._orders.values())

    def sold_qty(self, symbol: str) -> Decimal:
        """Quantity of ``symbol`` sold (filled sells) over the account's life; grows only."""
        with self._lock:
            return self._sold.get(symbol, _ZERO)

    def held_qty(self, symbol: str) -> Decimal:
        """Free plus locked base asset of ``symbol``."""
        with self._lock:
            base = base_of(symbol)
            return self._free.get(base, _ZERO) + self._locked.get(base, _ZERO)

    # -- account ------------------------------------------------------------------------------------

    def balances(self) -> dict[str, Balance]:
        with self._lock:
            assets = set(self._free) | set(self._locked)
            return {
                asset: Balance(
                    asset=asset, free=self._free.get(asset, _ZERO), locked=self._locked.get(asset, _ZERO)
                )
                for asset in sorted(assets)
                if self._free.get(asset, _ZERO) + self._locked.get(asset, _ZERO) > 0
            }

    def positions(self, symbols: Sequence[str]) -> tuple[PositionSnapshot, ...]:
        with self._lock:
            out = []
            for symbol in symbols:
                base = base_of(symbol)
                total = self._free.get(base, _ZERO) + self._locked.get(base, _ZERO)
                if total > 0:
                    out.append(
                        PositionSnapshot(
                            symbol=symbol, qty=total, avg_entry_price=self._avg_price.get(symbol)
                        )
                    )
            return tuple(out)

    def fund(self, asset: str, amount: Decimal) -> None:
        """Add ``amount`` of ``asset`` to the free balance (tests, drills)."""
        with self._lock:
            self._free[asset] = self._free.get(asset, _ZERO) + amount
            self._save()

    def best_quote(self, symbol: str) -> Quote:
        with self._lock:
            quote = self._quotes.get(symbol)
        if quote is None:
            raise VenueUnavailable(f"no quote for {symbol} yet", venue=self.venue)
        return quote

    # -- market -------------------------------------------------------------------------------------

    def on_quote(self, quote: Quote) -> None:
        """Store the quote and match resting orders of its symbol. Called on the feed's reader thread."""
        with self._lock:
            self._quotes[quote.symbol] = quote
            changed = False
            for order in list(self._open.get(quote.symbol, {}).values()):
                if order.status.is_open and self._match_order(order, arrival=False):
                    changed = True
            if changed:
                self._save()

    # -- internals (lock held) ------------------------------------------------------------------------

    def _check_new_id(self, client_order_id: str) -> None:
        if client_order_id in self._by_client_id:
            raise DuplicateOrder(
                f"duplicate client order id {client_order_id}", venue=self.venue, code="duplicate"
            )

    def _new_order(
        self,
        coid: str,
        symbol: str,
        side: Side,
        order_type: OrderType,
        price: Decimal,
        qty: Decimal,
        stop_price: Decimal | None,
        *,
        list_id: str | None = None,
    ) -> _Order:
        self._counter += 1
        return _Order(
            venue_order_id=f"P{self._counter}",
            client_order_id=coid,
            symbol=symbol,
            side=side,
            order_type=order_type,
            price=price,
            qty=qty,
            stop_price=stop_price,
            list_id=list_id,
            ts_event=self._clock.wall_ns(),
            seq=self._counter,
        )

    def _register(self, order: _Order) -> None:
        self._orders[order.venue_order_id] = order
        self._by_client_id[order.client_order_id] = order.venue_order_id
        if order.status.is_open:
            self._open.setdefault(order.symbol, {})[order.venue_order_id] = order
        if order.list_id is not None:
            self._lists.setdefault(order.list_id, []).append(order)

    def _forget_finished(self) -> None:
        """Bound memory: drop the oldest finished orders beyond ``KEEP_FINISHED_ORDERS``."""
        while self._reserved and len(self._finished) + len(self._reserved) > KEEP_FINISHED_ORDERS:
            coid = self._reserved.popleft()
            if self._by_client_id.get(coid) == "":
                del self._by_client_id[coid]
        while len(self._finished) > KEEP_FINISHED_ORDERS:
            order = self._finished.popleft()
            self._orders.pop(order.venue_order_id, None)
            if self._by_client_id.get(order.client_order_id) == order.venue_order_id:
                del self._by_client_id[order.client_order_id]
            if order.list_id is not None:
                members = self._lists.get(order.list_id, [])
                if all(o.venue_order_id not in self._orders for o in members):
                    self._lists.pop(order.list_id, None)

    def _set_status(self, order: _Order, status: OrderStatus) -> None:
        was_open = order.status.is_open
        order.status = status
        if not status.is_open:
            self._open.get(order.symbol, {}).pop(order.venue_order_id, None)
            if was_open:
                self._finished.append(order)
                self._unlogged.append(order)

    def _find(self, venue_order_id: str | None, client_order_id: str | None) -> _Order:
        order = None
        if venue_order_id is not None:
            order = self._orders.get(venue_order_id)
        elif client_order_id is not None:
            vid = self._by_client_id.get(client_order_id)
            order = self._orders.get(vid) if vid is not None else None
        else:
            raise OrderRejected("an order id is required", venue=self.venue)
        if order is None:
            raise UnknownOrder(f"unknown order {venue_order_id or client_order_id}", venue=self.venue)
        return order

    def _siblings(self, order: _Order) -> list[_Order]:
        if order.list_id is None:
            return []
        return [o for o in self._lists.get(order.list_id, ()) if o is not order]

    def _holder(self, order: _Order) -> _Order:
        return self._orders[order.lock_owner] if order.lock_owner is not None else order

    def _lock_asset(self, order: _Order) -> str:
        return quote_of(order.symbol) if order.side is Side.BUY else base_of(order.symbol)

    def _lock_for(self, order: _Order) -> None:
        asset = self._lock_asset(order)
        if order.side is Side.BUY:
            amount = order.qty * order.price * (1 if self._fee_in_base else 1 + self._fee_rate)
        else:
            amount = order.qty
        free = self._free.get(asset, _ZERO)
        if free < amount:
            raise InsufficientFunds(f"insufficient {asset}: need {amount}, free {free}", venue=self.venue)
        self._free[asset] = free - amount
        self._locked[asset] = self._locked.get(asset, _ZERO) + amount
        order.locked = amount

    def _release(self, holder: _Order) -> None:
        if holder.locked > 0:
            asset = self._lock_asset(holder)
            self._locked[asset] -= holder.locked
            self._free[asset] = self._free.get(asset, _ZERO) + holder.locked
            holder.locked = _ZERO

    def _take_lock(self, order: _Order, holder: _Order) -> None:
        """A leg partly filled while its list's lock holder finished: the open leg holds the lock from
        now on, so the finished holder can be evicted or left out of the state file."""
        order.locked += holder.locked
        holder.locked = _ZERO
        order.lock_owner = None

    def _cancel(self, order: _Order) -> None:
        self._set_status(order, OrderStatus.CANCELED)
        order.ts_event = self._clock.wall_ns()
        holder = self._holder(order)
        if all(not o.status.is_open for o in [holder, *self._siblings(holder)]):
            self._release(holder)
        self._emit(order, OrderEventKind.CANCELED)

    def _fill_price(self, order: _Order, quote: Quote, arrival: bool) -> Decimal | None:
        if order.side is Side.BUY:
            if quote.ask <= order.price:
                return quote.ask if arrival else order.price
            return None
        if order.order_type is OrderType.STOP_LIMIT and not order.triggered:
            assert order.stop_price is not None
            if quote.bid > order.stop_price:
                return None
            order.triggered = True
            return quote.bid if quote.bid >= order.price else None
        if order.order_type is OrderType.STOP_LIMIT:
            return quote.bid if quote.bid >= order.price else None
        if quote.bid >= order.price:
            return quote.bid if arrival else order.price
        return None

    def _match_order(self, order: _Order, *, arrival: bool) -> bool:
        quote = self._quotes.get(order.symbol)
        if quote is None:
            return False
        price = self._fill_price(order, quote, arrival)
        if price is None:
            return False
        remaining = order.qty - order.filled_qty
        qty = remaining
        if self._partial > 0:
            step = self.symbol_rules(order.symbol).lot_step
            qty = min(remaining, max(step, quantize_down(order.qty * self._partial, step)))
        self._fill(order, qty, price)
        return True

    def _fee(self, amount: Decimal) -> Decimal:
        """The fee on ``amount`` (a quantity or a notional), in whole ``fee_step`` units where set."""
        fee = amount * self._fee_rate
        return fee if self._fee_step is None else fee.quantize(self._fee_step)

    def _fill(self, order: _Order, qty: Decimal, price: Decimal) -> None:
        base, quote_asset = base_of(order.symbol), quote_of(order.symbol)
        holder = self._holder(order)
        notional = qty * price
        if order.side is Side.BUY:
            reserved = qty * order.price * (1 if self._fee_in_base else 1 + self._fee_rate)
            holder.locked -= reserved
            self._locked[quote_asset] -= reserved
            if self._fee_in_base:
                fee, fee_asset = self._fee(qty), base
                self._free[quote_asset] = self._free.get(quote_asset, _ZERO) + reserved - notional
                received = qty - fee
            else:
                fee, fee_asset = self._fee(notional), quote_asset
                self._free[quote_asset] = self._free.get(quote_asset, _ZERO) + reserved - notional - fee
                received = qty
            held_before = self._free.get(base, _ZERO) + self._locked.get(base, _ZERO)
            avg = self._avg_price.get(order.symbol)
            if held_before <= 0:
                self._avg_price[order.symbol] = price
            elif avg is not None:
                self._avg_price[order.symbol] = (avg * held_before + price * received) / (
                    held_before + received
                )
            self._free[base] = self._free.get(base, _ZERO) + received
        else:
            holder.locked -= qty
            self._locked[base] -= qty
            self._sold[order.symbol] = self._sold.get(order.symbol, _ZERO) + qty
            fee, fee_asset = self._fee(notional), quote_asset
            self._free[quote_asset] = self._free.get(quote_asset, _ZERO) + notional - fee
            if self._free.get(base, _ZERO) + self._locked.get(base, _ZERO) <= 0:
                self._avg_price.pop(order.symbol, None)
        order.filled_qty += qty
        order.filled_notional += notional
        order.fee += fee
        order.fee_asset = fee_asset
        order.ts_event = self._clock.wall_ns()
        self._set_status(
            order, OrderStatus.FILLED if order.filled_qty >= order.qty else OrderStatus.PARTIALLY_FILLED
        )
        canceled = []
        for sibling in self._siblings(order):
            if sibling.status.is_open:
                self._set_status(
                    sibling, OrderStatus.CANCELED
                )  # one leg traded: the other goes (as Binance OCO)
                sibling.ts_event = order.ts_event
                canceled.append(sibling)
        if all(not o.status.is_open for o in [holder, *self._siblings(holder)]):
            self._release(holder)  # nothing of the order (or list) can fill any more
        elif holder is not order and not holder.status.is_open:
            self._take_lock(order, holder)
        self._trade_seq += 1
        kind = (
            OrderEventKind.FILLED if order.status is OrderStatus.FILLED else OrderEventKind.PARTIALLY_FILLED
        )
        self._emit(order, kind, last_qty=qty, last_price=price, fee=fee, trade_id=str(self._trade_seq))
        for sibling in canceled:
            self._emit(sibling, OrderEventKind.CANCELED)

    # -- state file ---------------------------------------------------------------------------------

    def _save(self) -> None:
        """After every change (lock held): trim memory, append finished orders to the history log,
        write the live state atomically."""
        self.revision += 1
        self._forget_finished()
        if self._state_file is None:
            self._unlogged.clear()
            return
        if self._flush_on_demand:
            self._dirty = True
            return
        self._write(self._state_file, durable=True)

    def flush(self) -> None:
        """Write the state (and the history) now if anything changed since the last write."""
        with self._lock:
            if self._dirty and self._state_file is not None:
                self._dirty = False
                self._write(self._state_file, durable=False)

    def _write(self, path: Path, *, durable: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if self._unlogged:
            with open(history_path(path), "a", encoding="utf-8") as log:
                log.writelines(
                    json.dumps(_order_to_json(o), separators=(",", ":")) + "\n" for o in self._unlogged
                )
            self._unlogged.clear()
        state = {
            "version": _STATE_VERSION,
            "counter": self._counter,
            "trade_seq": self._trade_seq,
            "balances": {
                a: {"free": str(self._free.get(a, _ZERO)), "locked": str(self._locked.get(a, _ZERO))}
                for a in sorted(set(self._free) | set(self._locked))
            },
            "avg_price": {s: (str(p) if p is not None else None) for s, p in self._avg_price.items()},
            "sold": {s: str(q) for s, q in sorted(self._sold.items())},
            "orders": [_order_to_json(o) for book in self._open.values() for o in book.values()],
            "client_ids": [*self._reserved, *(o.client_order_id for o in self._finished)],
        }
        data = json.dumps(state, separators=(",", ":"))
        self.state_bytes = len(data)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)  # atomic: a kill -9 leaves the old file or the new one, never half of one

    def _load(self, path: Path) -> None:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            # Version 1 also kept every finished order and client id; it reads as version 2 does.
            if state.get("version") not in (1, _STATE_VERSION):
                raise ValueError(f"unsupported version {state.get('version')!r}")
            self._counter = int(state["counter"])
            self._free = {a: Decimal(b["free"]) for a, b in state["balances"].items()}
            self._locked = {a: Decimal(b["locked"]) for a, b in state["balances"].items()}
            self._avg_price = {
                s: (Decimal(p) if p is not None else None) for s, p in state["avg_price"].items()
            }
            self._sold = {sym: Decimal(q) for sym, q in state.get("sold", {}).items()}
            for raw in state["orders"]:
                order = _order_from_json(raw)
                if order.status.is_open:  # version 1 kept finished orders too: they are history now
                    self._register(order)
            for order in self._orders.values():
                if order.lock_owner is not None and order.lock_owner not in self._orders:
                    # Written before an open leg took its finished holder's lock over: OCO legs are
                    # sells, so what the list still locks is what this leg has left to sell.
                    order.lock_owner, order.locked = None, order.qty - order.filled_qty
            for coid in state.get("client_ids", [])[-KEEP_FINISHED_ORDERS:]:
                if coid not in self._by_client_id:
                    self._by_client_id[coid] = ""
                    self._reserved.append(coid)
            self._trade_seq = int(state.get("trade_seq", self._legacy_trade_seq()))
        except (OSError, ValueError, KeyError, TypeError, InvalidOperation) as exc:
            raise ConfigError("paper.state_file", f"cannot read {path}: {exc}") from None

    def _legacy_trade_seq(self) -> int:
        """Where trade ids count on from in a file written before the trade counter was kept (it names
        no trade). Trade ids stay unique per account, as a venue's are: they counted one process's
        trades from 1, and only an open order that already filled can trade again, so they count on
        from its newest event time in ns, which no such count reaches."""
        return max((o.ts_event for o in self._orders.values() if o.filled_qty > 0), default=0)


def _order_to_json(order: _Order) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in order.__dict__.items():
        if isinstance(value, Decimal):
            out[key] = str(value)
        elif isinstance(value, (Side, OrderType, OrderStatus)):
            out[key] = value.value
        else:
            out[key] = value
    return out


def _order_from_json(raw: dict[str, Any]) -> _Order:
    decimals = {"price", "qty", "stop_price", "filled_qty", "filled_notional", "fee", "locked"}
    kwargs: dict[str, Any] = {
        k: (Decimal(v) if k in decimals and v is not None else v) for k, v in raw.items()
    }
    kwargs["side"] = Side(kwargs["side"])
    kwargs["order_type"] = OrderType(kwargs["order_type"])
    kwargs["status"] = OrderStatus(kwargs["status"])
    return _Order(**kwargs)
