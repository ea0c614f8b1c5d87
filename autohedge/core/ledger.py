"""The local account ledger: balances and positions kept from stream events, re-based from REST.

The executor's pre-trade checks and the monitor's exit sizing read it instead of asking the venue
before every order. It is fed by the user stream (fills, pushed balances) and by the executor's
reservations for its open entries, and re-based from REST at start-up and after every reconnect.

Ordering rule: each asset (and, where the venue keeps positions apart from balances, each symbol)
remembers from when on its last authoritative snapshot is blind: a REST read started at ``t`` may miss
fills from ``t`` on; a pushed balance of time ``u`` includes fills up to and including ``u``. A fill
before that point is already inside the snapshot and does not move it again.

Re-base rule (``read_account``): the open orders are read first, then the clock (``as_of_ns``), then the
balances, then the clock again (``answered_ns``). A fill dated before the first reading happened before
the balances were asked for: they hold it, and its event is not applied on top, with or without a
record of its order. That covers an order that ended before or while the open orders were read (they do
not list it); with the clock read before the open orders, such a fill, dated after the reading, was
applied again on top of the balances holding it. A fill the open-orders read saw (``order_fills``) is
inside too. Any other fill is applied. Never missed: a fill the balances lack happened after they were
asked for, so after the first reading, and its event is applied. Never twice: a fill the balances hold
happened before their answer; dated before the first reading or seen by the open-orders read it is not
applied again, and dated between the two readings (the balances read was on its way) the ledger cannot
tell whether they hold it. It is applied and the ledger turns ``unsure``: not ``live``, so no reader
trusts a sum that may count it twice (they ask the venue) until the user stream reads the account
again, after the event: the fill is then dated before that read's first reading, inside it, once.

Thread-safe: the user-stream actor writes while the executor and the monitor read.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from autohedge.core.dedupe import FILL_MEMORY_KEEP_S
from autohedge.core.messages import AccountBalances, Balance, OrderSnapshot, OrderUpdate, PositionSnapshot
from autohedge.core.recent import RecentMap, no_clock
from autohedge.core.types import Side, base_of, quote_of

__all__ = ["ENDED_FILLS_KEPT", "AccountLedger", "AccountRead", "KeptRecord", "read_account"]

_ZERO = Decimal(0)
ENDED_FILLS_KEPT = 1_000
"""Ended orders whose applied fills are remembered at least (the newest), however fast they end. Beside
them every order that ended within ``FILL_MEMORY_KEEP_S``: a late or repeated event comes within seconds
to minutes, and one from before the newest re-base is inside its snapshot without the record."""


@dataclass(frozen=True, slots=True)
class AccountRead:
    """One re-base's reads of the venue, as ``AccountLedger.rebase`` takes them."""

    balances: Mapping[str, Balance]
    positions: tuple[PositionSnapshot, ...]
    as_of_ns: int
    """The clock reading (our wall clock) after the open orders' answer, before the balances request."""
    answered_ns: int
    """The clock read again after the last answer: a fill dated from ``as_of_ns`` to here happened while
    the balances were read (they may hold it or not)."""
    order_fills: Mapping[str, Decimal] | None
    """Each open order's cumulative fill by client order id (None: the open orders were not read)."""


def read_account(
    *,
    wall_ns: Callable[[], int],
    balances: Callable[[], Mapping[str, Balance]],
    positions: Callable[[], Iterable[PositionSnapshot]] | None = None,
    open_orders: Callable[[], Iterable[OrderSnapshot]] | None = None,
) -> AccountRead:
    """Read the account in the order the re-base rule (module docstring) counts each fill once: the open
    orders, then the clock, then the balances and the positions (None: spot, the balances are them).
    Runs on the caller's thread; the reads' errors (``VenueError``) pass through."""
    order_fills = None
    if open_orders is not None:
        order_fills = {o.client_order_id: o.filled_qty for o in open_orders()}
    as_of_ns = wall_ns()  # after the open orders' answer: an order that ended before it is in the balances
    read_balances = balances()
    read_positions = () if positions is None else tuple(positions())
    return AccountRead(read_balances, read_positions, as_of_ns, wall_ns(), order_fills)


@dataclass(slots=True, weakref_slot=True)
class _AppliedFills:
    """What an order's applied events brought into the balances (kept for every open order: small)."""

    qty: Decimal = _ZERO
    """Their fills summed."""
    cum_qtys: tuple[Decimal, ...] = ()
    """The cumulative fill each of them brought the order to (one per fill of the order)."""
    marks: tuple[int, ...] = ()
    """Per entry of ``cum_qtys``, the ledger's ``fill_mark`` once it was applied (0: read by a re-base)."""
    in_snapshot: Decimal = _ZERO
    """The order's cumulative fill as a re-base read it (the venue's ``executedQty`` of an open order): the
    balances include its fills up to there, so their events, late or not, are applied already."""


class KeptRecord:
    """While a reader holds it, the ledger keeps its record of one order beyond the bound on ended orders'
    records (``AccountLedger.keep_record``). Opaque: the reader only keeps it, with what refers to the
    order, and drops it with that."""

    __slots__ = ("_record",)

    def __init__(self, record: _AppliedFills) -> None:
        self._record = record


@dataclass
class _Reservation:
    asset: str
    amount: Decimal
    price: Decimal


class AccountLedger:
    """Balances by asset, positions by symbol, reservations by client order id.

    ``spot``: a position is the base asset's balance (Binance, paper). Otherwise (Alpaca) positions
    are kept apart and fills or the venue's ``position_qty`` move them.

    ``now_ns``: the monotonic clock that ages the records of ended orders (without one, only their count
    bounds them).
    """

    def __init__(self, *, spot: bool = True, now_ns: Callable[[], int] = no_clock) -> None:
        self._spot = spot
        self._lock = threading.Lock()
        self._free: dict[str, Decimal] = {}
        self._locked: dict[str, Decimal] = {}
        self._asset_ts: dict[str, int] = {}
        self._positions: dict[str, Decimal] = {}
        self._position_ts: dict[str, int] = {}
        self._reserved: dict[str, _Reservation] = {}
        # Per order, what this ledger's balances include from its events. An open order's record is kept
        # while it is open, however long: forgotten, its earlier fills would look unapplied when it fills
        # again and a reader would count them twice. Bounded by the venue's open-order limit.
        self._open: dict[str, _AppliedFills] = {}
        self._ended: RecentMap[_AppliedFills] = RecentMap(
            now_ns, keep_s=FILL_MEMORY_KEEP_S, capacity=ENDED_FILLS_KEPT
        )
        """Ended orders' records (a terminal event applied, or a re-base no longer lists them open)."""
        self._kept: weakref.WeakValueDictionary[str, _AppliedFills] = weakref.WeakValueDictionary()
        """Records a reader still refers to (``keep_record``), whatever the bound on ended ones forgets:
        each lives while its ``KeptRecord`` does, so a reader that is gone (a crashed incarnation) leaves
        nothing behind."""
        self._ready = False
        self._live = False
        self._down_since_ns: int | None = None
        self._on_live: list[Callable[[], None]] = []
        self._rebased_as_of_ns: int | None = None
        self._read_window_ns = (0, 0)
        """The newest re-base's balances read: from its clock reading to the reading after its answer."""
        self._unsure = False
        self.rebases = 0
        self._fill_mark = 0
        """Fill events applied and re-bases taken so far: a reader's mark of what its read of the balances
        had taken in."""
        self._rebased_mark = 0
        """``_fill_mark`` as the newest re-base left it: what was marked before it is older than its read."""

    # -- snapshots ------------------------------------------------------------------------------------

    def rebase(
        self,
        balances: Mapping[str, Balance],
        positions: Iterable[PositionSnapshot],
        *,
        as_of_ns: int,
        answered_ns: int | None = None,
        order_fills: Mapping[str, Decimal] | None = None,
    ) -> None:
        """Replace everything with the venue's REST view read at ``as_of_ns`` (taken before the balances
        request, after the open orders' answer: ``read_account``; ``rebase_from`` takes its result).
        Reservations stay: the venue's ``locked`` already includes what our open entries hold.
        ``order_fills``: each open order's cumulative fill by client order id, read before the balances
        (so the balances include it). Without it a fill the re-base took in (its event lost with the
        stream) looked unapplied for as long as the order lived, and one whose event was only late moved
        the balances a second time. Its keys are every open order: an order recorded as open that it does
        not list has ended (its terminal event lost with the stream). ``answered_ns``: the clock after the
        read's last answer (None: ``as_of_ns``, the reads took no time)."""
        with self._lock:
            if order_fills is not None:
                for client_order_id, cum_qty in order_fills.items():
                    if cum_qty > 0:
                        self._take_in_snapshot(client_order_id, cum_qty)
                for client_order_id in [c for c in self._open if c not in order_fills]:
                    self._end(client_order_id)
            self._free = {a: b.free for a, b in balances.items()}
            self._locked = {a: b.locked for a, b in balances.items()}
            self._asset_ts = dict.fromkeys(balances, as_of_ns)
            self._asset_ts["*"] = as_of_ns
            if not self._spot:
                self._positions = {p.symbol: p.qty for p in positions}
                self._position_ts = {p.symbol: as_of_ns for p in positions}
                self._position_ts["*"] = as_of_ns
            self._ready = True
            self._rebased_as_of_ns = as_of_ns
            self._read_window_ns = (as_of_ns, as_of_ns if answered_ns is None else answered_ns)
            self._unsure = False
            self.rebases += 1
            self._fill_mark += 1
            self._rebased_mark = self._fill_mark

    def rebase_from(self, read: AccountRead) -> None:
        """``rebase`` with what ``read_account`` read."""
        self.rebase(
            read.balances,
            read.positions,
            as_of_ns=read.as_of_ns,
            answered_ns=read.answered_ns,
            order_fills=read.order_fills,
        )

    def apply_balances(self, update: AccountBalances) -> None:
        """A pushed balance snapshot (authoritative for the assets it lists)."""
        with self._lock:
            for balance in update.balances:
                if update.ts_event + 1 < self._ts(self._asset_ts, balance.asset):
                    continue  # older than what we already hold
                self._free[balance.asset] = balance.free
                self._locked[balance.asset] = balance.locked
                self._asset_ts[balance.asset] = update.ts_event + 1

    # -- orders ---------------------------------------------------------------------------------------

    def reserve(self, client_order_id: str, asset: str, amount: Decimal, *, price: Decimal) -> None:
        """An entry is about to be sent: hold ``amount`` of ``asset`` (at order ``price``) for it."""
        with self._lock:
            self._free[asset] = self._free.get(asset, _ZERO) - amount
            self._locked[asset] = self._locked.get(asset, _ZERO) + amount
            self._reserved[client_order_id] = _Reservation(asset, amount, price)

    def release(self, client_order_id: str) -> None:
        """The entry ended (refused, canceled, expired, rejected, filled): free what it still holds."""
        with self._lock:
            self._release(client_order_id)

    def _release(self, client_order_id: str) -> None:
        reservation = self._reserved.pop(client_order_id, None)
        if reservation is None or reservation.amount <= 0:
            return
        asset = reservation.asset
        self._locked[asset] = self._locked.get(asset, _ZERO) - reservation.amount
        self._free[asset] = self._free.get(asset, _ZERO) + reservation.amount

    def apply(self, update: OrderUpdate) -> None:
        """Apply one order event: a fill moves balances (and positions); an end releases the reservation."""
        with self._lock:
            if update.kind.is_fill and update.last_qty > 0:
                applied = self._record(update.client_order_id)
                inside = applied is not None and update.cum_filled_qty <= applied.in_snapshot
                if self._apply_fill(update, inside=inside):
                    self._unsure = True
                self._remember_applied(update.client_order_id, update.last_qty, update.cum_filled_qty)
            if update.kind.is_terminal:
                self._end(update.client_order_id)
                reservation = self._reserved.get(update.client_order_id)
                if reservation is not None and update.ts_event < self._ts(self._asset_ts, reservation.asset):
                    del self._reserved[update.client_order_id]  # the snapshot already freed it
                else:
                    self._release(update.client_order_id)

    def _apply_fill(self, update: OrderUpdate, *, inside: bool) -> bool:
        """``inside``: a re-base read the order's cumulative fill at or beyond this one (in the balances).
        True when it moved a snapshot the newest re-base read while the fill happened (under the lock)."""
        base, quote = base_of(update.symbol), quote_of(update.symbol)
        qty, notional = update.last_qty, update.last_qty * update.last_price
        fee_base = update.fee if update.fee_asset == base else _ZERO
        fee_quote = update.fee if update.fee_asset == quote else _ZERO
        fresh_base = not inside and update.ts_event >= self._ts(self._asset_ts, base)
        fresh_quote = not inside and update.ts_event >= self._ts(self._asset_ts, quote)
        read_from_ns, answered_ns = self._read_window_ns
        # The snapshot it moves is still the re-base's (no pushed balance since), whose read it overlaps.
        during_read = read_from_ns <= update.ts_event < answered_ns and (
            (fresh_base and self._ts(self._asset_ts, base) == read_from_ns)
            or (fresh_quote and self._ts(self._asset_ts, quote) == read_from_ns)
        )
        reservation = self._reserved.get(update.client_order_id)
        if update.side is Side.BUY:
            held = _ZERO
            if reservation is not None:
                # What the order still holds shrinks whether or not a pushed balance already moved it,
                # so its end releases only the rest.
                held = min(reservation.amount, qty * reservation.price)
                reservation.amount -= held
            if fresh_quote:
                self._locked[quote] = self._locked.get(quote, _ZERO) - held
                self._free[quote] = self._free.get(quote, _ZERO) + held - notional - fee_quote
            if fresh_base:
                self._free[base] = self._free.get(base, _ZERO) + qty - fee_base
        else:
            if fresh_base:
                from_locked = min(self._locked.get(base, _ZERO), qty)
                self._locked[base] = self._locked.get(base, _ZERO) - from_locked
                self._free[base] = self._free.get(base, _ZERO) - (qty - from_locked)
            if fresh_quote:
                self._free[quote] = self._free.get(quote, _ZERO) + notional - fee_quote
        if not self._spot and not inside and update.ts_event >= self._ts(self._position_ts, update.symbol):
            if update.position_qty is not None:
                self._positions[update.symbol] = update.position_qty  # the venue's own: exact
            else:
                delta = qty - fee_base if update.side is Side.BUY else -qty
                self._positions[update.symbol] = self._positions.get(update.symbol, _ZERO) + delta
                during_read = during_read or (
                    read_from_ns <= update.ts_event < answered_ns
                    and self._ts(self._position_ts, update.symbol) == read_from_ns
                )
        return during_read

    def _remember_applied(self, client_order_id: str, qty: Decimal, cum_qty: Decimal) -> None:
        # Summed, not the newest cumulative quantity: an earlier fill delivered late is not in the balances
        # until its own event is applied (repeats never get here: the stream drops them first).
        applied = self._record(client_order_id)
        if applied is None:  # its first fill: open until its terminal event (applied next, if this is it)
            applied = self._open[client_order_id] = _AppliedFills()
        elif client_order_id not in self._open and client_order_id not in self._ended:
            self._open[client_order_id] = applied  # kept for a reader only: it is live again
        if cum_qty > applied.in_snapshot:  # else the re-base's read counted it already
            applied.qty += qty
        self._fill_mark += 1
        applied.cum_qtys += (cum_qty,)
        applied.marks += (self._fill_mark,)

    def _take_in_snapshot(self, client_order_id: str, cum_qty: Decimal) -> None:
        """A re-base's balances include the order's fills up to ``cum_qty`` (under the lock)."""
        # The venue lists it open: open again, even if an event said it ended (the copy left among the
        # ended records is the same record and ages out there).
        applied = self._record(client_order_id) or _AppliedFills()
        self._open[client_order_id] = applied
        # Events applied before the re-base are inside it too (they happened before it was read).
        applied.qty = max(applied.qty, cum_qty)
        applied.in_snapshot = max(applied.in_snapshot, cum_qty)
        if cum_qty not in applied.cum_qtys:
            applied.cum_qtys += (cum_qty,)
            applied.marks += (0,)

    def _record(self, client_order_id: str) -> _AppliedFills | None:
        """The order's record, open, recently ended or kept for a reader (under the lock; a read keeps an
        ended one longer)."""
        applied = self._open.get(client_order_id)
        if applied is None:
            applied = self._ended.get(client_order_id)
        return applied if applied is not None else self._kept.get(client_order_id)

    def keep_record(self, client_order_id: str) -> KeptRecord:
        """Keep this ledger's record of ``client_order_id`` (what of its fills the balances include) for as
        long as the caller holds the returned ``KeptRecord``, beyond the bound on ended orders' records:
        a reader that will ask about the order later (the monitor, when it places the exit of the order's
        fill) gets the same answer however many orders end meanwhile. An order without a record yet gets
        an empty one, which its events fill in. Any thread."""
        with self._lock:
            applied = self._record(client_order_id)
            if applied is None:
                applied = _AppliedFills()
            self._kept[client_order_id] = applied
            return KeptRecord(applied)

    def _end(self, client_order_id: str) -> None:
        """The order ended: its record is kept only for a while from now on (under the lock)."""
        applied = self._open.pop(client_order_id, None)
        if applied is not None:
            self._ended.put(client_order_id, applied)

    @staticmethod
    def _ts(stamps: dict[str, int], key: str) -> int:
        return stamps.get(key, stamps.get("*", -1))

    def set_live(self, live: bool, *, at_ns: int | None = None) -> None:
        """The user stream is connected and has re-based the ledger (True), or is down (False).
        ``at_ns``: when (monotonic) a live ledger stopped being kept current (``down_since_ns``)."""
        with self._lock:
            if live:
                self._down_since_ns = None
            elif self._live and self._ready:
                self._down_since_ns = at_ns
            self._live = live
            waiting, self._on_live = (self._on_live, []) if live and self._ready else ([], self._on_live)
        for callback in waiting:
            callback()

    def when_live(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the ledger is live: now (on this thread) if it already is, else on the
        thread that makes it live. Checked and registered under one lock, so an actor starting while the
        stream connects never misses it (a status message told before the actor is registered would be a
        dead letter). ``callback`` must not block: an actor passes a tell to itself."""
        with self._lock:
            if not (self._live and self._ready):
                self._on_live.append(callback)
                return
        callback()

    # -- reads ----------------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Re-based at least once (before that, callers read the venue)."""
        with self._lock:
            return self._ready

    @property
    def live(self) -> bool:
        """Kept current by a connected user stream: readers may trust it instead of asking the venue.
        Shared state (not a message), so an actor that starts after the stream connected knows it. Not
        while ``unsure``."""
        with self._lock:
            return self._live and self._ready and not self._unsure

    @property
    def unsure(self) -> bool:
        """A fill applied since the newest re-base happened while its balances were read: they may hold it
        already (module docstring). Until the account is read again (``rebase``), not ``live``."""
        with self._lock:
            return self._unsure

    @property
    def down_since_ns(self) -> int | None:
        """When (monotonic) the stream that kept this ledger current dropped; None while it is live or
        if it never was (then nothing vouches for the ledger). Shared state, like ``live``, so a reader
        knows of a drop before any message about it reaches it."""
        with self._lock:
            return self._down_since_ns

    @property
    def rebased_as_of_ns(self) -> int | None:
        """When (our wall clock, ns) the newest re-base's account read started; None before the first.
        Whatever the venue had reported to us before then is inside it."""
        with self._lock:
            return self._rebased_as_of_ns

    def free(self, asset: str) -> Decimal:
        with self._lock:
            return self._free.get(asset, _ZERO)

    def balance(self, asset: str) -> Balance:
        with self._lock:
            return Balance(
                asset=asset, free=self._free.get(asset, _ZERO), locked=self._locked.get(asset, _ZERO)
            )

    def position(self, symbol: str) -> Decimal:
        """What is held of ``symbol`` (never negative)."""
        with self._lock:
            if self._spot:
                base = base_of(symbol)
                qty = self._free.get(base, _ZERO) + self._locked.get(base, _ZERO)
            else:
                qty = self._positions.get(symbol, _ZERO)
            return max(qty, _ZERO)

    def applied_fill(self, client_order_id: str) -> Decimal:
        """The fill quantity of ``client_order_id`` the balances include: its applied events and what a
        re-base read of it (0 when none was applied, or the order ended long ago and is forgotten)."""
        with self._lock:
            applied = self._record(client_order_id)
            return applied.qty if applied is not None else _ZERO

    def rebased_fill(self, client_order_id: str) -> Decimal:
        """The order's cumulative fill as the newest re-base that read it found (0 when none did): what of
        it the account read at start-up or reconnect, and a reconciliation from it, already holds."""
        with self._lock:
            applied = self._record(client_order_id)
            return applied.in_snapshot if applied is not None else _ZERO

    def unapplied_fill(
        self, symbol: str, client_order_id: str, cum_qty: Decimal, *, ts_event: int
    ) -> Decimal:
        """How much of an order's cumulative fill ``cum_qty`` (its newest fill at ``ts_event``) the
        balances do not include yet: 0 once its event was applied or a snapshot taken after it covers it.
        A reader that heard of a fill by another path adds only this, never the fill a second time."""
        with self._lock:
            snapshot_ns = self._snapshot_ns(symbol)
            if ts_event < snapshot_ns:
                return _ZERO  # inside the newest snapshot of the base asset
            applied = self._record(client_order_id)
            return max(cum_qty - (applied.qty if applied is not None else _ZERO), _ZERO)

    def fill_applied(self, symbol: str, client_order_id: str, cum_qty: Decimal, *, ts_event: int) -> bool:
        """Whether the balances include the one fill that brought an order to ``cum_qty`` (at
        ``ts_event``): its own event was applied, a re-base read the order's fill at or beyond it, or the
        newest snapshot was taken after it. Unlike ``unapplied_fill`` it says nothing of the order's
        earlier fills, so it stays exact where those are unknown (a re-base that read no fill of the
        order: it was not open then, or its venue reports none)."""
        with self._lock:
            snapshot_ns = self._snapshot_ns(symbol)
            applied = self._record(client_order_id)
            if applied is None:
                return ts_event < snapshot_ns
            return ts_event < snapshot_ns or cum_qty in applied.cum_qtys or cum_qty <= applied.in_snapshot

    @property
    def fill_mark(self) -> int:
        """How many fill events and re-bases the balances have taken in so far: read before the balances,
        it tells a fill applied after that read (``applied_after``) from one inside it, where their times
        are equal; read when something is learned, a re-base that read the account after it
        (``read_after``)."""
        with self._lock:
            return self._fill_mark

    def read_after(self, learned_ns: int, mark: int) -> bool:
        """Whether the newest re-base's account read started after something the caller learned at
        ``learned_ns`` (our wall clock), with ``fill_mark`` then ``mark``: later on the clock, or in the
        same instant but re-based after that mark. Within one instant the time cannot tell which came first:
        a read and its re-base are one turn of one actor under the simulated clock, so a re-base after the
        mark read after it too; with a real clock, what reached us in the tick the read started in was
        there before the balances were asked for."""
        with self._lock:
            rebased_ns = self._rebased_as_of_ns
            if rebased_ns is None or rebased_ns < learned_ns:
                return False
            return rebased_ns > learned_ns or self._rebased_mark > mark

    def applied_after(self, client_order_id: str, cum_qty: Decimal, mark: int) -> bool:
        """Whether the event of the fill that brought the order to ``cum_qty`` was applied after ``mark``
        (a ``fill_mark`` read earlier), and nothing had brought it in before: a read of the balances made
        at ``mark`` did not hold it."""
        with self._lock:
            applied = self._record(client_order_id)
            if applied is None:
                return False
            marks = [m for c, m in zip(applied.cum_qtys, applied.marks, strict=True) if c == cum_qty]
            return bool(marks) and min(marks) > mark

    def _snapshot_ns(self, symbol: str) -> int:
        """From when on the newest snapshot of what is held of ``symbol`` is blind (under the lock)."""
        if self._spot:
            return self._ts(self._asset_ts, base_of(symbol))
        return self._ts(self._position_ts, symbol)

    def reserved(self, client_order_id: str) -> Decimal:
        with self._lock:
            reservation = self._reserved.get(client_order_id)
            return reservation.amount if reservation is not None else _ZERO
