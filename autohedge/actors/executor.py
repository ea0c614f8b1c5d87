"""ExecutorActor: entry orders from signal to terminal state.

Owns: entry gates, sizing and pre-trade checks (read from the local ledger, never REST per entry),
the per-symbol rate limit, deterministic client order ids, outcome-unknown resolution, and the entry
lifecycle. Order events arrive by push (``OrderUpdate`` from the user-stream actor); REST polling is
only the safety net while the stream is live, and the fast fallback while it is down. Each fill is told
to the monitor as ``OrderFilled``. Exits are not here: the monitor places them itself, so protection
never queues behind entries in this inbox.

Sending is not here either: an entry decided here (sized, reserved, journaled) is handed to the least
loaded of the venue's order senders (``actors/sender.py``), so entries decided on the same tick go out
concurrently and this inbox never waits on a round trip. Their answers come back as ``OrderSent``; an
order event may arrive before it, and either is applied once (the fill watermark). With no sender
running the entry is sent on this thread. Where the venue's order connection takes several orders
without waiting for their answers (``core.ports.OrderPipe``, ``executor.pipelined_entries``), the entries
decided on one tick skip the senders: the tick's handler decides them and writes them all in one write
(no thread hop per entry, no cycle collection in between), their timeouts and journal intents made after
the write; a signal told on its own (or a tick behind a backlog) tells this actor ``FlushEntries``, so
every signal already in the inbox is decided before that write. Their answers come back as
``OrderSent`` from the connection's reader thread.

Reading the entries by REST is not here either: the safety poll, the re-reads owed after a reconnect, a
gap or a crash, the look for an unreported fill and the lookup after an unknown outcome are asked of the
order reader (``actors/reader.py``), which makes the requests the venue charges least for and tells back
``EntriesRead``; the answer is applied to the entries as they are by then (one read in flight per entry;
an entry ended meanwhile is left alone; "unknown to the venue" is not believed of an entry an order event
proved while the read was under way). With no reader running the reads are owed and asked again once it
runs. Cancels (rare, and writes) stay on this thread, as does the one listing of open entries at start.

Venue pushback (rate limited, banned, unreachable, keys rejected) is the venue's state, read from the
exchange's ``request_budget``; it never escapes a handler. An entry the venue refuses waits for a timer
at the time the venue allows and is dropped once its signal is stale (``executor.max_signal_age_s``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from loguru import logger

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.actors.journal import record_in_journal
from autohedge.actors.protocol import (
    CheckUnreportedFills,
    EntriesRead,
    EntryRead,
    ExpireEntry,
    FlushEntries,
    GetSnapshot,
    MarketDataGap,
    OrderReaderStarted,
    OrderSent,
    PollOrders,
    ReadEntries,
    ReadOpenEntries,
    ReadVenueQuotes,
    ResolveOrder,
    RetryCancel,
    RetryEntry,
    SendOrder,
    SendTimedOut,
    TickSignals,
    VenueQuotesRead,
)
from autohedge.actors.sender import order_sent, send_order
from autohedge.core.actor_names import EXECUTOR, MONITOR, ORDER_READER, ActorName
from autohedge.core.client_ids import ClientId
from autohedge.core.clock import NS_PER_S, TimerHandle
from autohedge.core.collection import CollectionHold
from autohedge.core.config import AppConfig
from autohedge.core.dedupe import FILL_MEMORY_KEEP_S
from autohedge.core.errors import (
    FatalVenueError,
    InsufficientBalance,
    OrderRefused,
    UnknownOrder,
    VenueError,
)
from autohedge.core.gates import Gate
from autohedge.core.ids import OrderKeySource
from autohedge.core.journal import OrderIntent, OrderNoted, OrderObserved
from autohedge.core.ledger import AccountLedger, read_account
from autohedge.core.messages import (
    CancelEntries,
    ClosePosition,
    EntryProtection,
    Message,
    OrderCanceled,
    OrderFilled,
    OrderRequest,
    OrderSnapshot,
    OrderUpdate,
    Quote,
    SetEntryGate,
    Signal,
    SymbolRules,
    UserStreamStatus,
)
from autohedge.core.ports import Exchange, OrderAnswer, OrderPipe
from autohedge.core.protection import exit_orders_owed, exit_orders_per_entry
from autohedge.core.pushback import (
    entry_is_stale,
    entry_poll_delay_s,
    entry_side_retry_delay_s,
    is_pushback,
)
from autohedge.core.ratelimit import SymbolRateLimiter
from autohedge.core.reads import EntryRef
from autohedge.core.recent import RecentMap
from autohedge.core.risk import size_entry
from autohedge.core.sending import SenderLoad, SendOutcome
from autohedge.core.stream_health import feed_quiet, fill_may_be_unreported
from autohedge.core.types import CloseReason, OrderPurpose, OrderStatus, Side, quote_of

__all__ = [
    "RESOLVE_DELAYS_S",
    "AwaitSends",
    "ExecutorActor",
    "ExecutorView",
    "TrackedEntries",
    "TrackedEntry",
]

RESOLVE_DELAYS_S = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Spacing of "does the venue have this client order id?" queries after an unknown outcome."""


class AwaitSends(Message):
    """Ask (shutdown): None when no entry awaits the venue's answer; else (how many, an event set once
    none does, or the executor stops). An entry written on the order connection is answered on the
    connection's thread, which no barrier waits for: its fill must reach the monitor before it stops."""


_ZERO = Decimal(0)
FINISHED_MEMORY = 2_000
"""Finished entries remembered (with their filled quantity) so a late or replayed event is ignored: at
least the newest this many, and every one finished within ``FILL_MEMORY_KEEP_S``."""


@dataclass(frozen=True)
class TrackedEntry:
    client_order_id: str
    symbol: str
    qty: Decimal
    price: Decimal
    placed_ns: int
    venue_order_id: str = ""
    filled_qty: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    status: OrderStatus = OrderStatus.NEW
    protection: EntryProtection | None = None
    cancel_requested: bool = False
    heard_ns: int = 0
    """The venue's time of the newest event or read of this entry."""


class TrackedEntries(MutableMapping[str, TrackedEntry]):
    """The tracked entries by client order id, and by symbol: a signal reads its own symbol's entries
    instead of walking every resting entry of every symbol (thousands, with a high
    ``executor.max_open_entries_per_symbol``). The executor's thread only (one incarnation at a time)."""

    def __init__(self) -> None:
        self._all: dict[str, TrackedEntry] = {}
        self._by_symbol: dict[str, dict[str, TrackedEntry]] = {}
        self._unfilled: dict[str, Decimal] = {}

    def of_symbol(self, symbol: str) -> Collection[TrackedEntry]:
        """The entries of ``symbol`` (a live view: copy it before changing the entries)."""
        return self._by_symbol.get(symbol, {}).values()

    def unfilled_qty(self, symbol: str) -> Decimal:
        """What ``symbol``'s entries may still buy (ordered less filled), kept as they change: a signal
        sizes against it without a walk over its symbol's resting entries."""
        return self._unfilled.get(symbol, _ZERO)

    def __getitem__(self, client_order_id: str) -> TrackedEntry:
        return self._all[client_order_id]

    def __setitem__(self, client_order_id: str, entry: TrackedEntry) -> None:
        old = self._all.get(client_order_id)
        unfilled = self.unfilled_qty(entry.symbol)
        if old is not None and old.symbol != entry.symbol:
            self._unindex(old, client_order_id)
        elif old is not None:
            unfilled -= old.qty - old.filled_qty
        self._all[client_order_id] = entry
        self._by_symbol.setdefault(entry.symbol, {})[client_order_id] = entry
        self._unfilled[entry.symbol] = unfilled + (entry.qty - entry.filled_qty)

    def __delitem__(self, client_order_id: str) -> None:
        entry = self._all.pop(client_order_id)
        self._unindex(entry, client_order_id)

    def _unindex(self, entry: TrackedEntry, client_order_id: str) -> None:
        symbol = entry.symbol
        of_symbol = self._by_symbol.get(symbol)
        if of_symbol is not None:
            of_symbol.pop(client_order_id, None)
            if not of_symbol:
                del self._by_symbol[symbol]
                self._unfilled.pop(symbol, None)  # none left: exactly zero, whatever the sums' history
                return
        self._unfilled[symbol] = self.unfilled_qty(symbol) - (entry.qty - entry.filled_qty)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)


@dataclass(frozen=True)
class ExecutorView:
    """The executor's ``GetSnapshot`` answer."""

    entries: tuple[TrackedEntry, ...]
    """Entries being worked until terminal."""
    unresolved: tuple[TrackedEntry, ...]
    """Entries whose outcome is unknown, being looked up by client order id."""
    gates: Mapping[Gate, str]
    """Closed entry gates and why."""
    waiting: tuple[str, ...] = ()
    """Symbols whose newest entry signal waits for the venue to allow sending."""
    sending: tuple[TrackedEntry, ...] = ()
    """Entries handed to a sender, not yet answered."""


@dataclass(slots=True)
class _Reading:
    """An entry's read asked of the order reader and not answered yet."""

    read_id: int
    resolve_attempt: int | None = None
    """The lookup's attempt after an unknown outcome (None: a read of a tracked entry)."""
    proven: bool = False
    """An order event or a send's answer for the entry came while the read was under way: the venue has
    it, whatever the read says."""


@dataclass(frozen=True, slots=True)
class _Piped:
    """An entry decided and waiting for its burst's write (``FlushEntries``); what only matters once it
    is written (its journal intent, its answer's timeout) is made after the write."""

    request: OrderRequest
    protection: EntryProtection | None
    signal: Signal


_FLUSH_ENTRIES = FlushEntries()


@dataclass(frozen=True, slots=True)
class _Sending:
    """An entry handed to a sender: what its answer is applied to."""

    entry: TrackedEntry
    signal: Signal
    timer: TimerHandle | None
    """None while the entry waits for its burst's write (its timeout runs from the write)."""

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


class ExecutorActor(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        exchange: Exchange,
        config: AppConfig,
        gates: dict[Gate, str],
        keys: OrderKeySource,
        rate_limiter: SymbolRateLimiter,
        ledger: AccountLedger,
        entries: TrackedEntries | None = None,
        in_flight: dict[str, TrackedEntry] | None = None,
        senders: Sequence[ActorName] = (),
        quotes: Callable[[str], Quote | None] | None = None,
        pipe: OrderPipe | None = None,
    ) -> None:
        """``entries``: the tracked entries, kept by the composition root across restarts so a fill whose
        event died with a crashed incarnation is still found (by REST) by the next one. ``in_flight``: the
        entries whose venue outcome is awaited (handed to a sender, or being looked up), kept the same way
        so an entry whose answer or fill event died with a crashed incarnation is asked for by the next
        one. ``senders``: the
        venue's order senders (none: entries are sent on this thread). ``quotes``: the newest quote of a
        symbol (any thread), to tell when a resting entry may have traded unreported. ``pipe``: the
        venue's connection that takes a burst of entries in one write (``executor.pipelined_entries``)."""
        super().__init__(ctx)
        self._exchange = exchange
        self._ledger = ledger
        self._config = config
        self._gates = dict(gates)
        self._keys = keys
        self._rate = rate_limiter
        self._entries = entries if entries is not None else TrackedEntries()
        self._unresolved: dict[str, TrackedEntry] = {}
        self._in_flight: dict[str, TrackedEntry] = in_flight if in_flight is not None else {}
        self._rules: dict[str, SymbolRules] = {}
        self._prefix = config.executor.client_id_prefix
        self._waiting: dict[str, Signal] = {}
        """Per symbol, the newest entry signal waiting for the venue to allow sending."""
        self._retry_scheduled: set[str] = set()
        self._auth_reported = False
        self._finished: RecentMap[Decimal] = RecentMap(
            ctx.clock.monotonic_ns, keep_s=FILL_MEMORY_KEEP_S, capacity=FINISHED_MEMORY
        )
        self._poll_timer: TimerHandle | None = None
        self._reread: set[str] = set()
        """Tracked entries owed a REST read (their events may have died with the previous incarnation or
        been missed while the stream was down; the market reached them while the venue held reads off, or
        while the feed was down): polled as soon as the venue allows until each is read."""
        self._senders = SenderLoad(senders)
        self._sending: dict[str, _Sending] = {}
        self._cancel_when_placed: set[str] = set()
        """Entries in flight when every open entry was cancelled: cancelled as soon as they are placed."""
        self._quotes = quotes
        self._unreported_timer: TimerHandle | None = None
        self._expiries: dict[str, TimerHandle] = {}
        """Each tracked entry's expiry timer (this incarnation's), cancelled when it stops being tracked:
        a filled entry's expiry would otherwise hold its message until due."""
        self._pipe = pipe
        self._burst: list[_Piped] = []
        """Entries decided since the pending ``FlushEntries`` was told (awaited in ``_sending`` already)."""
        self._piped: set[str] = set()
        """Entries written on the order connection whose answer has not come (in ``_sending`` too): no
        barrier waits for them (``AwaitSends``)."""
        self._deciding_tick = False
        """Within ``on_tick_signals``: it writes the tick's entries itself."""
        self._tick_admitted = False
        """Within ``on_tick_signals``: the venue's window holds every entry of the tick (``_tick_fits``)."""
        self._collection = CollectionHold()
        """Held from a tick's first message until the tick is closed and its entries are written
        (``core/collection.py``), also when the write waits for a ``FlushEntries`` behind a backlog."""
        self._tick_open = False
        """A tick's first signal came ahead of the rest, and the message closing the tick has not yet."""
        self._reading: dict[str, _Reading] = {}
        """Entries whose read the order reader has not answered yet (one read in flight per entry)."""
        self._last_read_id = 0
        self._sends_awaited: list[threading.Event] = []
        """Set once no entry awaits the venue's answer (``AwaitSends``)."""

    # -- lifecycle ------------------------------------------------------------------------------------

    def started(self) -> None:
        """No REST here (a refusal must never be a start crash): the open entries are re-read by a
        message, retried on a timer while the venue refuses."""
        self.actor_ref.tell(ReadOpenEntries())
        self._schedule_poll()
        if self.ctx.incarnation > 1 and self._entries:
            # The previous incarnation may have died handling one of these entries' events (no venue
            # sends it again): re-read them by REST now, or as soon as the venue allows; their expiry
            # and unreported-fill timers died with it too.
            for coid in self._entries:
                self._expire_later(coid)
            self._reread.update(self._entries)
            self.actor_ref.tell(PollOrders())
            self._watch_unreported()
        # Entries a previous incarnation handed out or was looking up: their answers (or fill events)
        # may have died with it, and the venue may hold or have filled them. Ask, never resend; by a
        # message, since no REST runs here.
        for coid, entry in list(self._in_flight.items()):
            if coid in self._entries:
                del self._in_flight[coid]
                continue
            self._unresolved[coid] = entry
            self.actor_ref.tell(ResolveOrder(client_order_id=coid, symbol=entry.symbol))

    def stopping(self) -> None:
        """Actor thread: a tick still open (its closing message never handled) gives the collector back;
        whoever waits for the entries in flight waits no longer."""
        self._collection.release()
        self._sends_answered()

    def on_receive(self, message: Any) -> Any:
        """Actor thread: dispatch; then, once nothing awaits the venue's answer, tell who waits for that."""
        try:
            return super().on_receive(message)
        finally:
            if self._sends_awaited and not self._piped and not self._burst:
                self._sends_answered()

    def _sends_answered(self) -> None:
        for event in self._sends_awaited:
            event.set()
        self._sends_awaited.clear()

    def on_await_sends(self, _: AwaitSends) -> tuple[int, threading.Event] | None:
        """Only the entries on the order connection (written, or about to be): one handed to a sender is
        answered through it, which the stop's barriers wait for, and give up on when it is stuck."""
        awaited = len(self._piped) + len(self._burst)
        if not awaited:
            return None
        event = threading.Event()
        self._sends_awaited.append(event)
        return awaited, event

    def _ensure_ledger(self) -> None:
        """The user stream re-bases the ledger once connected; should an entry come first (or the venue
        have no user stream), read the account once here. Raises VenueError."""
        if self._ledger.ready:
            return
        spot = self._exchange.capabilities.spot_positions  # spot: positions are the balances
        self._ledger.rebase_from(
            read_account(
                wall_ns=self.ctx.clock.wall_ns,
                balances=self._exchange.balances,
                positions=None if spot else lambda: self._exchange.positions(self._config.symbols),
            )
        )

    @property
    def _poll_interval_s(self) -> float:
        """Fast while order events do not arrive by push; a slow safety net while they do."""
        if self._ledger.live:
            return self._config.user_stream.safety_poll_interval_s
        return self._config.executor.order_poll_interval_s

    def _schedule_poll(self, delay_s: float | None = None) -> None:
        if self._poll_timer is not None:
            self._poll_timer.cancel()
        self._poll_timer = self.schedule(self._poll_interval_s if delay_s is None else delay_s, PollOrders())

    def on_read_open_entries(self, _: ReadOpenEntries) -> None:
        """Re-read our open entries from the venue so a restart never loses track of one."""
        try:
            orders = self._exchange.open_orders()
        except VenueError as exc:  # refused or unanswered: the venue's state, retried when it allows
            delay_s = self._retry_in_s(exc, priority=True)
            logger.warning("re-reading open entries refused ({}); again in {:.2f}s", exc, delay_s)
            self.schedule(delay_s, ReadOpenEntries())
            return
        adopted = 0
        for order in orders:
            coid = order.client_order_id
            ours = self._is_our_entry(coid) and order.side is Side.BUY
            # One a previous incarnation sent is being looked up: its answer tracks it from nothing filled,
            # so a fill whose event died with that incarnation is reported (adopted here, the listing's
            # fill would count as reported: simulation, bench/simulate.yaml seed 2 at 20293.5 s).
            known = coid in self._entries or coid in self._unresolved or coid in self._sending
            if ours and not known:
                entry = self._from_snapshot(order)
                if self._ledger.live:
                    # Only what the account read (and the monitor's reconciliation from it) holds is
                    # protected already, as for an entry adopted from its event: a fill since (its event
                    # still on its way) is reported now, or its event would bring no progress and the
                    # fill no exit (a symbol the monitor does not track is never verified).
                    held = min(self._ledger.rebased_fill(coid), order.filled_qty)
                    if held < order.filled_qty:
                        fee = order.fee * held / order.filled_qty
                        entry = replace(entry, filled_qty=held, fee=fee)
                self._entries[coid] = entry
                self._expire_later(coid)
                if entry.filled_qty < order.filled_qty:
                    self._update(entry, order)
                adopted += 1
        if adopted:
            self.ctx.events.record("entries_adopted", f"{adopted} open entry orders re-read from the venue")

    # -- venue pushback -------------------------------------------------------------------------------

    def _retry_in_s(self, error: VenueError | None, *, priority: bool) -> float:
        """Entry-side work goes after the monitor's exits once the venue allows (``core.pushback``)."""
        return entry_side_retry_delay_s(self._exchange.request_budget.wait_s(priority=priority), error)

    def _entry_wait_s(self, symbol: str) -> float:
        """Seconds until an entry for ``symbol`` may take an order slot: the venue's window must still
        hold the exits that it and every entry in flight or resting can need once filled, so a burst of
        fills never waits for slots that entries took (``core.protection.exit_orders_owed``)."""
        owed = self._slots_owed(ahead=0)
        if owed is None:
            symbols = [e.symbol for e in self._entries.values()]
            symbols += [s.entry.symbol for s in self._sending.values()]
            symbols += [e.symbol for e in self._unresolved.values()]
            owed = exit_orders_owed(self._exchange.capabilities, [*symbols, symbol]) + len(self._sending)
        return self._exchange.request_budget.wait_s(priority=False, orders=1, exits_owed=owed)

    def _slots_owed(self, *, ahead: int) -> int | None:
        """The order slots an entry must leave free when its exits are the same for every symbol (None
        when they depend on the symbol): the exits it and every entry tracked, in flight or looked up can
        need, and one for each entry in flight (handed to a sender, it may not have spent its own slot
        yet). ``ahead``: entries of the same tick decided before this one (in flight by then)."""
        per_entry = exit_orders_per_entry(self._exchange.capabilities)
        if per_entry is None:
            return None
        in_flight = len(self._sending) + ahead
        return per_entry * (len(self._entries) + in_flight + len(self._unresolved) + 1) + in_flight

    def _tick_fits(self, signals: int) -> bool:
        """Whether the venue's window holds an entry for each of a tick's ``signals`` (with the exits
        each can need) now: then none of them asks ``_entry_wait_s`` again. One check for the tick: each
        entry decided adds itself (in flight) and its exits to what the next one must leave free, so the
        last one's check is the strictest, and it is the one made here. Only where every symbol's
        entry owes the same exits (otherwise each asks as before)."""
        owed = self._slots_owed(ahead=signals - 1)
        return (
            owed is not None
            and self._exchange.request_budget.wait_s(priority=False, orders=1, exits_owed=owed) <= 0
        )

    def _venue_refused(self, signal: Signal, error: VenueError | None) -> None:
        """The venue refuses now: the entry waits (newest signal per symbol) for a timer at the time the
        venue allows. Bad keys stop entries (loudly, once) until a signed request succeeds again."""
        if isinstance(error, FatalVenueError):
            self._report_auth(str(error))
            return
        symbol = signal.symbol
        self._waiting[symbol] = signal
        self.ctx.metrics.inc("entries_waiting_for_venue")
        if symbol in self._retry_scheduled:
            return
        self._retry_scheduled.add(symbol)
        delay_s = entry_side_retry_delay_s(self._entry_wait_s(symbol), error)
        logger.info("[{}] entry waits {:.2f}s for the venue ({})", symbol, delay_s, error or "paused")
        self.schedule(delay_s, RetryEntry(symbol=symbol))

    def _report_auth(self, reason: str) -> None:
        if not self._auth_reported:
            self._auth_reported = True
            self.ctx.events.record(
                "entries_stopped_auth",
                f"the venue rejects our keys: no new entries until it accepts them ({reason})",
                level="ERROR",
            )

    def on_retry_entry(self, message: RetryEntry) -> None:
        self._retry_scheduled.discard(message.symbol)
        signal = self._waiting.pop(message.symbol, None)
        if signal is None:
            return
        if entry_is_stale(signal.ts_init, self.ctx.clock.wall_ns(), self._config.executor.max_signal_age_s):
            self.ctx.metrics.inc("entries_dropped_stale")
            self.ctx.events.record(
                "entry_dropped_stale",
                f"signal {signal.signal_id} waited for the venue longer than "
                f"{self._config.executor.max_signal_age_s}s; dropped",
                symbol=signal.symbol,
            )
            return
        self.on_signal(signal)

    def _is_our_entry(self, client_order_id: str) -> bool:
        ours = ClientId.ours(client_order_id, self._prefix)
        return ours is not None and ours.purpose is OrderPurpose.ENTRY

    def _from_snapshot(self, order: OrderSnapshot) -> TrackedEntry:
        return TrackedEntry(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            qty=order.qty,
            price=order.price,
            placed_ns=self.ctx.clock.monotonic_ns(),
            venue_order_id=order.venue_order_id,
            filled_qty=order.filled_qty,
            fee=order.fee,
            status=order.status,
        )

    # -- gates ----------------------------------------------------------------------------------------

    def on_set_entry_gate(self, message: SetEntryGate) -> None:
        if message.closed:
            if message.gate not in self._gates:
                self._gates[message.gate] = message.reason
                self.ctx.events.record(
                    "entries_paused", f"gate {message.gate} closed: {message.reason}", level="WARNING"
                )
        elif self._gates.pop(message.gate, None) is not None:
            self.ctx.events.record("entries_resumed", f"gate {message.gate} opened")

    def _closed_gate(self, symbol: str) -> Gate | None:
        for gate in self._gates:
            if gate.blocks(symbol):
                return gate
        return None

    # -- signals --------------------------------------------------------------------------------------

    def on_tick_signals(self, message: TickSignals) -> None:
        """The strategy runner's signals of one feed batch: decided in order and, when nothing else waits
        in the inbox, written together at once (no flush message through it), with no cycle collection
        in between (``core/collection.py``: a collection there delayed every entry of the tick). When
        more waits (a backlog), the flush is told as for single signals, so what is queued (more ticks)
        goes out in the same write, and the collector stays held until that write. A tick's first
        signal comes ahead of the rest (``more``): its entry waits for the message that closes the tick,
        which writes them all, and the collector stays held until then (released between the two, the
        collection the first entry made due ran there, ahead of every other entry of the tick, while a
        lone symbol's ran after its write)."""
        self._deciding_tick = True
        self._collection.hold()
        try:
            self._tick_admitted = len(message.signals) > 1 and self._tick_fits(len(message.signals))
            for signal in message.signals:
                self.on_signal(signal)
            if not message.more and self._burst and self.actor_inbox.empty():
                self._flush()
        finally:
            self._deciding_tick = self._tick_admitted = False
            self._tick_open = message.more
            self._release_collection_when_written()
        if self._burst and not message.more:
            self.actor_ref.tell(_FLUSH_ENTRIES)

    def _release_collection_when_written(self) -> None:
        """Give the collector back once no tick is open and every entry decided is written: a tick whose
        write waits for its ``FlushEntries`` behind a backlog is still not cut by a collection."""
        if not self._tick_open and not self._burst:
            self._collection.release()

    def on_signal(self, signal: Signal) -> None:
        symbol = signal.symbol
        if signal.side is Side.SELL:
            # Spot is long-only: a sell signal can only close what is held; the monitor owns that.
            self.ctx.directory.tell(
                MONITOR,
                ClosePosition(
                    symbol=symbol, reason=f"{signal.strategy} sell signal", kind=CloseReason.LLM_SELL
                ),
            )
            return
        gate = self._closed_gate(symbol)
        if gate is not None:
            logger.debug("[{}] signal {} dropped: gate {} closed", symbol, signal.signal_id, gate)
            return
        budget = self._exchange.request_budget
        auth_failure = budget.auth_failure
        if auth_failure is not None:
            self._report_auth(auth_failure)
            return
        self._auth_reported = False
        if symbol in self._retry_scheduled or (not self._tick_admitted and self._entry_wait_s(symbol) > 0):
            self._venue_refused(signal, None)  # never send while the venue says wait
            return
        in_flight = [s.entry for s in self._sending.values() if s.entry.symbol == symbol]
        resting = self._entries.of_symbol(symbol)
        if len(resting) + len(in_flight) + sum(
            1 for e in self._unresolved.values() if e.symbol == symbol
        ) >= (self._config.executor.max_open_entries_per_symbol):
            return
        if self._rate.wait_s(symbol) > 0:
            return
        open_entry_qty = self._entries.unfilled_qty(symbol)
        for entry in in_flight:
            open_entry_qty += entry.qty - entry.filled_qty
        try:
            request = self._build_request(signal, open_entry_qty)
        except VenueError as exc:
            if is_pushback(exc):
                self._venue_refused(signal, exc)
            else:  # a definitive answer to a read (say, a symbol the venue does not list)
                self.ctx.events.record("entry_refused", str(exc), symbol=symbol, level="WARNING")
            return
        except InsufficientBalance as exc:
            self.ctx.metrics.inc("orders_rejected")
            self.ctx.events.record("entry_refused", str(exc), symbol=symbol, level="WARNING")
            return
        except OrderRefused as exc:
            logger.debug("[{}] entry refused: {}", symbol, exc)
            return
        self._submit(request, signal)

    def _rules_for(self, symbol: str) -> SymbolRules:
        rules = self._rules.get(symbol)
        if rules is None:
            rules = self._rules[symbol] = self._exchange.symbol_rules(symbol)
        return rules

    def _build_request(self, signal: Signal, open_entry_qty: Decimal) -> OrderRequest:
        symbol = signal.symbol
        rules = self._rules_for(symbol)
        self._ensure_ledger()
        # The ledger, not REST: reading the account before every entry spent most of the venue's budget.
        size = size_entry(
            symbol=symbol,
            price=signal.price,
            params=self._config.params_for(symbol),
            rules=rules,
            position_qty=self._ledger.position(symbol),
            open_entry_qty=open_entry_qty,
            free_quote=self._ledger.free(quote_of(symbol)),
            # The venue's highest fee, not a fixed share: an entry that fits only under a lower fee is
            # refused by the venue (or leaves less than expected where the fee comes off the quote).
            fee_rate=self._exchange.capabilities.max_fee_rate,
        )
        coid = ClientId(self._prefix, OrderPurpose.ENTRY, self._keys.next_key()).encode()
        return OrderRequest(
            client_order_id=coid, symbol=symbol, side=Side.BUY, qty=size.qty, price=size.price
        )

    def _submit(self, request: OrderRequest, signal: Signal) -> None:
        symbol = request.symbol
        protection = None
        if signal.take_profit is not None or signal.stop_loss is not None:
            protection = EntryProtection(take_profit=signal.take_profit, stop_loss=signal.stop_loss)
        entry = TrackedEntry(
            client_order_id=request.client_order_id,
            symbol=symbol,
            qty=request.qty,
            price=request.price,
            placed_ns=self.ctx.clock.monotonic_ns(),
            protection=protection,
        )
        self._rate.record_order(symbol)
        self._ledger.reserve(
            request.client_order_id, quote_of(symbol), request.qty * request.price, price=request.price
        )
        if self._pipe is not None:
            # Written with every entry decided before the flush: the signals already in the inbox (the
            # rest of this tick's) reach the venue in the same write, not one sender hop after another.
            # Its timeout, journal intent and tick-to-order figure are made after the write.
            self._await_answer(entry, signal, timed=False)
            self._burst.append(_Piped(request, protection, signal))
            if len(self._burst) == 1 and not self._deciding_tick:
                self.actor_ref.tell(_FLUSH_ENTRIES)
            return
        self._observe_tick_to_order(signal)
        self._dispatch(entry, signal, request, protection, self._intent(request, signal))

    def _intent(self, request: OrderRequest, signal: Signal) -> OrderIntent:
        return OrderIntent.of(request, ts_init=self.ctx.clock.wall_ns(), reason=signal.strategy)

    def _observe_tick_to_order(self, signal: Signal) -> None:
        self.ctx.metrics.observe_tick_to_order_ns(self.ctx.clock.wall_ns() - signal.quote_ts_init)

    def _dispatch(
        self,
        entry: TrackedEntry,
        signal: Signal,
        request: OrderRequest,
        protection: EntryProtection | None,
        intent: OrderIntent,
    ) -> None:
        """Hand the entry to the least loaded sender; with none running, send it on this thread."""
        send = SendOrder(request=request, protection=protection)
        for sender in self._senders.candidates():
            if self.ctx.directory.tell_if_present(sender, send):
                # The sender is woken first; the journal hears of the intent right after (still before
                # any answer, which comes through this inbox).
                record_in_journal(self.ctx, intent)
                self._senders.handed(sender)
                self._await_answer(entry, signal)
                return
        # No sender running (none configured, or all of them restarting): send on this thread.
        record_in_journal(self.ctx, intent)
        self._sent(entry, signal, send_order(self._exchange, request, protection, None))

    def _await_answer(self, entry: TrackedEntry, signal: Signal, *, timed: bool = True) -> None:
        """``timed=False``: the entry waits for its burst's write, which starts its timeout."""
        coid = entry.client_order_id
        self._sending[coid] = _Sending(entry, signal, self._send_timeout(coid) if timed else None)
        self._in_flight[coid] = entry

    def _send_timeout(self, client_order_id: str) -> TimerHandle:
        return self.schedule(
            self._config.executor.send_timeout_s, SendTimedOut(client_order_id=client_order_id)
        )

    def on_flush_entries(self, _: FlushEntries) -> None:
        """Write the burst of entries decided since the first one's flush was told (signals that came one
        by one, or a tick whose closing message found a backlog: its collector hold ends here); a tick's
        signals are otherwise written by their own handler."""
        try:
            self._flush()
        finally:
            self._release_collection_when_written()

    def _flush(self) -> None:
        """Write the entries decided and not written yet, together; the venue's answers come back as
        ``OrderSent`` like a sender's. What the pipe does not take (its connection down, the budget
        spent) goes to the senders as usual."""
        burst, self._burst = self._burst, []
        if not burst or self._pipe is None:
            return
        requests = [piped.request for piped in burst]
        written = self._pipe.pipe_orders(requests, self._answer_teller(burst))
        for piped in burst[:written]:
            coid = piped.request.client_order_id
            sending = self._sending.get(coid)
            if sending is not None:  # no answer can have been applied yet: it comes through this inbox
                self._sending[coid] = replace(sending, timer=self._send_timeout(coid))
                self._piped.add(coid)
            self._observe_tick_to_order(piped.signal)
            record_in_journal(self.ctx, self._intent(piped.request, piped.signal))
        if written:
            self.ctx.metrics.inc("entries_pipelined", written)
        for piped in burst[written:]:
            sending = self._take_sending(piped.request.client_order_id)
            if sending is not None:
                self._observe_tick_to_order(piped.signal)
                intent = self._intent(piped.request, piped.signal)
                self._dispatch(sending.entry, sending.signal, piped.request, piped.protection, intent)

    def _answer_teller(self, burst: Sequence[_Piped]) -> OrderAnswer:
        """Where the pipe's reader thread delivers each answer: to the executor now running, by name."""
        protections = {piped.request.client_order_id: piped.protection for piped in burst}
        directory = self.ctx.directory

        def tell(request: OrderRequest, snapshot: OrderSnapshot | None, error: BaseException | None) -> None:
            protection = protections.get(request.client_order_id)
            directory.tell_if_present(EXECUTOR, order_sent(request, protection, None, snapshot, error))

        return tell

    def on_order_sent(self, sent: OrderSent) -> None:
        """A sender's answer. Usually the entry still waits for it; otherwise an order event or the
        lookup after a timeout got there first, or a previous incarnation handed the entry out."""
        if sent.sender is not None:
            self._senders.answered(sent.sender)
        coid = sent.request.client_order_id
        if sent.snapshot is not None:
            self._proven(coid)
        sending = self._take_sending(coid)
        if sending is not None:
            sending.cancel_timer()
            self._sent(sending.entry, sending.signal, sent)
            return
        current = self._entries.get(coid)
        if current is not None or coid in self._finished:  # its order events came first
            if sent.outcome is SendOutcome.UNKNOWN:
                # The answer was lost, yet the venue's events already proved the order: said once, as
                # any unknown outcome is, and counted as resolved.
                self.ctx.metrics.inc("outcome_unknown_resolved")
                self.ctx.events.record(
                    "order_outcome_unknown",
                    f"{coid}: {sent.error}; already confirmed by its order events",
                    symbol=sent.request.symbol,
                    level="WARNING",
                )
            elif current is not None and sent.snapshot is not None:
                self._update(current, sent.snapshot)  # the answer only adds what it knows
            return
        unresolved = self._unresolved.get(coid)
        if unresolved is not None:  # being looked up after a timeout: the answer settles it
            if sent.snapshot is not None:
                self._take_unresolved(coid)
                self.ctx.metrics.inc("outcome_unknown_resolved")
                self._accepted(unresolved, sent.snapshot)
            return
        entry = TrackedEntry(
            client_order_id=coid,
            symbol=sent.request.symbol,
            qty=sent.request.qty,
            price=sent.request.price,
            placed_ns=self.ctx.clock.monotonic_ns(),
            protection=sent.protection,
        )
        self._sent(entry, None, sent)

    def on_send_timed_out(self, message: SendTimedOut) -> None:
        """No answer from the sender (it died with the entry): the order may exist; ask, never resend."""
        sending = self._take_sending(message.client_order_id)
        if sending is not None:
            self._outcome_unknown(sending.entry, "no answer from the order sender")

    def _sent(self, entry: TrackedEntry, signal: Signal | None, sent: OrderSent) -> None:
        """Apply the venue's answer to an entry that waited for it (``signal``: None when a previous
        incarnation decided it; a refusal then has no signal left to retry)."""
        coid, symbol, error = entry.client_order_id, entry.symbol, sent.error
        if sent.outcome is SendOutcome.PLACED and sent.snapshot is not None:
            self._accepted(entry, sent.snapshot)
            return
        if sent.outcome is SendOutcome.UNKNOWN:
            self._outcome_unknown(entry, str(error))
            return
        self._ledger.release(coid)
        self._cancel_when_placed.discard(coid)  # it will never be placed
        if sent.outcome is SendOutcome.REFUSED:
            # Never sent (refused before or at the door): the signal waits, a retry gets a fresh id.
            self.ctx.metrics.inc("rate_limited")
            self._note(entry, "skipped", str(error))
            venue_error = error if isinstance(error, VenueError) else None
            if signal is not None:
                self._venue_refused(signal, venue_error)
            elif isinstance(venue_error, FatalVenueError):
                self._report_auth(str(venue_error))
            return
        self.ctx.metrics.inc("orders_rejected")
        self._note(entry, "rejected", str(error))
        self.ctx.events.record("order_rejected", f"{coid}: {error}", symbol=symbol, level="WARNING")

    def _take_sending(self, client_order_id: str) -> _Sending | None:
        """The entry handed to a sender, no longer awaited (its answer or its first event came)."""
        self._in_flight.pop(client_order_id, None)
        self._piped.discard(client_order_id)
        return self._sending.pop(client_order_id, None)

    def _take_unresolved(self, client_order_id: str) -> TrackedEntry:
        """The entry being looked up, settled."""
        self._in_flight.pop(client_order_id, None)
        return self._unresolved.pop(client_order_id)

    def _outcome_unknown(self, entry: TrackedEntry, why: str) -> None:
        self._unresolved[entry.client_order_id] = entry
        self._in_flight[entry.client_order_id] = entry
        self._note(entry, "outcome_unknown", why)
        self.ctx.events.record(
            "order_outcome_unknown",
            f"{entry.client_order_id}: {why}; asking the venue before anything else",
            symbol=entry.symbol,
            level="WARNING",
        )
        self.on_resolve_order(ResolveOrder(client_order_id=entry.client_order_id, symbol=entry.symbol))

    def _accepted(self, entry: TrackedEntry, snapshot: OrderSnapshot, *, asked_ns: int | None = None) -> None:
        self.ctx.metrics.inc("orders_submitted")
        self.ctx.events.record(
            "order_placed",
            f"{entry.client_order_id} buy {snapshot.qty} @ {snapshot.price} (venue id "
            f"{snapshot.venue_order_id})",
            symbol=entry.symbol,
        )
        entry = replace(entry, venue_order_id=snapshot.venue_order_id)
        self._entries[entry.client_order_id] = entry
        self._expire_later(entry.client_order_id)
        self._update(entry, snapshot, asked_ns=asked_ns)
        self._cancel_if_requested(entry.client_order_id)

    def _cancel_if_requested(self, client_order_id: str) -> None:
        """An entry that was in flight when every open entry was cancelled is cancelled once placed."""
        if client_order_id in self._cancel_when_placed:
            self._cancel_when_placed.discard(client_order_id)
            entry = self._entries.get(client_order_id)
            if entry is not None and not entry.cancel_requested:
                self._cancel(entry, "cancel entries")

    # -- outcome unknown --------------------------------------------------------------------------------

    def on_resolve_order(self, message: ResolveOrder) -> None:
        """Ask the venue for the client order id (by the order reader). Found: track it. Not found: the
        order never arrived; entries are perishable, so it is dropped, never blindly resent."""
        entry = self._unresolved.get(message.client_order_id)
        if entry is None or entry.client_order_id in self._reading:
            return
        if not self._read([entry], resolve_attempt=message.attempt):
            # No reader running: asked again once it runs (``OrderReaderStarted``) or by this timer.
            self._resolve_later(entry, message.attempt, None)

    def _resolve_later(self, entry: TrackedEntry, attempt: int, error: VenueError | None) -> None:
        """The lookup failed (refused, unanswered or odd) or could not be asked: ask again later, never
        resend blindly."""
        attempt += 1
        delay_s = max(
            RESOLVE_DELAYS_S[min(attempt, len(RESOLVE_DELAYS_S) - 1)],
            self._retry_in_s(error, priority=True),
        )
        logger.warning(
            "[{}] still resolving {} ({}); next query in {}s",
            entry.symbol,
            entry.client_order_id,
            error or "no order reader running",
            delay_s,
        )
        self.schedule(
            delay_s,
            ResolveOrder(client_order_id=entry.client_order_id, symbol=entry.symbol, attempt=attempt),
        )

    def _resolved(self, read: EntryRead, attempt: int) -> None:
        """The answer to a lookup after an unknown outcome."""
        coid = read.client_order_id
        entry = self._unresolved.get(coid)
        if entry is None:  # settled meanwhile (its order event or its sender's answer came first)
            current = self._entries.get(coid)
            if current is not None and read.snapshot is not None:
                self._update(current, read.snapshot, asked_ns=read.asked_ns)
            return
        if read.snapshot is not None:
            self._take_unresolved(coid)
            self.ctx.metrics.inc("outcome_unknown_resolved")
            self._accepted(entry, read.snapshot, asked_ns=read.asked_ns)
            return
        if isinstance(read.error, UnknownOrder):
            self._take_unresolved(coid)
            self._ledger.release(coid)
            self.ctx.metrics.inc("outcome_unknown_resolved")
            self._note(entry, "not_placed", "unknown to the venue after an unknown outcome")
            self.ctx.events.record(
                "order_not_placed", f"{coid} never reached the venue; not resent", symbol=entry.symbol
            )
            return
        self._resolve_later(entry, attempt, read.error)

    # -- reads (by the order reader) --------------------------------------------------------------------

    def _read(self, entries: Iterable[TrackedEntry], *, resolve_attempt: int | None = None) -> bool:
        """Ask the order reader to read ``entries`` (those not being read already). False when no reader
        runs: nothing was asked, and the caller keeps the debt."""
        todo = [e for e in entries if e.client_order_id not in self._reading]
        if not todo:
            return True
        self._last_read_id += 1
        read_id = self._last_read_id
        refs = tuple(EntryRef(e.client_order_id, e.symbol, e.venue_order_id) for e in todo)
        if not self.ctx.directory.tell_if_present(ORDER_READER, ReadEntries(read_id=read_id, entries=refs)):
            return False
        for entry in todo:
            self._reading[entry.client_order_id] = _Reading(read_id, resolve_attempt)
        return True

    def _proven(self, client_order_id: str) -> None:
        """An order event or a send's answer for the entry: a read under way cannot make it unknown."""
        reading = self._reading.get(client_order_id)
        if reading is not None:
            reading.proven = True

    def on_entries_read(self, answer: EntriesRead) -> None:
        """The order reader's answer, applied to the entries as they are now: an entry that ended
        meanwhile is left alone (its read is dropped), a fill already reported is not reported again (the
        watermark), and one an order event proved meanwhile stays tracked whatever the read says."""
        self.ctx.metrics.inc("entry_reads", len(answer.reads))
        owed = False
        for read in answer.reads:
            coid = read.client_order_id
            reading = self._reading.get(coid)
            if reading is not None and reading.read_id == answer.read_id:
                del self._reading[coid]
            else:
                reading = None  # asked of a reader since restarted and asked again: only its snapshot tells
            if reading is not None and (reading.resolve_attempt is not None or coid in self._unresolved):
                self._resolved(read, reading.resolve_attempt or 0)
                continue
            entry = self._entries.get(coid)
            if entry is None:
                continue
            if read.snapshot is not None:
                self._reread.discard(coid)
                # Dated by when the read was sent, not when its answer came: a quote that reached the entry
                # while the read was under way is younger than what it heard (simulation,
                # .ci/simulate.yaml with faults turned up, seed 6 at 1119.7 s: the venue traded the entry
                # while the read was on its way; that quote looked older than the read and nothing read
                # the fill).
                self._update(entry, read.snapshot, asked_ns=read.asked_ns)
                self._cancel_if_expired(coid)
            elif isinstance(read.error, UnknownOrder):
                if reading is not None and not reading.proven:
                    self._gone(entry)
            elif read.error is not None:  # owed: read again as soon as the venue allows
                logger.debug("[{}] read of {} failed: {}", entry.symbol, coid, read.error)
                self._reread.add(coid)
                owed = True
        if owed:
            self._poll_when_allowed()

    def _gone(self, entry: TrackedEntry) -> None:
        self._untrack(entry.client_order_id)
        self._note(entry, "gone", "unknown to the venue")
        self.ctx.events.record(
            "order_gone",
            f"{entry.client_order_id} unknown to the venue; no longer tracked",
            symbol=entry.symbol,
            level="WARNING",
        )

    def _cancel_if_expired(self, coid: str) -> None:
        current = self._entries.get(coid)
        if current is None or current.cancel_requested:
            return
        age_s = (self.ctx.clock.monotonic_ns() - current.placed_ns) / NS_PER_S
        if age_s >= self._config.executor.entry_timeout_s:
            self._cancel(current, "entry timeout")

    def on_order_reader_started(self, _: OrderReaderStarted) -> None:
        """The reader (re)started: what a previous incarnation was reading died with it, and what could
        not be asked while none ran is owed. Ask again now."""
        lost, self._reading = self._reading, {}
        self._reread.update(coid for coid in lost if coid in self._entries)
        for coid, entry in list(self._unresolved.items()):
            self.on_resolve_order(ResolveOrder(client_order_id=coid, symbol=entry.symbol))
        if self._reread:
            self._poll_now()

    # -- polling ----------------------------------------------------------------------------------------

    def _poll_now(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.cancel()
        self.on_poll_orders(PollOrders())

    def on_poll_orders(self, _: PollOrders) -> None:
        """Ask the order reader to read every tracked entry not being read already (it schedules the next
        poll). With no reader running they are owed, read as soon as it runs."""
        self._poll_timer = None
        budget = self._exchange.request_budget
        if budget.wait_s(priority=True) == 0:  # reads wait while the venue says so
            entries = list(self._entries.values())
            if not self._read(entries):
                self._reread.update(e.client_order_id for e in entries)
        # An entry owed a re-read leaves the set once read or untracked (``_untrack``); one being read
        # is owed only if its read fails (``on_entries_read`` brings the poll forward then).
        venue_wait_s = budget.wait_s(priority=True)
        reread_owed = any(coid not in self._reading for coid in self._reread)
        self._schedule_poll(entry_poll_delay_s(self._poll_interval_s, venue_wait_s, reread_owed=reread_owed))

    def _watch_unreported(self) -> None:
        """While entries rest, look every half ``monitor.max_unprotected_s`` for one the market traded
        through without its fill event arriving (a lagging stream): its fill must be protected in time."""
        if self._quotes is None or self._unreported_timer is not None or not self._entries:
            return
        self._unreported_timer = self.schedule(
            self._config.monitor.max_unprotected_s / 2, CheckUnreportedFills()
        )

    def on_check_unreported_fills(self, _: CheckUnreportedFills) -> None:
        """Read (REST, by the order reader) each resting entry whose price the market reached after its
        newest event: one read per such quote, none while the stream reports on time. Down, the fast poll
        reads them anyway. While the venue holds reads off, such an entry is owed a read as soon as it
        allows: the quote that reached it may be gone by then (simulation, ``.ci/simulate.yaml`` with
        faults turned up, seed 4 at 83.6 s: the fill's event came 3.4 s late, 1.06 s past a Retry-After).
        While our feed has been quiet longer than ``monitor.max_unprotected_s`` the venue's quotes are
        read first (``VenueQuotesRead`` continues the look): a stalled feed froze our quotes while the
        venue traded an entry whose event came late, and nothing looked for the fill (simulation,
        config.yaml seed 53: 1.9 s without an exit)."""
        self._unreported_timer = None
        try:
            if not self._ledger.live or self._quotes is None:
                return
            held_off = self._exchange.request_budget.wait_s(priority=True) > 0
            newest = max((q.ts_init for q in map(self._quotes, self._config.symbols) if q), default=None)
            stalled = feed_quiet(newest, self.ctx.clock.wall_ns(), self._config.monitor.max_unprotected_s)
            if stalled and not held_off:
                symbols = sorted({e.symbol for e in self._entries.values() if not e.cancel_requested})
                ask = ReadVenueQuotes(symbols=tuple(symbols))
                if symbols and self.ctx.directory.tell_if_present(ORDER_READER, ask):
                    return
            self._look_for_unreported({}, held_off=held_off)
        finally:
            self._watch_unreported()

    def on_venue_quotes_read(self, message: VenueQuotesRead) -> None:
        """The venue's quotes while our feed is stalled: the look for unreported fills goes on with them
        (where one could not be read, with our feed's)."""
        if not self._ledger.live:
            return
        held_off = self._exchange.request_budget.wait_s(priority=True) > 0
        self._look_for_unreported({q.symbol: q for q in message.quotes}, held_off=held_off)

    def _look_for_unreported(self, venue_quotes: Mapping[str, Quote], *, held_off: bool) -> None:
        if self._quotes is None:
            return
        reached: list[TrackedEntry] = []
        for entry in self._entries.values():
            if entry.cancel_requested:
                continue
            quote = venue_quotes.get(entry.symbol) or self._quotes(entry.symbol)
            if quote is not None and fill_may_be_unreported(entry.price, entry.heard_ns, quote):
                reached.append(entry)
        if held_off or not self._read(reached):  # reads wait while the venue says so, or for a reader
            self._owe_reread([e.client_order_id for e in reached])

    def on_market_data_gap(self, _: MarketDataGap) -> None:
        """The feed started again: the quotes of its down time are lost, and with them any sign that the
        market traded a resting entry whose event is late. Each resting entry is owed a read."""
        self._owe_reread([coid for coid, entry in self._entries.items() if not entry.cancel_requested])

    def _owe_reread(self, coids: Iterable[str]) -> None:
        """Tracked entries the venue may have traded unseen: read each by REST as soon as the venue
        allows (the poll comes forward; it reads every tracked entry and settles the debt)."""
        fresh = [coid for coid in coids if coid in self._entries and coid not in self._reread]
        if not fresh:
            return
        self._reread.update(fresh)
        self._poll_when_allowed()

    def _poll_when_allowed(self) -> None:
        """Reads are owed: the poll comes forward to when the venue allows them."""
        venue_wait_s = self._exchange.request_budget.wait_s(priority=True)
        self._schedule_poll(entry_poll_delay_s(self._poll_interval_s, venue_wait_s, reread_owed=True))

    def on_user_stream_status(self, message: UserStreamStatus) -> None:
        """Connected (and the ledger re-based): re-read every tracked entry by REST once, since events
        missed while disconnected are never replayed; then poll only as a safety net. Disconnected:
        poll at the fast interval from now."""
        if message.connected:
            self._reread.update(self._entries)
            self._poll_now()  # the REST sweep now; it schedules the next one
        else:
            self._schedule_poll()

    def _expire_later(self, coid: str) -> None:
        """(Re)arm the entry's expiry, ``executor.entry_timeout_s`` from now."""
        previous = self._expiries.pop(coid, None)
        if previous is not None:
            previous.cancel()
        timer = self.schedule(self._config.executor.entry_timeout_s, ExpireEntry(client_order_id=coid))
        self._expiries[coid] = timer

    def _untrack(self, coid: str) -> None:
        """The entry is no longer tracked (ended, or unknown to the venue): its expiry goes with it."""
        self._entries.pop(coid, None)
        self._reread.discard(coid)
        timer = self._expiries.pop(coid, None)
        if timer is not None:
            timer.cancel()

    def on_expire_entry(self, message: ExpireEntry) -> None:
        self._expiries.pop(message.client_order_id, None)
        entry = self._entries.get(message.client_order_id)
        if entry is not None and not entry.cancel_requested:
            self._cancel(entry, "entry timeout")

    # -- order events (push) ----------------------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> None:
        """An entry's event from the user stream. Also applied when it arrives before the order's
        acknowledgement (an unknown outcome still being resolved) or for an entry placed by a previous
        incarnation; a replay that brings no progress changes nothing."""
        coid = update.client_order_id
        self._proven(coid)
        entry = self._entries.get(coid)
        confirmed: TrackedEntry | None = None  # waiting for the sender's answer or being looked up
        if entry is None:
            sending = self._take_sending(coid)
            if sending is not None:  # the event came before the sender's answer
                sending.cancel_timer()
                confirmed = sending.entry
                self.ctx.metrics.inc("orders_submitted")
            elif coid in self._unresolved:
                confirmed = self._take_unresolved(coid)
                self.ctx.metrics.inc("outcome_unknown_resolved")
        if confirmed is not None:
            entry = replace(confirmed, venue_order_id=update.venue_order_id)
            self.ctx.events.record(
                "order_placed",
                f"{coid} confirmed by its order event (venue id {update.venue_order_id})",
                symbol=update.symbol,
            )
            self._entries[coid] = entry
            self._expire_later(coid)
        if entry is None:
            done = self._finished.get(coid)
            if done is not None or update.side is not Side.BUY or not self._is_our_entry(coid):
                return  # late event of a finished entry, or not an entry of ours
            if not update.kind.is_fill and update.kind.is_terminal:
                return  # an entry we never tracked ended without a fill: nothing to do
            # What it had filled when the account was read (the process's start) is held and protected
            # already: only the rest is a new fill (simulation, .ci/simulate.yaml with faults turned up,
            # seed 6 at 1883.5 s: a restarted process reported an entry's whole fill, an exit asked for
            # the part bought before the crash a second time).
            entry = TrackedEntry(
                client_order_id=coid,
                symbol=update.symbol,
                qty=update.order_qty,
                price=update.price,
                placed_ns=self.ctx.clock.monotonic_ns(),
                venue_order_id=update.venue_order_id,
                filled_qty=min(self._ledger.rebased_fill(coid), update.cum_filled_qty),
            )
            self._entries[coid] = entry
            self.ctx.events.record(
                "entries_adopted", f"{coid} adopted from its order event", symbol=update.symbol
            )
            self._expire_later(coid)
        delta = update.cum_filled_qty - entry.filled_qty
        price: Decimal | None = None
        fee = entry.fee
        if update.kind.is_fill and delta > 0:
            price = update.price_of(delta)
            fee = entry.fee + update.fee_of(delta)
        elif delta > 0:
            # More filled than any fill event told (that event lost, or skipped as malformed): the
            # order's average, as a read of it would say. Taken in silently, the fill was never reported
            # and the entry ended with it: never protected.
            price = update.avg_fill_price or update.price
        self._progress(
            entry,
            filled_qty=max(update.cum_filled_qty, entry.filled_qty),
            fill_price=price,
            fee_total=fee,
            fee_asset=update.fee_asset,
            status=update.kind.order_status,
            venue_order_id=update.venue_order_id,
            order_qty=update.order_qty,
            ts_event=update.ts_event,
            heard_ns=update.ts_event,
        )
        if confirmed is not None:
            self._cancel_if_requested(coid)

    def _update(self, entry: TrackedEntry, snapshot: OrderSnapshot, *, asked_ns: int | None = None) -> None:
        """A REST snapshot (cumulative): report the fill delta since what was last seen. ``asked_ns``: when
        the read was sent (the venue's state is known from then on; by default, now)."""
        record_in_journal(self.ctx, OrderObserved(order=snapshot, ts_init=self.ctx.clock.wall_ns()))
        # A read older than the newest event (one came while it was under way) does not set it back.
        older = snapshot.filled_qty < entry.filled_qty and not snapshot.status.is_terminal
        self._progress(
            entry,
            filled_qty=max(snapshot.filled_qty, entry.filled_qty),
            fill_price=snapshot.avg_fill_price or snapshot.price,
            fee_total=max(snapshot.fee, entry.fee),
            fee_asset=snapshot.fee_asset,
            status=entry.status if older else snapshot.status,
            venue_order_id=snapshot.venue_order_id,
            order_qty=snapshot.qty,
            ts_event=snapshot.ts_event,
            heard_ns=self.ctx.clock.wall_ns() if asked_ns is None else asked_ns,
        )

    def _progress(
        self,
        entry: TrackedEntry,
        *,
        filled_qty: Decimal,
        fill_price: Decimal | None,
        fee_total: Decimal,
        fee_asset: str,
        status: OrderStatus,
        venue_order_id: str,
        order_qty: Decimal,
        ts_event: int,
        heard_ns: int,
    ) -> None:
        """Report the fill delta since the last seen cumulative quantity; forget terminal orders.
        The watermark makes a replayed event or a REST read of an already reported fill a no-op."""
        delta = filled_qty - entry.filled_qty
        if delta > 0 and fill_price is not None:
            fee_delta = fee_total - entry.fee
            price = fill_price
            self.ctx.metrics.inc("orders_filled")
            fill = OrderFilled(
                symbol=entry.symbol,
                client_order_id=entry.client_order_id,
                venue_order_id=venue_order_id,
                side=Side.BUY,
                purpose=OrderPurpose.ENTRY,
                fill_qty=delta,
                fill_price=price,
                fee=max(fee_delta, Decimal(0)),
                fee_asset=fee_asset,
                cum_filled_qty=filled_qty,
                order_qty=order_qty,
                protection=entry.protection,
                ts_event=ts_event,
                ts_init=self.ctx.clock.wall_ns(),
            )
            self.ctx.events.record(
                "order_filled",
                f"{entry.client_order_id} filled {delta} @ {price} ({filled_qty}/{order_qty})",
                symbol=entry.symbol,
            )
            self.ctx.directory.tell(MONITOR, fill)
        entry = replace(
            entry,
            filled_qty=filled_qty,
            fee=max(fee_total, entry.fee),
            status=status,
            venue_order_id=venue_order_id or entry.venue_order_id,
            heard_ns=max(entry.heard_ns, heard_ns),
        )
        if status.is_terminal:
            self._untrack(entry.client_order_id)
            self._finished.put(entry.client_order_id, entry.filled_qty)
            self._ledger.release(entry.client_order_id)
            if status is OrderStatus.CANCELED or status is OrderStatus.EXPIRED:
                self.ctx.metrics.inc("orders_canceled")
                self.ctx.directory.tell(
                    MONITOR,
                    OrderCanceled(
                        symbol=entry.symbol,
                        client_order_id=entry.client_order_id,
                        venue_order_id=entry.venue_order_id,
                        purpose=OrderPurpose.ENTRY,
                        ts_init=self.ctx.clock.wall_ns(),
                    ),
                )
            elif status is OrderStatus.REJECTED:
                self.ctx.metrics.inc("orders_rejected")
        else:
            self._entries[entry.client_order_id] = entry
            self._watch_unreported()

    def _note(self, entry: TrackedEntry, status: str, detail: str) -> None:
        note = OrderNoted(
            client_order_id=entry.client_order_id,
            symbol=entry.symbol,
            status=status,
            detail=detail,
            ts_init=self.ctx.clock.wall_ns(),
        )
        record_in_journal(self.ctx, note)

    # -- cancels ----------------------------------------------------------------------------------------

    def _cancel(self, entry: TrackedEntry, why: str) -> bool:
        try:
            snapshot = self._exchange.cancel_order(
                entry.symbol,
                venue_order_id=entry.venue_order_id or None,
                client_order_id=entry.client_order_id,
            )
        except UnknownOrder:
            # Not open at the venue any more (Binance -2011 for a filled or cancelled order), or never
            # there: only a read tells which. Dropped here, a fill whose event was missed (the stream
            # down) was never reported, nor protected. The read settles it: a fill is reported, an order
            # the venue does not know is gone, one still open and expired is cancelled again.
            self._owe_reread([entry.client_order_id])
            return False
        except VenueError as exc:
            if not is_pushback(exc):
                logger.warning("[{}] cancel of {} refused: {}", entry.symbol, entry.client_order_id, exc)
                return False
            delay_s = self._retry_in_s(exc, priority=True)
            logger.warning(
                "[{}] cancel of {} refused ({}); retrying in {:.2f}s",
                entry.symbol,
                entry.client_order_id,
                exc,
                delay_s,
            )
            self.schedule(delay_s, RetryCancel(client_order_id=entry.client_order_id))
            return False
        self.ctx.events.record("order_cancelled", f"{entry.client_order_id} ({why})", symbol=entry.symbol)
        self._update(replace(entry, cancel_requested=True), snapshot)
        return True

    def on_retry_cancel(self, message: RetryCancel) -> None:
        entry = self._entries.get(message.client_order_id)
        if entry is not None and not entry.cancel_requested:
            self._cancel(entry, "retry after the venue refused")

    def on_cancel_entries(self, _: CancelEntries) -> int:
        """Cancel every open entry (shutdown, operator); those still in flight are cancelled once placed.
        Returns how many were cancelled now."""
        self._cancel_when_placed.update(self._sending)
        cancelled = 0
        for entry in list(self._entries.values()):
            if self._cancel(entry, "cancel entries"):
                cancelled += 1
        return cancelled

    # -- queries ----------------------------------------------------------------------------------------

    def on_get_snapshot(self, _: GetSnapshot) -> ExecutorView:
        return ExecutorView(
            entries=tuple(self._entries.values()),
            unresolved=tuple(self._unresolved.values()),
            gates=MappingProxyType(dict(self._gates)),
            waiting=tuple(sorted(self._waiting)),
            sending=tuple(s.entry for s in self._sending.values()),
        )
