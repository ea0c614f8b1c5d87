"""UserStreamActor: one per venue; owns the private order stream (connection, auth, subscription).

Order events are the trigger, REST is the record. After every (re)connect the stream has already
re-authenticated and re-subscribed (``StreamConnected``); only then this actor re-bases the ledger
from REST and tells the executor and the monitor to reconcile their orders by REST, because no venue
replays what a disconnected client missed.

Every order event passes through this inbox (never conflated, never dropped): a fill seen before (its
venue trade id) is dropped here, the rest updates the ledger and goes by name to the executor
(entries) or the monitor (exits). A disconnect crashes the actor on purpose: the supervisor restarts
it with backoff, like a feed; meanwhile the executor and the monitor poll at their fast interval.
Venue pushback during reconciliation is a retry timer, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pykka
from loguru import logger

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.actors.journal import record_in_journal
from autohedge.actors.protocol import RetryReconcile, StreamConnected, StreamDisconnected
from autohedge.core.actor_names import EXECUTOR, MONITOR
from autohedge.core.client_ids import ClientId
from autohedge.core.dedupe import FillDeduper
from autohedge.core.errors import VenueError
from autohedge.core.ledger import AccountLedger
from autohedge.core.messages import (
    AccountBalances,
    OrderUpdate,
    UserStreamResumed,
    UserStreamStatus,
)
from autohedge.core.metrics import Metrics
from autohedge.core.ports import Exchange, UserStream
from autohedge.core.pushback import retry_delay_s
from autohedge.core.types import OrderPurpose

__all__ = ["UserStreamActor", "UserStreamDisconnectedError", "UserStreamSink"]


class UserStreamDisconnectedError(ConnectionError):
    """The private stream ended; the actor crashes so the supervisor reconnects with backoff."""


class UserStreamSink:
    """Receives on the stream's reader thread (must not block): tells its actor, keeps every event."""

    def __init__(self, ref: pykka.ActorRef[Any], *, venue: str, metrics: Metrics) -> None:
        self._ref = ref
        self._venue = venue
        self._metrics = metrics
        self._malformed_logged = 0

    def _tell(self, message: object) -> None:
        try:
            self._ref.tell(message)
        except pykka.ActorDeadError:
            self._metrics.inc("dead_letters")  # the incarnation is gone; its successor reconciles by REST

    def on_connected(self) -> None:
        """Reader thread."""
        self._tell(StreamConnected())

    def on_order_update(self, update: OrderUpdate) -> None:
        """Reader thread."""
        self._tell(update)

    def on_balances(self, update: AccountBalances) -> None:
        """Reader thread."""
        self._tell(update)

    def on_malformed(self, raw: str, error: str) -> None:
        """Reader thread: count and skip; log the first few, then every 1000th."""
        self._metrics.inc("malformed_messages")
        self._malformed_logged += 1
        if self._malformed_logged <= 5 or self._malformed_logged % 1000 == 0:
            logger.warning("{} user stream: malformed frame skipped ({}): {!r:.200}", self._venue, error, raw)

    def on_disconnected(self, error: str) -> None:
        """Reader thread."""
        self._tell(StreamDisconnected(error=error))


class UserStreamActor(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        venue: str,
        stream_factory: Callable[[], UserStream],
        exchange: Exchange,
        ledger: AccountLedger,
        deduper: FillDeduper,
        symbols: Sequence[str],
        client_id_prefix: str,
    ) -> None:
        super().__init__(ctx)
        self.venue = venue
        self._stream_factory = stream_factory
        self._exchange = exchange
        self._ledger = ledger
        self._deduper = deduper
        self._symbols = tuple(symbols)
        self._prefix = client_id_prefix
        self._stream: UserStream | None = None
        self._connected = False
        self._reconciled = False

    # -- lifecycle ------------------------------------------------------------------------------------

    def started(self) -> None:
        self._stream = self._stream_factory()
        self._stream.start(UserStreamSink(self.actor_ref, venue=self.venue, metrics=self.ctx.metrics))

    def stopping(self) -> None:
        self._ledger.set_live(False)
        if self._stream is not None:
            self._stream.stop()
            self._stream = None
        if self._connected:
            self._connected = False
            self._tell_traders(UserStreamStatus(venue=self.venue, connected=False))

    def on_stream_connected(self, _: StreamConnected) -> None:
        """Authenticated and subscribed: now the REST sweep (never before, or a fill in between is lost)."""
        self._connected = True
        if self.ctx.incarnation > 1:
            self.ctx.metrics.inc("user_stream_reconnects")  # one trading venue per process
        self.ctx.events.record(
            "user_stream_connected", f"{self.venue} order events by push (incarnation {self.ctx.incarnation})"
        )
        self._reconcile()

    def on_retry_reconcile(self, _: RetryReconcile) -> None:
        if self._connected and not self._reconciled:
            self._reconcile()

    def _reconcile(self) -> None:
        """Re-base the ledger from REST, then have the executor and monitor re-read their orders."""
        as_of_ns = self.ctx.clock.wall_ns()
        try:
            balances = self._exchange.balances()
            spot = self._exchange.capabilities.spot_positions  # spot: positions are the balances
            positions = () if spot else self._exchange.positions(self._symbols)
        except VenueError as exc:  # the venue's state (pushback, keys): never a crash; asked again later
            delay_s = retry_delay_s(self._exchange.request_budget.wait_s(priority=True), exc)
            logger.warning("{} reconciliation refused ({}); again in {:.2f}s", self.venue, exc, delay_s)
            self.schedule(delay_s, RetryReconcile())
            return
        self._ledger.rebase(balances, positions, as_of_ns=as_of_ns)
        self._ledger.set_live(True)
        self._reconciled = True
        self.ctx.metrics.inc("ledger_rebases")
        self._tell_traders(UserStreamStatus(venue=self.venue, connected=True))
        self.ctx.report(UserStreamResumed(venue=self.venue))

    def on_stream_disconnected(self, message: StreamDisconnected) -> None:
        self._connected = False
        self._ledger.set_live(False)
        self._tell_traders(UserStreamStatus(venue=self.venue, connected=False))
        raise UserStreamDisconnectedError(f"{self.venue} user stream disconnected: {message.error}")

    # -- events ---------------------------------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> None:
        if update.kind.is_fill and not self._deduper.first_time(update.fill_key):
            self.ctx.metrics.inc("duplicate_fills_dropped")
            logger.debug("[{}] duplicate fill {} dropped", update.symbol, update.fill_key)
            return
        self._ledger.apply(update)
        record_in_journal(
            self.ctx, update
        )  # every order event, with the venue's trade id, to the trade journal
        ours = ClientId.ours(update.client_order_id, self._prefix)
        if ours is None or ours.purpose is None:
            logger.debug(
                "[{}] event for an order that is not ours: {}", update.symbol, update.client_order_id
            )
            return
        self.ctx.metrics.inc("order_events")
        self.ctx.directory.tell(EXECUTOR if ours.purpose is OrderPurpose.ENTRY else MONITOR, update)

    def on_account_balances(self, update: AccountBalances) -> None:
        self._ledger.apply_balances(update)

    def _tell_traders(self, message: object) -> None:
        for name in (EXECUTOR, MONITOR):
            self.ctx.directory.tell_if_present(name, message)
