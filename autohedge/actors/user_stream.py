"""UserStreamActor: one per venue; owns the private order stream (connection, auth, subscription).

Order events are the trigger, REST is the record. After every (re)connect the stream has already
re-authenticated and re-subscribed (``StreamConnected``); only then this actor re-bases the ledger
from REST (the open orders' fills, then the clock, then the balances that include them:
``core.ledger.read_account``) and tells the executor and the monitor to reconcile their orders by REST,
because no venue replays what a disconnected client missed.

Every order event passes through this inbox (never conflated, never dropped): a fill seen before (its
venue trade id) is dropped here, the rest updates the ledger and goes by name to the executor
(entries) or the monitor (exits).

A disconnect or a refused subscription (a ban refuses the WebSocket API too) is the venue's state, never
a crash: this actor reconnects in place after max(backoff, the venue's wait) on a timer message and
counts ``user_stream_reconnects``; meanwhile the executor and the monitor poll at their fast interval.
A run of failed connections degrades the venue (``core.stream_health``) until a reconcile succeeds.
A stream whose venue promises heartbeats (``max_silence_s``) and goes silent while still connected is
stalled: it is taken for a disconnect (closed, reconnected, reconciled), since its events are lost.
Venue pushback during reconciliation is a retry timer too. Only a bug is a crash.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pykka
from loguru import logger

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.actors.journal import record_in_journal
from autohedge.actors.protocol import (
    CheckUserStreamSilence,
    ReconnectUserStream,
    RetryReconcile,
    StreamConnected,
    StreamDisconnected,
)
from autohedge.core.actor_names import EXECUTOR, MONITOR
from autohedge.core.client_ids import ClientId
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.config import SupervisorConfig
from autohedge.core.dedupe import FillDeduper
from autohedge.core.errors import VenueError
from autohedge.core.ledger import AccountLedger, read_account
from autohedge.core.messages import (
    AccountBalances,
    OrderUpdate,
    UserStreamDegraded,
    UserStreamResumed,
    UserStreamStatus,
)
from autohedge.core.metrics import Metrics
from autohedge.core.ports import Exchange, UserStream
from autohedge.core.pushback import retry_delay_s
from autohedge.core.stream_health import ReconnectRun, reconnect_delay_s, stream_silent
from autohedge.core.types import OrderPurpose

__all__ = ["UserStreamActor", "UserStreamSink"]


class UserStreamSink:
    """Receives on the stream's reader thread (must not block): tells its actor, keeps every event.
    One per connection: once the actor has moved on to a new connection, ``retire`` makes this one's
    late reports (a disconnect racing the reconnect) silent. ``heard_ns`` (monotonic): when the stream
    last said anything, a heartbeat included."""

    def __init__(self, ref: pykka.ActorRef[Any], *, venue: str, metrics: Metrics, clock: Clock) -> None:
        self._ref = ref
        self._venue = venue
        self._metrics = metrics
        self._clock = clock
        self._malformed_logged = 0
        self._retired = False
        self.heard_ns = clock.monotonic_ns()

    def _heard(self) -> None:
        self.heard_ns = self._clock.monotonic_ns()

    def retire(self) -> None:
        """Actor thread: this connection is abandoned; nothing more from it reaches the actor."""
        self._retired = True

    def _tell(self, message: object) -> None:
        if self._retired:
            return
        try:
            self._ref.tell(message)
        except pykka.ActorDeadError:
            self._metrics.inc("dead_letters")  # the incarnation is gone; its successor reconciles by REST

    def on_connected(self) -> None:
        """Reader thread."""
        self._heard()
        self._tell(StreamConnected())

    def on_order_update(self, update: OrderUpdate) -> None:
        """Reader thread."""
        self._heard()
        self._tell(update)

    def on_balances(self, update: AccountBalances) -> None:
        """Reader thread."""
        self._heard()
        self._tell(update)

    def on_heartbeat(self) -> None:
        """Reader thread: alive; nothing to tell."""
        self._heard()

    def on_malformed(self, raw: str, error: str) -> None:
        """Reader thread: count and skip; log the first few, then every 1000th."""
        self._heard()
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
        supervision: SupervisorConfig | None = None,
    ) -> None:
        """``supervision``: the reconnect backoff and what counts as failing too often (defaults if None)."""
        super().__init__(ctx)
        self.venue = venue
        self._stream_factory = stream_factory
        self._exchange = exchange
        self._ledger = ledger
        self._deduper = deduper
        self._symbols = tuple(symbols)
        self._prefix = client_id_prefix
        self._stream: UserStream | None = None
        self._sink: UserStreamSink | None = None
        self._connected = False
        self._reconciled = False
        self._traders_told = False
        """The traders heard that this connection's re-base is done (a later re-read does not repeat it)."""
        self._rereads_in_a_row = 0
        self._connections = 0
        supervision = supervision or SupervisorConfig()
        self._backoff = supervision.backoff
        self._failures = ReconnectRun(
            max_failures=supervision.max_restarts,
            window_s=supervision.window_s,
            reset_after_s=supervision.reset_after_s,
        )
        self._rng = random.Random(supervision.seed)

    # -- lifecycle ------------------------------------------------------------------------------------

    def started(self) -> None:
        self._connect()

    def _connect(self) -> None:
        """Open a new connection; it reports connected (subscribed) or disconnected on its reader thread."""
        self._sink = UserStreamSink(
            self.actor_ref, venue=self.venue, metrics=self.ctx.metrics, clock=self.ctx.clock
        )
        self._stream = self._stream_factory()
        self._stream.start(self._sink)

    def _close_stream(self) -> None:
        if self._sink is not None:
            self._sink.retire()
            self._sink = None
        if self._stream is not None:
            self._stream.stop()
            self._stream = None

    def stopping(self) -> None:
        self._ledger.set_live(False)
        self._close_stream()
        if self._connected:
            self._connected = False
            self._tell_traders(UserStreamStatus(venue=self.venue, connected=False))

    def on_stream_connected(self, _: StreamConnected) -> None:
        """Authenticated and subscribed: now the REST sweep (never before, or a fill in between is lost)."""
        self._connected = True
        self._reconciled = False
        self._traders_told = False
        self._rereads_in_a_row = 0
        self._connections += 1
        if self.ctx.incarnation > 1 or self._connections > 1:
            self.ctx.metrics.inc("user_stream_reconnects")  # one trading venue per process
        self.ctx.events.record(
            "user_stream_connected", f"{self.venue} order events by push (incarnation {self.ctx.incarnation})"
        )
        self._watch_silence()
        self._reconcile()

    def _watch_silence(self) -> None:
        """Check, twice per allowed silence, that a stream promising heartbeats still talks."""
        max_silence_s = self._stream.max_silence_s if self._stream is not None else None
        if max_silence_s is not None:
            self.schedule(max_silence_s / 2, CheckUserStreamSilence(connection=self._connections))

    def on_check_user_stream_silence(self, message: CheckUserStreamSilence) -> None:
        """A stalled connection (open, but the venue stopped talking) loses every event from then on: it
        is closed and replaced as after a disconnect, and the new one reconciles by REST."""
        stream, sink = self._stream, self._sink
        if not self._connected or message.connection != self._connections or stream is None or sink is None:
            return  # that connection is gone already
        max_silence_s = stream.max_silence_s
        if max_silence_s is None:
            return
        now_ns = self.ctx.clock.monotonic_ns()
        if not stream_silent(sink.heard_ns, now_ns, max_silence_s):
            self._watch_silence()
            return
        self.ctx.metrics.inc("user_stream_stalls")
        silent_s = (now_ns - sink.heard_ns) / NS_PER_S
        self.on_stream_disconnected(
            StreamDisconnected(error=f"{self.venue} user stream silent for {silent_s:.1f}s: stalled")
        )

    def on_retry_reconcile(self, _: RetryReconcile) -> None:
        if self._connected and not self._reconciled:
            self._reconcile()

    def _reconcile(self) -> None:
        """Re-base the ledger from REST, then have the executor and monitor re-read their orders."""
        spot = self._exchange.capabilities.spot_positions  # spot: positions are the balances
        try:
            read = read_account(
                wall_ns=self.ctx.clock.wall_ns,
                open_orders=self._exchange.open_orders,
                balances=self._exchange.balances,
                positions=None if spot else lambda: self._exchange.positions(self._symbols),
            )
        except VenueError as exc:  # the venue's state (pushback, keys): never a crash; asked again later
            delay_s = retry_delay_s(self._exchange.request_budget.wait_s(priority=True), exc)
            logger.warning("{} reconciliation refused ({}); again in {:.2f}s", self.venue, exc, delay_s)
            self.schedule(delay_s, RetryReconcile())
            return
        self._ledger.rebase_from(read)
        self._ledger.set_live(True)
        self._reconciled = True
        self._failures.succeeded(self.ctx.clock.monotonic_ns())
        self.ctx.metrics.inc("ledger_rebases")
        if not self._traders_told:
            self._traders_told = True
            self._tell_traders(UserStreamStatus(venue=self.venue, connected=True))
            self.ctx.report(UserStreamResumed(venue=self.venue))

    def _read_again(self) -> None:
        """The ledger is unsure: a fill came dated while the newest re-base read the balances. Read the
        account again once this event has gone on (its clock reading is then after every event queued so
        far), or after a backoff if the last re-read met the same: a busy account must not spend the
        venue's budget on reads back to back."""
        self._reconciled = False
        self._rereads_in_a_row += 1
        self.ctx.metrics.inc("ledger_rereads")
        if self._rereads_in_a_row == 1:
            self.actor_ref.tell(RetryReconcile())
            return
        delay_s = self._backoff.delay_s(self._rereads_in_a_row - 1, self._rng)
        logger.info(
            "{} fills keep landing in the account reads; reading again in {:.2f}s", self.venue, delay_s
        )
        self.schedule(delay_s, RetryReconcile())

    def on_stream_disconnected(self, message: StreamDisconnected) -> None:
        """The connection ended or its subscription was refused: the traders poll from now, and a new
        connection is opened after max(backoff, the venue's wait), in place (never a crash)."""
        was_connected, self._connected = self._connected, False
        self._ledger.set_live(False, at_ns=self.ctx.clock.monotonic_ns())
        if was_connected:
            self._tell_traders(UserStreamStatus(venue=self.venue, connected=False))
        self._close_stream()
        degraded = self._failures.failed(self.ctx.clock.monotonic_ns())
        backoff_s = self._backoff.delay_s(self._failures.consecutive - 1, self._rng)
        # A ban refuses the WebSocket API like REST: the stream told the shared budget how long.
        delay_s = reconnect_delay_s(backoff_s, self._exchange.request_budget.wait_s(priority=True))
        if degraded:
            self.ctx.report(UserStreamDegraded(venue=self.venue, reason=message.error))
        logger.warning(
            "{} user stream down ({}); reconnecting in {:.2f}s", self.venue, message.error, delay_s
        )
        self.schedule(delay_s, ReconnectUserStream())

    def on_reconnect_user_stream(self, _: ReconnectUserStream) -> None:
        if self._stream is None:
            self._connect()

    # -- events ---------------------------------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> None:
        if update.kind.is_fill and not self._deduper.first_time(update.fill_key):
            self.ctx.metrics.inc("duplicate_fills_dropped")
            logger.debug("[{}] duplicate fill {} dropped", update.symbol, update.fill_key)
            return
        self._ledger.apply(update)
        if update.kind.is_fill and self._reconciled:
            if self._ledger.unsure:
                self._read_again()
            else:
                self._rereads_in_a_row = 0  # a fill after the read: the account has calmed down
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
