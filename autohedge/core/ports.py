"""Ports: what the actors need from the outside world. Adapters implement them; actors receive them.

Every method of ``Exchange`` is blocking and may raise a ``core.errors.VenueError`` subclass.
Implementations must be safe to call from several actor threads at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from autohedge.core.messages import (
    AccountBalances,
    Balance,
    OcoRequest,
    OcoSnapshot,
    OrderRequest,
    OrderSnapshot,
    OrderUpdate,
    PositionSnapshot,
    Quote,
    SymbolRules,
)
from autohedge.core.order_session import OrderSessionStatus
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.reads import ReadWeights
from autohedge.core.types import FeeRate

__all__ = [
    "Capabilities",
    "Exchange",
    "MarketStream",
    "OrderAnswer",
    "OrderEventSink",
    "OrderPipe",
    "OrderSessionHolder",
    "QuoteSink",
    "UserStream",
]


class Capabilities(BaseModel):
    """What a venue supports, as data. The monitor and the contract suite read it; nothing else
    branches on venue names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    oco: bool = False
    """TP limit and SL stop-limit held together on the venue (one fills, the other is cancelled)."""
    oco_symbols: frozenset[str] | None = None
    """Where the venue holds them together only for some products (a bracket order not every product
    accepts): the symbols it accepts it for, as learned from the venue. None: ``oco`` holds for every
    symbol."""
    stop_limit: bool = False
    """A lone stop-limit order can rest on the venue."""
    positions_with_entry_price: bool = False
    """``positions()`` reports an average entry price (stock brokers do; spot balances do not)."""
    spot_positions: bool = True
    """A position is the base asset's balance (spot venues); False where the venue keeps positions
    apart from cash (Alpaca). The local ledger keeps holdings accordingly."""
    read_weights: ReadWeights = ReadWeights()
    """What reading orders costs (by id, or listed by symbol or for the account): a sweep over resting
    entries makes the cheapest requests (``core.reads.plan_reads``)."""
    max_fee_rate: FeeRate
    """The highest fee an order of ours can be charged on the venue, as a fraction of the order's value
    (0.012 = 1.2 %): an entry is sized so that its value plus this share fits the free quote balance.
    No default: each adapter states its venue's figure (a user's own tier replaces it through
    ``venues.<venue>.max_fee_rate``)."""


@runtime_checkable
class Exchange(Protocol):
    venue: str
    capabilities: Capabilities
    request_budget: RequestBudget
    """The venue's request budget and pushback state (rate limited, banned, degraded, auth failed),
    shared by every actor: they read ``wait_s()`` before sending and never learn pushback by crashing."""

    def symbol_rules(self, symbol: str) -> SymbolRules:
        """Tick size, lot step and minimums for ``symbol`` (``BASE/QUOTE``)."""
        ...

    def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        """Place one order carrying ``request.client_order_id``."""
        ...

    def submit_oco(self, request: OcoRequest) -> OcoSnapshot:
        """Place TP and SL together. Only when ``capabilities.oco``."""
        ...

    def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        """Cancel one order (cancelling an OCO leg cancels the list). Raises ``UnknownOrder``."""
        ...

    def get_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        """The order's current state. Raises ``UnknownOrder`` when the venue has no such order."""
        ...

    def open_orders(self, symbol: str | None = None) -> tuple[OrderSnapshot, ...]:
        """Every open order (of ``symbol``, or all)."""
        ...

    def balances(self) -> dict[str, Balance]:
        """Balances by asset."""
        ...

    def positions(self, symbols: Sequence[str]) -> tuple[PositionSnapshot, ...]:
        """Non-zero holdings among ``symbols`` (spot: free + locked base asset)."""
        ...

    def best_quote(self, symbol: str) -> Quote:
        """Current best bid/ask over REST (the monitor's polling mode)."""
        ...

    def close(self) -> None:
        """Release connections. Called once at shutdown."""
        ...


OrderAnswer = Callable[[OrderRequest, OrderSnapshot | None, BaseException | None], None]
"""A pipelined order's answer: the request, and the acknowledged order or the typed error ``submit_order``
would raise (never both)."""


@runtime_checkable
class OrderPipe(Protocol):
    """An exchange that can write several orders at once on an open connection without waiting for their
    answers (Binance's WebSocket API order session): a burst decided on one tick reaches the venue
    together, with no blocking round trip, and so no writer thread, per order."""

    def pipe_orders(self, requests: Sequence[OrderRequest], on_answer: OrderAnswer) -> int:
        """Write ``requests`` in order; how many, from the front, were written (0 when the connection is
        not open now). The caller sends the rest with ``submit_order``. Each written request's answer
        comes to ``on_answer`` exactly once, on the connection's reader thread (it must not block): an
        answer that did not come as ``OutcomeUnknown`` (look the order up, never send it again)."""
        ...


@runtime_checkable
class OrderSessionHolder(Protocol):
    """An exchange that can send orders over an order session (a WebSocket connection) besides REST."""

    def order_session_status(self) -> OrderSessionStatus | None:
        """Any thread: the session's state and counters; None when orders go by REST only."""
        ...

    def open_order_session(self) -> None:
        """Start connecting the session in the background (nothing when orders go by REST only). Called
        once the engine starts, after the keys were checked: a process refused at start-up never
        connects."""
        ...


class QuoteSink(Protocol):
    """Where a market stream delivers. Called on the stream's reader thread: must not block."""

    def on_quote(self, quote: Quote) -> None: ...

    def on_quotes(self, quotes: Sequence[Quote]) -> None:
        """A batch: every quote the reader drained from its socket in one go, oldest first."""
        ...

    def on_malformed(self, raw: str | bytes, error: str) -> None:
        """``raw`` is bytes for a binary frame (Alpaca sends those on paper)."""
        ...

    def on_disconnected(self, error: str) -> None: ...


@runtime_checkable
class MarketStream(Protocol):
    venue: str

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        """Connect, subscribe and start delivering to ``sink`` from a reader thread. Non-blocking."""
        ...

    def stop(self) -> None:
        """Close the connection and join the reader thread. Idempotent."""
        ...


class OrderEventSink(Protocol):
    """Where a user stream delivers. Called on the stream's reader thread: must not block, and must
    keep every order event (they are never conflated or dropped)."""

    def on_connected(self) -> None:
        """Authenticated and subscribed: events flow from now on (reconcile by REST next)."""
        ...

    def on_order_update(self, update: OrderUpdate) -> None: ...

    def on_balances(self, update: AccountBalances) -> None: ...

    def on_malformed(self, raw: str, error: str) -> None: ...

    def on_heartbeat(self) -> None:
        """The venue's heartbeat: the connection is alive, with nothing to deliver."""
        ...

    def on_disconnected(self, error: str) -> None:
        """The connection ended (or the subscription was refused); nothing more will be delivered."""
        ...


@runtime_checkable
class UserStream(Protocol):
    """A venue's private order stream. One instance per connection attempt."""

    venue: str
    max_silence_s: float | None
    """How long the subscribed stream may say nothing (heartbeats included) before it is taken for
    stalled: a connection that stays open while the venue has stopped talking. None: the venue may stay
    silent while nothing happens (no heartbeat to expect)."""

    def start(self, sink: OrderEventSink) -> None:
        """Connect, authenticate, subscribe, then deliver to ``sink`` from a reader thread.
        Non-blocking: ``sink.on_connected`` reports success, ``sink.on_disconnected`` failure."""
        ...

    def stop(self) -> None:
        """Close the connection and join the reader thread. Idempotent."""
        ...
