"""Messages private to the actor layer: timers told to oneself and queries (asks).

Domain messages live in ``core.messages``; these only make sense inside ``actors/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from autohedge.core.actor_names import ActorName
from autohedge.core.errors import UnknownOrder, VenueError
from autohedge.core.messages import EntryProtection, Message, OrderRequest, OrderSnapshot, Quote, Signal
from autohedge.core.reads import EntryRef
from autohedge.core.sending import SendOutcome

__all__ = [
    "Barrier",
    "CheckExits",
    "CheckLiveness",
    "CheckUserStreamSilence",
    "EntriesRead",
    "EntryRead",
    "ExpireEntry",
    "FlushEntries",
    "GetSnapshot",
    "LedgerLive",
    "MarketDataGap",
    "OrderReaderStarted",
    "OrderSent",
    "PollOrders",
    "ProtectDust",
    "QuotesPending",
    "ReadEntries",
    "ReadOpenEntries",
    "ReadVenueQuotes",
    "RearmExits",
    "Reconcile",
    "ReconnectUserStream",
    "RepairOrphan",
    "ResolveOrder",
    "RetryCancel",
    "RetryEntry",
    "RetryPending",
    "RetryReconcile",
    "RetryRefusedExits",
    "SendOrder",
    "SendTimedOut",
    "StreamConnected",
    "StreamDisconnected",
    "TickSignals",
    "VenueQuotesRead",
]


class Barrier(Message):
    """Ask it to wait until every message told before it has been handled. Returns None."""


class GetSnapshot(Message):
    """Ask for a read-only view of the actor's state (a frozen model or plain dict)."""


class PollOrders(Message):
    """Executor timer: poll tracked entry orders for fills, timeouts and adoption."""


class CheckUnreportedFills(Message):
    """Executor timer: read a resting entry the market traded through whose fill event is late."""


class ResolveOrder(Message):
    """Executor timer: ask the venue whether an order whose submit outcome was unknown exists."""

    client_order_id: str
    symbol: str
    attempt: int = 0


class ReadOpenEntries(Message):
    """Executor (start-up, then timer while the venue refuses): re-read our open entries."""


class RetryEntry(Message):
    """Executor timer: the venue allows sending again; place the waiting entry of ``symbol`` unless stale."""

    symbol: str


class RetryCancel(Message):
    """Executor timer: retry cancelling an entry the venue refused to cancel."""

    client_order_id: str


class RetryPending(Message):
    """Monitor timer: the venue allows sending again; retry refused work in priority order."""


class CheckExits(Message):
    """Monitor timer: verify positions and exit orders against the exchange (and poll prices)."""


class Reconcile(Message):
    """Monitor: adopt every exchange position and arm its exits (start-up and ``SyncPositions``)."""


class RearmExits(Message):
    """Monitor, told to itself on an entry fill: re-arm the exits of ``symbol`` (its position and its lot)
    once for every fill already queued before it, instead of a cancel-and-replace per fill."""

    symbol: str


class ProtectDust(Message):
    """Monitor, told to itself when what a position left was kept as dust: judged at once at the newest
    bid, where an exit of its own may be valid (its position's lower prices made it dust)."""

    symbol: str


class LedgerLive(Message):
    """Monitor, once at start-up: the user stream has re-based the ledger; reconcile from it."""


class RepairOrphan(Message):
    """Monitor timer: the next repair attempt for a position without a live exit."""

    symbol: str


class RetryRefusedExits(Message):
    """Monitor timer: place again the exits (and closes) of ``key`` the venue refused a moment ago.
    ``token`` names the timer: one moved by a later refusal of the key is no longer the key's."""

    key: str
    token: int


class CheckLiveness(Message):
    """Feed timer: has data arrived recently enough?"""


class StreamDisconnected(Message):
    """Told by a stream's reader thread to its feed actor: the connection ended."""

    error: str


class MarketDataGap(Message):
    """Told by a feed actor that starts again to the executor: the quotes of its down time are lost, so
    whether the market reached a resting entry then can only be read from the venue."""

    venue: str


class StreamConnected(Message):
    """Told by a user stream's reader thread to its actor: authenticated and subscribed."""


class CheckUserStreamSilence(Message):
    """User-stream actor timer: has the venue said anything on connection number ``connection`` lately?"""

    connection: int


class ReconnectUserStream(Message):
    """User-stream actor timer: open a new connection after a disconnect or a refused subscription."""


class RetryReconcile(Message):
    """User-stream actor timer: the REST reconciliation after a (re)connect was refused; try again. Also
    told to itself to read the account again when the ledger is unsure of a fill."""


class ExpireEntry(Message):
    """Executor timer: an entry's ``entry_timeout_s`` has passed; cancel it if it is still open."""

    client_order_id: str


class QuotesPending(Message):
    """Told by a feed's reader thread to the monitor (or the strategy runner): newer quotes of the symbols
    it watches wait in its slots. At most one is outstanding at a time (the wake-up budget); the receiver
    takes all of them."""


class TickSignals(Message):
    """Strategy runner -> executor: the signals its lanes decided on one feed batch, decided by the
    executor before its first flush (one write for the tick's entries). The first signal may come on its
    own, ahead of the rest (``more``); then another message always follows with the rest (maybe none)."""

    signals: tuple[Signal, ...]
    more: bool = False
    """More of this tick follows: hold its entries for the write of the message that closes it."""


class SendOrder(Message):
    """Executor -> an order sender: send this entry to the venue and tell back ``OrderSent``."""

    request: OrderRequest
    protection: EntryProtection | None = None


@dataclass(frozen=True)
class OrderSent:
    """An order sender -> the executor: the venue's answer to one ``SendOrder``. A dataclass, not a
    model, because it carries the exception itself (its type is the retry policy, its fields the wait)."""

    request: OrderRequest
    protection: EntryProtection | None
    sender: ActorName | None
    """Which sender sent it (None: the executor's own thread)."""
    outcome: SendOutcome
    snapshot: OrderSnapshot | None = None
    """The acknowledged order (``PLACED`` only)."""
    error: BaseException | None = None


class FlushEntries(Message):
    """Told by the executor to itself after deciding the first entry of a burst: every signal already in
    its inbox is decided before this, and the entries are then written to the venue together."""


class SendTimedOut(Message):
    """Executor timer: an entry handed to a sender got no answer in ``executor.send_timeout_s`` (the
    sender died with it): the order may exist, so it is looked up by client id, never sent again."""

    client_order_id: str


class ReadEntries(Message):
    """Executor -> the order reader: read these entries (the cheapest requests for the venue) and tell
    back ``EntriesRead`` with ``read_id``."""

    read_id: int
    entries: tuple[EntryRef, ...]


@dataclass(frozen=True)
class EntryRead:
    """One entry's read: its snapshot, or the typed error (``UnknownOrder``: the venue does not know it).
    ``asked_ns``: when the request that answered it was sent (wall ns): the venue's state is known from
    then on, not from when the answer came back."""

    client_order_id: str
    asked_ns: int
    snapshot: OrderSnapshot | None = None
    error: VenueError | None = None


@dataclass(frozen=True)
class EntriesRead:
    """The order reader -> the executor: the answer to one ``ReadEntries``, an entry for each one asked.
    A dataclass, not a model: it carries the exceptions themselves (their type is the retry policy)."""

    read_id: int
    asked_ns: int
    """When the sweep's first request was sent (wall ns)."""
    reads: tuple[EntryRead, ...]
    requests: int
    """Requests the sweep made."""
    weight: float
    """What they cost in the venue's budget units (``core.reads.ReadWeights``)."""

    @property
    def snapshots(self) -> tuple[OrderSnapshot, ...]:
        return tuple(r.snapshot for r in self.reads if r.snapshot is not None)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Client ids the venue does not know."""
        return tuple(r.client_order_id for r in self.reads if isinstance(r.error, UnknownOrder))

    @property
    def errors(self) -> tuple[tuple[str, VenueError], ...]:
        """(client id, error) of the reads that failed otherwise (refused, unanswered): asked again."""
        return tuple(
            (r.client_order_id, r.error)
            for r in self.reads
            if r.error is not None and not isinstance(r.error, UnknownOrder)
        )


class ReadVenueQuotes(Message):
    """Executor -> the order reader: read the venue's best quote of these symbols (our feed is stalled)
    and tell back ``VenueQuotesRead``."""

    symbols: tuple[str, ...]


class VenueQuotesRead(Message):
    """The order reader -> the executor: the venue's quotes it could read (a failed one is left out)."""

    quotes: tuple[Quote, ...]


class OrderReaderStarted(Message):
    """The order reader -> the executor, as it starts: reads asked of a previous incarnation died with it;
    ask again."""

    incarnation: int
