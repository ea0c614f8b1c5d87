"""PositionMonitorActor: keeps every open position protected.

* Entry fills (``OrderFilled`` from the executor) grow a position by the filled quantity net of fees
  paid in the base asset; each change re-arms the exit for the whole held quantity.
* Protection by capability, per symbol: an OCO where the venue holds TP and SL together for that product
  (an order list, or one bracket order); otherwise a resting TP limit with the SL guarded here on
  quotes (``monitor.mode: quote``) or on polled prices (``polling``).
* Exit events arrive by push (``OrderUpdate`` from the user-stream actor): a filled exit closes or
  shrinks the position, an exit the venue ended without us makes an orphan.
* ``CheckExits`` (every ``poll_interval_s``) polls prices where quotes went quiet; it verifies
  positions and exit legs against the exchange by REST only as a safety net
  (``user_stream.safety_poll_interval_s``) while the user stream is live, and every time while it is
  down: a filled exit closes the position, a vanished exit makes an orphan, a vanished position is
  removed.
* What is held is read from the local ledger; REST only when the ledger shows less than is needed.
  Sales of our exits the ledger has not applied yet are taken off its holding; they are kept beside the
  ledger (``core.known_sales``), so an incarnation started after a crash still knows them.
  The verification right after a reconnect takes positions from the ledger the reconnect re-based from
  the account; a brief drop of the stream (``user_stream.drop_grace_s``) is left to the reconnect's sweep
  (``core.ledger_reads``).
* Orphan repair: at most ``orphan_max_attempts``, at least ``orphan_retry_s`` apart, each attempt
  recorded before the call; then the position is reported unprotected (loudly) and kept.
* An exit the venue refuses for insufficient balance (a cancelled exit's quantity still locked, a
  balance update not seen yet) or rejects is placed again at once or at the next exit check, a few
  times, before the orphan path takes over (``core.refused_exits``).
* ``Reconcile`` (on start, on restart and on ``SyncPositions``) adopts every position the exchange
  holds, also ones this process never opened, and arms exits before strategies may start.
* Venue pushback (rate limited, banned, unreachable, keys rejected) never escapes a handler: the refused
  work is kept as a pending action and retried by one timer at the time the venue allows, in priority
  order (stop closes, then TP/OCO placements, then reconciliation; ``core.pushback``). An exit whose
  state is unknown after a refused read is re-read and replaced on that retry, never assumed live.
  Orphan-repair attempts are not spent while the venue refuses.
* A fill that arrives while a close of its symbol is in flight is a separate lot with its own exit; it
  becomes the position once the close is confirmed (or merges into it if the close did not complete).
* A close the bid has fallen below (it sold part, then the market fell away) rests unsold: after
  ``monitor.close_reprice_after_s`` it is cancelled and, with what it sold taken in first, placed again
  at the new bid for what is still held (``core.protection.close_reprice``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from loguru import logger

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.actors.journal import record_in_journal
from autohedge.actors.protocol import (
    CheckExits,
    GetSnapshot,
    LedgerLive,
    ProtectDust,
    QuotesPending,
    RearmExits,
    Reconcile,
    RepairOrphan,
    RetryPending,
    RetryRefusedExits,
)
from autohedge.core.client_ids import ClientId
from autohedge.core.clock import NS_PER_S, TimerHandle
from autohedge.core.config import AppConfig
from autohedge.core.conflate import WatchedSlots
from autohedge.core.dedupe import FILL_MEMORY_KEEP_S, CumulativeWatermarks
from autohedge.core.errors import (
    DefinitiveError,
    DuplicateOrder,
    FatalVenueError,
    InsufficientFunds,
    MalformedMessage,
    OrderRefused,
    OrderRejected,
    OutcomeUnknown,
    UnknownOrder,
    VenueError,
)
from autohedge.core.ids import OrderKeySource
from autohedge.core.journal import (
    AccountSnapshot,
    ExitsArmed,
    OrderIntent,
    OrderObserved,
    PositionClosed,
    PositionOpened,
    intents_of_oco,
)
from autohedge.core.known_sales import KnownSales
from autohedge.core.ledger import AccountLedger
from autohedge.core.ledger_reads import ledger_stands_for_venue, verify_due, verify_reads_ledger
from autohedge.core.messages import (
    ClosePosition,
    EntryProtection,
    OcoRequest,
    OrderCanceled,
    OrderEventKind,
    OrderFilled,
    OrderRequest,
    OrderSnapshot,
    OrderUpdate,
    PositionSnapshot,
    Quote,
    ReconciliationCompleted,
    SymbolRules,
    SyncPositions,
    UserStreamStatus,
)
from autohedge.core.ports import Exchange
from autohedge.core.positions import (
    FillInFlight,
    GrowthCredit,
    Holding,
    net_base_qty,
    unheard_sales,
)
from autohedge.core.protection import (
    STOP_LIMIT_SLIPPAGE,
    ExitPrices,
    ProtectionPlan,
    close_price,
    close_price_for,
    close_reprice,
    exit_falls_short,
    exit_prices,
    exit_qty,
    is_dust,
    join_dust,
    plan_for,
    qty_text,
    stop_triggered,
)
from autohedge.core.pushback import (
    PendingAction,
    PendingKind,
    attempt_counts,
    due_in_order,
    is_pushback,
    retry_delay_s,
)
from autohedge.core.refused_exits import (
    REFUSED_RETRY_DELAY_S,
    BaseBalance,
    RefusedExitStep,
    refused_exit_step,
)
from autohedge.core.types import (
    CloseReason,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Side,
    base_of,
    decimal_str,
)

__all__ = [
    "STREAM_FIRST_WAIT_S",
    "MonitoredPosition",
    "PositionMonitorActor",
    "TrackedPosition",
]

STREAM_FIRST_WAIT_S = 3.0
"""How long the start-up reconciliation waits for the user stream's first ledger re-base (one account
read shared) before reading the venue itself (a stream that cannot connect never delays protection more)."""


@dataclass(frozen=True)
class MonitoredPosition:
    """One position as the monitor tracks it (its ``GetSnapshot`` answer holds one per symbol)."""

    symbol: str
    qty: Decimal
    entry_price: Decimal | None
    take_profit: Decimal | None
    stop_loss: Decimal | None
    exit_order_ids: tuple[str, ...]
    """The resting exits and, while one is working, the closing order."""
    protected: bool
    unprotected: bool
    """Exit repair gave up: the position has no live exit (health turns degraded)."""
    oco: bool
    adopted: bool
    """Found on the venue rather than opened by this process."""
    repair_attempts: int
    last_price: Decimal | None
    """The newest bid seen for the symbol."""
    lot: bool = False
    """A fill that arrived while the symbol's close was in flight, protected on its own until the close
    is confirmed."""
    waiting_for_venue: bool = False
    """Work for it (a close, an exit placement) waits for the venue to allow sending."""


_LOT = "#lot"
"""Suffix of the key of a fill's separate lot while its symbol's close is in flight."""


@dataclass
class TrackedPosition:
    """Mutable, owned by the monitor's thread only."""

    symbol: str
    holding: Holding
    proposal: EntryProtection | None = None
    adopted: bool = False
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    exit_ids: tuple[str, ...] = ()
    exit_qty: Decimal = Decimal(0)
    oco: bool = False
    close_id: str | None = None
    close_price: Decimal | None = None
    """The limit of the close ``close_id``."""
    close_qty: Decimal = Decimal(0)
    """What the close ``close_id`` was sent to sell."""
    close_since_ns: int = 0
    """Monotonic time the close was placed or last re-priced (or tried to be): re-pricing is bounded."""
    repair_attempts: int = 0
    repair_pending: bool = False
    unprotected: bool = False
    last_error: str = ""
    awaiting_price: bool = False
    fill_in_flight: FillInFlight | None = None
    """The last entry fill the venue reported, until the exit is armed for it (its event may not have
    reached the ledger yet)."""
    rearm_due: bool = False
    """Entry fills wait for one re-arm (``RearmExits``), which covers every fill queued before it."""
    adopted_growth: GrowthCredit | None = None
    """Holding taken in from the venue's record beyond our fills, not yet explained by a fill report."""
    exit_filled_qty: dict[str, Decimal] = field(default_factory=dict)
    exits_ended: set[str] = field(default_factory=set)
    """Exit legs whose end the venue reported with everything they sold."""
    exits_uncertain: bool = False
    """A cancel or a placement of the exits was refused or unanswered: whether they are live is unknown
    until re-read (never assumed)."""
    close_reason: str = ""
    close_kind: CloseReason = CloseReason.MANUAL
    """Why a close was asked for (the journal's close reason)."""
    lot: bool = False
    """A fill that arrived while this symbol's close was in flight, protected on its own."""
    quick_retries: int = 0
    """Quick retries of an exit the venue refused (insufficient balance, rejected) since it was armed."""
    exit_retry_due: bool = False
    """A refused exit is placed again at the next exit check."""
    close_retry_due: bool = False
    """A refused close is placed again at the next exit check (``close_reason`` says why it closes)."""
    closing_no: int = 0
    """A lot kept only until its close ends (a further fill became the symbol's lot): its number, which
    gives it a key of its own."""

    @property
    def key(self) -> str:
        """What its pending work and retries are kept under: the symbol for the position; for a lot, the
        symbol's lot key, or one of its own once it is kept only until its close ends."""
        if not self.lot:
            return self.symbol
        return f"{self.symbol}{_LOT}#{self.closing_no}" if self.closing_no else self.symbol + _LOT

    @property
    def qty(self) -> Decimal:
        return self.holding.qty

    @property
    def protected(self) -> bool:
        return (bool(self.exit_ids) and not self.exits_uncertain) or self.close_id is not None

    @property
    def close_left(self) -> Decimal:
        """What the close ``close_id`` still offers on the venue, as its reports tell (0 without one)."""
        if self.close_id is None:
            return Decimal(0)
        return max(self.close_qty - self.exit_filled_qty.get(self.close_id, Decimal(0)), Decimal(0))


class PositionMonitorActor(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        exchange: Exchange,
        config: AppConfig,
        keys: OrderKeySource,
        slots: WatchedSlots[Quote],
        ledger: AccountLedger,
        sales: KnownSales,
        user_stream: bool = False,
        account: str = "",
    ) -> None:
        """``sales``: our exits' sales the ledger does not include yet, kept beside the ledger across
        incarnations (a restarted monitor still takes them off the ledger's holding).
        ``user_stream``: order events arrive by push on this venue; its stream re-bases the ledger
        from the account, and the start-up reconciliation reads that instead of the account again.
        ``account``: the account's identity where known, for the journal's account snapshot."""
        super().__init__(ctx)
        self._account = account
        # The journal's books are reconciled once per process: the first incarnation's first
        # reconciliation (later ones race the journal's records of this run's own fills).
        self._snapshot_due = ctx.incarnation <= 1
        self._exchange = exchange
        self._ledger = ledger
        self._sales = sales
        self._user_stream = user_stream
        self._stream_wait: TimerHandle | None = None
        self._last_verify_ns: int | None = None
        self._last_unheld_check_ns: int | None = None
        """While no position is tracked: when the holdings were last read for one no report told of."""
        self._rebases_verified = -1
        """The ledger's re-base count at the last verification: a re-base since then was an account read."""
        self._config = config
        self._keys = keys
        self._slots = slots
        self._prefix = config.executor.client_id_prefix
        self._positions: dict[str, TrackedPosition] = {}
        self._last_quote: dict[str, Quote] = {}
        self._rules: dict[str, SymbolRules] = {}
        self._lots: dict[str, TrackedPosition] = {}
        self._closing_lots: list[TrackedPosition] = []
        self._closing_lots_kept = 0
        self._entry_fills = CumulativeWatermarks(
            now_ns=ctx.clock.monotonic_ns,
            keep_s=max(FILL_MEMORY_KEEP_S, 4 * config.executor.entry_timeout_s),
        )
        """Per entry, the cumulative fill already counted: a restarted executor re-reports an open
        entry's whole fill (it cannot know what its previous incarnation reported). An entry is open
        for at most ``entry_timeout_s``: kept well beyond that, then forgotten."""
        """Lots whose own close was in flight when a further fill arrived: that fill became the symbol's
        lot, and these are kept only until their close ends (their events still find them)."""
        self._dust: dict[str, Decimal] = {}
        """Per symbol: what is held below the venue's minimum once its position ended. It cannot be sold
        alone, so it is carried into the symbol's next position and sold with that one's exit."""
        self._dust_beside_close: dict[str, Decimal] = {}
        """What lots left below the venue's minimum while their position's close rested (that close never
        sells it): the next lot takes it, else the position once its close is over."""
        self._dust_credits: dict[str, GrowthCredit] = {}
        """Per symbol: what of its dust was taken in from the venue's record (or the ledger) before the
        fill's report arrived. Whatever takes the dust takes this too, so that report is not counted again
        (a position removed as dust forgot it, and the report made an exit twice its fill: simulation,
        config.yaml in polling mode, seed 1)."""
        self._refused_retries: dict[str, tuple[int, TimerHandle]] = {}
        """Per position key, the one pending quick retry of its refused exit or close: (token, timer)."""
        self._retry_tokens = 0
        self._pending: dict[tuple[PendingKind, str], PendingAction] = {}
        self._retry_scheduled = False
        self._auth_reported = False

    # -- lifecycle ------------------------------------------------------------------------------------

    def started(self) -> None:
        # Quotes are taken only for held symbols: this incarnation watches what it adopts or fills.
        self._slots.reset()
        if self._user_stream and not self._ledger.live:
            # The stream's re-base is about to read the account: reconcile from it once the ledger is
            # live, or by REST should it not be within the wait.
            self._stream_wait = self.schedule(STREAM_FIRST_WAIT_S, Reconcile())
            self._ledger.when_live(self.teller(LedgerLive()))
        else:
            self.actor_ref.tell(Reconcile())
        self.schedule(self._config.monitor.poll_interval_s, CheckExits())

    def on_stop(self) -> None:
        """Actor thread, on an orderly stop: a fill taken in whose re-arm this actor told itself (queued
        behind the stop, so never handled) is armed now. The stop waits for entries' answers, so a fill
        can come just before it; left to the queued re-arm, the process exited holding it without exits."""
        for symbol in sorted(
            {p.symbol for p in (*self._positions.values(), *self._lots.values()) if p.rearm_due}
        ):
            try:
                self.on_rearm_exits(RearmExits(symbol=symbol))
            except Exception:  # noqa: BLE001 - the stop goes on; the next start adopts and protects it
                logger.exception("[{}] exits not armed at the stop", symbol)
        super().on_stop()

    def on_reconcile(self, _: Reconcile) -> int:
        """Adopt every exchange position and arm its exit. A venue that refuses (or does not answer)
        the reads makes this a pending action, retried as soon as the venue allows."""
        if self._stream_wait is not None:
            self._stream_wait.cancel()
            self._stream_wait = None
        try:
            adopted, held = self._reconcile()
        except VenueError as exc:
            self._defer(PendingKind.RECONCILE, "*", exc)
            return 0
        self.ctx.events.record("reconciled", f"{adopted} positions adopted and protected from the exchange")
        if self._snapshot_due:
            self._snapshot_due = False
            snapshot = AccountSnapshot(
                venue=self._exchange.venue,
                account=self._account,
                held=tuple((p.symbol, p.qty) for p in held),
                entry_prices=tuple(
                    (p.symbol, p.avg_entry_price) for p in held if p.avg_entry_price is not None
                ),
                ts_init=self.ctx.clock.wall_ns(),
            )
            record_in_journal(self.ctx, snapshot)
        self.ctx.report(
            ReconciliationCompleted(
                positions=adopted, incarnation=self.ctx.incarnation, ts_init=self.ctx.clock.wall_ns()
            )
        )
        return adopted

    def _reconcile(self) -> tuple[int, tuple[PositionSnapshot, ...]]:
        """Adopt what the venue holds: the number adopted, and what it holds. In a restarted incarnation
        what is adopted beyond the fills it counted is a growth credit: the executor's report of a fill
        made while this monitor was down may come after the read that already held it, and counts once
        (counted again, the exit asked for more than was held: simulation, .ci/simulate.yaml with its
        faults turned up, seed 5)."""
        read_ns = self.ctx.clock.wall_ns()  # the read may miss fills from here on, not before
        from_ledger = self._reads_ledger()
        restarted = self.ctx.incarnation > 1
        exchange_positions = {p.symbol: p for p in self._positions_held()}
        open_orders = self._exchange.open_orders()
        self._last_verify_ns = self.ctx.clock.monotonic_ns()
        self._rebases_verified = self._ledger.rebases
        for symbol in list(self._positions):
            if symbol not in exchange_positions:
                self._remove(symbol, "the exchange holds no position")
        adopted = 0
        for symbol, snapshot in exchange_positions.items():
            tracked = self._positions.get(symbol)
            growth = snapshot.qty - (tracked.qty if tracked is not None else Decimal(0))
            credit = GrowthCredit(growth, read_ns, from_ledger) if restarted and growth > 0 else None
            if self._adopt(snapshot, [o for o in open_orders if o.symbol == symbol], growth=credit):
                adopted += 1
        return adopted, tuple(exchange_positions.values())

    def _reads_ledger(self) -> bool:
        """Whether ``_positions_held`` takes the holdings from the ledger rather than the venue."""
        return self._ledger.live and not self._exchange.capabilities.positions_with_entry_price

    def _positions_held(self) -> tuple[PositionSnapshot, ...]:
        """What the venue holds of our symbols: from the ledger while the user stream keeps it current
        (it was re-based from the account on connecting) and the venue's positions would say no more (an
        entry price), else from the venue. Raises VenueError."""
        if not self._reads_ledger():
            return self._exchange.positions(self._config.symbols)
        held = ((s, self._ledger_held(s)) for s in self._config.symbols)
        return tuple(PositionSnapshot(symbol=s, qty=qty) for s, qty in held if qty > 0)

    def on_sync_positions(self, _: SyncPositions) -> int:
        return self.on_reconcile(Reconcile())

    def _adopt(
        self,
        snapshot: PositionSnapshot,
        open_orders: list[OrderSnapshot],
        *,
        growth: GrowthCredit | None = None,
    ) -> bool:
        """Adopt ``snapshot`` and arm its exit. ``growth``: what of it a fill report on its way may hold,
        taken before the arming, which may leave it all as dust (the credit then goes with the dust)."""
        symbol = snapshot.symbol
        rules = self._rules_for(symbol)
        if exit_qty(snapshot.qty, rules) <= 0:
            self._dust[symbol] = snapshot.qty
            if growth is not None:  # a report of a fill inside this dust counts once
                self._dust_credits[symbol] = growth
            logger.info(
                "[{}] holding {} is below the venue minimum; carried into the next exit",
                symbol,
                qty_text(snapshot.qty, rules),
            )
            return False
        pos = self._positions.get(symbol)
        if pos is None:
            pos = TrackedPosition(
                symbol=symbol, holding=Holding(snapshot.qty, snapshot.avg_entry_price), adopted=True
            )
            self._hold(pos)
            self._journal_opened(pos)
        else:
            pos.holding = Holding(snapshot.qty, pos.holding.entry_price or snapshot.avg_entry_price)
        if growth is not None:
            pos.adopted_growth = growth
        ours = [o for o in open_orders if o.side is Side.SELL and self._is_our_exit(o.client_order_id)]
        for order in ours:  # what they sold before is outside the holding just read
            self._mark_sold(pos, order.client_order_id, order.filled_qty)
        wanted = exit_qty(snapshot.qty, rules)
        if ours and all(o.remaining_qty >= wanted for o in ours) and len(ours) <= 2:
            pos.exit_ids = tuple(o.client_order_id for o in ours)
            pos.exit_qty = min(o.remaining_qty for o in ours)
            pos.oco = any(o.list_id for o in ours)
            tp = [o.price for o in ours if o.order_type is OrderType.LIMIT]
            sl = [o.stop_price for o in ours if o.stop_price is not None]
            pos.take_profit = tp[0] if tp else pos.take_profit
            pos.stop_loss = sl[0] if sl else pos.stop_loss
            if pos.stop_loss is None:
                prices = self._prices_for(pos, rules)
                pos.stop_loss = prices.stop_loss if prices is not None else None
            self._journal_armed(pos)
            self.ctx.events.record(
                "exit_adopted",
                f"existing exits {', '.join(pos.exit_ids)} kept for {snapshot.qty}",
                symbol=symbol,
            )
            return True
        # Replaced: until cancelled they are this position's exits, so a cancel the venue refuses leaves
        # them to be cancelled before anything is placed, never forgotten beside a new exit (a fill's
        # re-arm then sold the same quantity twice: simulation, config.yaml seed 40). One by one unless
        # they are one order list: stale exits of several incarnations may rest.
        lists = {o.list_id for o in ours}
        pos.exit_ids = tuple(o.client_order_id for o in ours)
        pos.oco = len(lists) == 1 and None not in lists
        pos.exits_uncertain = bool(ours)
        self._rearm(pos)
        return True

    # -- venue pushback: pending actions ------------------------------------------------------------------

    def _defer(self, kind: PendingKind, key: str, error: VenueError | None) -> None:
        """The venue refused (or did not answer): keep the work and retry it when the venue allows."""
        if isinstance(error, FatalVenueError):
            self._report_auth(str(error))
        if (kind, key) not in self._pending:
            self._pending[(kind, key)] = PendingAction(kind, key, self.ctx.clock.monotonic_ns())
            logger.warning("[{}] {} waits for the venue: {}", key, kind.name.lower(), error or "paused")
        self._schedule_retry(error)

    def _schedule_retry(self, error: VenueError | None = None) -> None:
        if self._retry_scheduled:
            return
        self._retry_scheduled = True
        wait_s = self._exchange.request_budget.wait_s(priority=True)
        self.schedule(
            retry_delay_s(wait_s, error, auth_retry_s=self._config.monitor.orphan_retry_s), RetryPending()
        )

    def _report_auth(self, reason: str) -> None:
        if not self._auth_reported:
            self._auth_reported = True
            self.ctx.events.record(
                "venue_auth_failed",
                f"the venue rejects our keys: exits cannot be placed or changed until it accepts them; "
                f"stops are still watched on quotes ({reason})",
                level="ERROR",
            )

    def on_retry_pending(self, _: RetryPending) -> None:
        """Retry what the venue refused, most protective first, while the venue allows sending."""
        self._retry_scheduled = False
        for action in due_in_order(self._pending.values()):
            if self._exchange.request_budget.wait_s(priority=True) > 0:
                break
            if self._pending.pop((action.kind, action.symbol), None) is None:
                continue  # settled (or re-keyed by a lot's promotion) by an action run before it
            self._run_pending(action)
        if self._pending:
            self._schedule_retry()

    def _run_pending(self, action: PendingAction) -> None:
        if action.kind is PendingKind.RECONCILE:
            self.on_reconcile(Reconcile())
            return
        pos = self._tracked(action.symbol)
        if pos is None:
            return
        if action.kind is PendingKind.STOP_CLOSE:
            self._stop_close_due(pos)
        elif action.kind is PendingKind.PROTECT and pos.close_id is None:
            self._rearm(pos)

    def _stop_close_due(self, pos: TrackedPosition) -> None:
        """A close the venue refused (or a re-price whose cancel it refused) goes now."""
        quote = self._last_quote.get(pos.symbol)
        if pos.close_id is None:
            self._close_now(pos, pos.close_reason or "close requested")
        elif quote is not None:
            # A re-price whose cancel the venue refused: whether the close still rests is unknown.
            self._reprice_close(pos, quote)

    def _tracked(self, key: str) -> TrackedPosition | None:
        for lot in self._closing_lots:
            if lot.key == key:
                return lot
        if key.endswith(_LOT):
            return self._lots.get(key[: -len(_LOT)])
        return self._positions.get(key)

    def _closing(self, symbol: str) -> bool:
        pos = self._positions.get(symbol)
        return pos is not None and (
            pos.close_id is not None or (PendingKind.STOP_CLOSE, symbol) in self._pending
        )

    def _kept_by_lots(self, symbol: str) -> Decimal:
        """What ``symbol``'s lot and its lots still being closed hold: theirs, sold by their own exits or
        closes, never by the position's."""
        lot = self._lots.get(symbol)
        closing = sum((c.qty for c in self._closing_lots if c.symbol == symbol), Decimal(0))
        return closing + (lot.qty if lot is not None else Decimal(0))

    def _kept_by_lots_in_ledger(self, symbol: str) -> Decimal:
        """``_kept_by_lots`` as the ledger sees it now: less what the lots' sells sold that the ledger has
        applied while their events still wait in this inbox (gone from the ledger's holding, not yet from
        the lots). Read before the holding is, so that holding includes every sale taken off here."""
        lots = [lot for lot in (self._lots.get(symbol), *self._closing_lots) if lot and lot.symbol == symbol]
        kept = Decimal(0)
        for lot in lots:
            sells = (*lot.exit_filled_qty, *lot.exit_ids, *((lot.close_id,) if lot.close_id else ()))
            unheard = unheard_sales(sells, lot.exit_filled_qty, self._ledger.applied_fill)
            kept += max(lot.qty - unheard, Decimal(0))
        return kept

    # -- fills and quotes -------------------------------------------------------------------------------

    def on_order_filled(self, fill: OrderFilled) -> None:
        if fill.purpose is not OrderPurpose.ENTRY:
            return
        new_qty = self._entry_fills.unseen(fill.client_order_id, fill.cum_filled_qty)
        if new_qty <= 0:
            return  # already counted
        if new_qty < fill.fill_qty:  # partly counted before: only the rest (and its share of the fee)
            fee = fill.fee * new_qty / fill.fill_qty
            fill = fill.model_copy(update={"fill_qty": new_qty, "fee": fee})
        opened = False
        if self._closing(fill.symbol):
            rest = self._not_taken_by_closing_position(fill)
            if rest is None:
                return  # the closing position took it in already: its close sells it
            fill = rest
            # The close sells what was held before this fill: the fill is a lot of its own, priced from
            # its own fill and protected at once, never merged into the position being closed.
            pos = self._lots.get(fill.symbol)
            if pos is not None and pos.close_id is not None:
                # The lot is being closed too: its close sells what it held, so this fill must not
                # grow it (an exit beside that close would sell the same quantity twice). The fill
                # becomes the symbol's lot; the closing one is kept until its close ends.
                self._keep_closing(pos)
                pos = None
            if pos is None:
                # What earlier lots left below the minimum beside the close is sold with this lot's exit.
                dust = Holding(self._dust_beside_close.pop(fill.symbol, Decimal(0)))
                pos = TrackedPosition(symbol=fill.symbol, holding=dust, lot=True)
                self._take_dust_credit(pos)
                self._lots[fill.symbol] = pos
                self._watch(fill.symbol)
                opened = True
                self.ctx.events.record(
                    "fill_during_close",
                    f"{fill.client_order_id} filled {fill.fill_qty} while a close is in flight: protected "
                    "as a separate lot",
                    symbol=fill.symbol,
                    level="WARNING",
                )
        else:
            pos = self._positions.get(fill.symbol)
            if pos is None:
                # Dust a previous position left is held too: it is sold with this fill's exit.
                pos = TrackedPosition(
                    symbol=fill.symbol, holding=Holding(self._dust.pop(fill.symbol, Decimal(0)))
                )
                self._take_dust_credit(pos)
                self._hold(pos)
                opened = True
        before = pos.qty
        pos.holding = pos.holding.after_fill(fill)
        if before <= 0 or opened:  # a position started on dust opens with this fill too
            self._journal_opened(pos)
        added = pos.qty - before
        credit = pos.adopted_growth
        if credit is not None and added > 0 and self._credit_may_include(credit, fill):
            # Growth taken in from the venue's record (or the ledger) before this report arrived:
            # the fill is already counted, as far as the credit goes.
            counted, pos.adopted_growth = credit.use(added, self._rules_for(fill.symbol).lot_step)
            pos.holding = Holding(pos.qty - counted, pos.holding.entry_price)
        pos.fill_in_flight = FillInFlight(
            client_order_id=fill.client_order_id,
            cum_qty=fill.cum_filled_qty,
            gross_qty=fill.fill_qty,
            net_qty=max(pos.qty - before, Decimal(0)),
            ts_event=fill.ts_event,
            kept=self._ledger.keep_record(fill.client_order_id),
        )
        if fill.protection is not None:
            pos.proposal = fill.protection
        if not pos.rearm_due:
            # Every cancel-and-replace costs requests (and a venue's order-rate count): fills already
            # queued behind this one (a burst of partial fills) are taken in before the one re-arm.
            pos.rearm_due = True
            self.actor_ref.tell(RearmExits(symbol=pos.symbol))

    def _keep_closing(self, lot: TrackedPosition) -> None:
        """``lot``, its close in flight, is kept only until that close ends, under a key of its own from
        now on (its pending work goes with it). Sharing the symbol's lot key, its close waiting for the
        venue held up that lot's stop guard and re-arm, and the retry closed that lot too."""
        old_key = lot.key
        self._closing_lots_kept += 1
        lot.closing_no = self._closing_lots_kept
        for kind, key in list(self._pending):
            if key == old_key:
                action = self._pending.pop((kind, key))
                self._pending[(kind, lot.key)] = PendingAction(kind, lot.key, action.since_ns)
        self._closing_lots.append(lot)

    def on_rearm_exits(self, message: RearmExits) -> None:
        """Re-arm once for the entry fills taken in since the last arm, unless a close of the position
        (which sells what is held) or another re-arm came first. By symbol: a lot promoted to the
        position meanwhile is still found."""
        for pos in (self._positions.get(message.symbol), self._lots.get(message.symbol)):
            if pos is None or not pos.rearm_due:
                continue
            pos.rearm_due = False
            if pos.close_id is None and (PendingKind.STOP_CLOSE, pos.key) not in self._pending:
                self._rearm(pos)

    def on_order_canceled(self, _: OrderCanceled) -> None:
        """An entry ended unfilled: nothing to protect."""

    def on_order_update(self, update: OrderUpdate) -> None:
        """An exit's event from the user stream (the trigger; the safety-net check stays the record)."""
        coid = update.client_order_id
        pos = next(
            (
                p
                for p in (
                    self._positions.get(update.symbol),
                    self._lots.get(update.symbol),
                    *(lot for lot in self._closing_lots if lot.symbol == update.symbol),
                )
                if p is not None and (coid in p.exit_ids or coid == p.close_id or coid in p.exit_filled_qty)
            ),
            None,
        )
        live = coid in pos.exit_ids or coid == pos.close_id if pos is not None else False
        if pos is None or not (live or coid in pos.exit_filled_qty):
            return  # not an exit of a position we hold
        if update.kind.is_terminal:
            pos.exits_ended.add(coid)
        if update.kind.is_fill or update.kind.is_terminal:
            # An end reports the leg's whole fill too: a fill event delivered after it is a replay.
            sold = self._exit_sold(pos, coid, update.cum_filled_qty, ts_event=update.ts_event)
            if sold > 0 and self._exit_fill(pos, update, sold, live=live):
                return
            if not update.kind.is_terminal:
                return  # a replay, or a part of a resting leg
        if not live and update.kind.is_terminal:
            # A replaced leg ended (we cancelled it). Having sold nothing, it has nothing left to tell
            # (a repeat of its end is a replay): let its id go, or a position re-armed at every entry
            # would remember two ids per entry for as long as it is held.
            if pos.exit_filled_qty.get(coid, Decimal(0)) <= 0:
                pos.exit_filled_qty.pop(coid, None)
                pos.exits_ended.discard(coid)
            return
        if not update.kind.is_terminal:
            return  # a live leg was accepted
        if coid == pos.close_id:
            self._close_over(pos)  # the close ended unfilled: protect what is left
            self._rearm(pos)
        elif pos.oco:
            # A venue ends one OCO leg alone only when its sibling traded (its report may come later) or
            # the list ended: settle the list first (cancel what rests, learn what it sold).
            legs = pos.exit_ids
            trading = [c for c in legs if c != coid and pos.exit_filled_qty.get(c, Decimal(0)) > 0]
            if trading and coid not in trading and self._unsellable_rest(pos):
                # The leg that traded keeps selling the rest at its price; no exit of a remainder this
                # small is valid on the venue, so replacing it would only leave the rest uncovered.
                pos.exit_ids = tuple(trading)
                pos.exit_qty = exit_qty(pos.qty, self._rules_for(pos.symbol))
                return
            if not self._settle_exits(pos):
                return
            if any(pos.exit_filled_qty.get(leg, Decimal(0)) > 0 for leg in legs):
                self._protect(pos)  # a leg traded: cover what is left
            else:
                self._orphaned(pos, f"exit {coid} {update.kind.value} by the venue")
        else:
            pos.exit_ids = tuple(c for c in pos.exit_ids if c != coid)
            if not pos.exit_ids:
                self._orphaned(pos, f"exit {coid} {update.kind.value} by the venue")

    def _exit_fill(self, pos: TrackedPosition, update: OrderUpdate, sold: Decimal, *, live: bool) -> bool:
        """An exit leg (or the close) of ``pos`` sold ``sold``: close the position, or re-arm for what is
        left. False when the leg is live and keeps covering the rest (its end is then handled apart)."""
        coid = update.client_order_id
        price = update.price_of(sold)
        purpose = self._exit_purpose(pos, update)
        rules = self._rules_for(pos.symbol)
        if exit_qty(pos.qty, rules) <= 0:
            # Our arithmetic says it is all sold; the venue's balance (the ledger, fed by the same
            # stream) decides, so a remainder rounding left behind stays protected.
            from_ledger = self._ledger.live and not pos.lot
            # What lots hold is theirs, less what their sells sold that the ledger has and this inbox not
            # yet (read before the holding is): counted as the lots', a closing lot's sale came off this
            # remainder a second time and the lot taking it was left short by it (as in ``_held_for_close``).
            if pos.lot:
                kept = Decimal(0)
            elif from_ledger:
                kept = self._kept_by_lots_in_ledger(pos.symbol)
            else:
                kept = self._kept_by_lots(pos.symbol)
            mark = self._ledger.fill_mark  # before the holding: a fill applied after is not inside it
            held = self._ledger_held(pos.symbol) if from_ledger else pos.qty
            lot = self._lots.get(pos.symbol) if not pos.lot else None
            left = held - kept
            sold_all = sum(pos.exit_filled_qty.values(), Decimal(0))
            if exit_qty(left, rules) <= 0:
                self._closed(pos, price, purpose, sold=sold_all)
                return True
            if lot is not None:
                # The position is sold; the lot bought during its close becomes the position and takes
                # what else is held (a fill the ledger heard of first), never an exit beside the lot's.
                lot_qty = lot.qty
                self._closed(pos, price, purpose, sold=sold_all)
                self._take_growth(lot, lot_qty + left, from_ledger=True, ledger_mark=mark)
                if lot.close_id is None:
                    self._rearm(lot)
                return True
            self._take_growth(pos, left, from_ledger=from_ledger, ledger_mark=mark)
            live = False  # re-arm for what is left
        self.ctx.events.record(
            "exit_partially_filled", f"{sold} sold by {coid}; {pos.qty} left", symbol=pos.symbol
        )
        if not live or (update.kind is OrderEventKind.FILLED and coid == pos.close_id):
            # A replaced leg sold before its cancel landed, or the close sold less than was held:
            # the exits must cover exactly what is left.
            if coid == pos.close_id:
                self._close_over(pos)
            self._rearm(pos)
            return True
        pos.exit_qty = max(pos.exit_qty - sold, Decimal(0))
        return False

    def _ledger_held(self, symbol: str) -> Decimal:
        """What the ledger holds of ``symbol`` less what our exits are known to have sold and the ledger
        has not applied yet (a sale whose event is late would otherwise look held), also sales an earlier
        incarnation learned of."""
        unapplied = self._sales.unapplied(symbol, self._ledger)
        return max(self._ledger.position(symbol) - unapplied, Decimal(0))

    def _unsellable_rest(self, pos: TrackedPosition) -> bool:
        """What ``pos`` still holds is below what a new exit of it may sell (the venue's minimums at the
        lowest price its legs would ask)."""
        rules = self._rules_for(pos.symbol)
        prices = self._prices_for(pos, rules)
        if prices is None:
            return False
        return is_dust(exit_qty(pos.qty, rules), rules, min(prices.stop_limit, prices.take_profit))

    def _take_growth(
        self,
        pos: TrackedPosition,
        held: Decimal,
        *,
        from_ledger: bool,
        as_of_ns: int | None = None,
        ledger_mark: int | None = None,
    ) -> None:
        """Size ``pos`` to ``held``, what the venue's record (or the ledger) says it holds. More held than
        tracked may be a fill whose report is still on its way (the ledger hears of it first; after a
        reconnect the executor's sweep runs beside the check): the growth is kept as a credit that such a
        report then uses up instead of counting the fill twice. ``ledger_mark``: the ledger's ``fill_mark``
        read before ``held`` (a fill it applied later is new)."""
        growth = held - pos.qty
        sellable = exit_qty(growth, self._rules_for(pos.symbol)) > 0  # rounding dust is no fill
        as_of = self.ctx.clock.wall_ns() if as_of_ns is None else as_of_ns
        mark = ledger_mark if from_ledger else None
        pos.adopted_growth = (
            GrowthCredit(growth, as_of, from_ledger, mark) if growth > 0 and sellable else None
        )
        pos.holding = Holding(held, pos.holding.entry_price)

    @staticmethod
    def _exit_purpose(pos: TrackedPosition, update: OrderUpdate) -> OrderPurpose:
        if update.client_order_id == pos.close_id:
            return OrderPurpose.CLOSE
        if update.order_type is OrderType.STOP_LIMIT:
            return OrderPurpose.STOP_LOSS
        return OrderPurpose.TAKE_PROFIT

    def on_ledger_live(self, _: LedgerLive) -> None:
        if self._stream_wait is not None:
            self.on_reconcile(Reconcile())  # start-up: the positions from the re-based ledger

    def on_user_stream_status(self, message: UserStreamStatus) -> None:
        """Connected (ledger re-based): verify exits by REST once now (no venue replays what was
        missed), then only as a safety net. Disconnected: verify at every check once the stream has been
        down longer than its grace, until it is back."""
        if message.connected and self._stream_wait is not None:
            self.on_reconcile(Reconcile())  # start-up: the positions from the re-based ledger
            return
        if message.connected and self._positions:
            self._last_verify_ns = None
            self.on_check_exits(CheckExits(), reschedule=False)
        elif message.connected and self._ledger.rebases != self._rebases_verified:
            # Nothing tracked, but the re-based ledger may hold what the stream's gap never reported: it
            # is read now (no REST; without a re-base since the last read there is nothing new to see).
            self._last_verify_ns = self._last_unheld_check_ns = None
            self.on_check_exits(CheckExits(), reschedule=False)

    def _hold(self, pos: TrackedPosition) -> None:
        """Track a new position and watch its symbol's quotes."""
        self._positions[pos.symbol] = pos
        self._watch(pos.symbol)

    def _watch(self, symbol: str) -> None:
        """Quotes of ``symbol`` wake this actor from now on, starting from the newest one seen."""
        newest = self._slots.watch(symbol)
        if newest is not None:
            self._remember(newest)

    def _release(self, symbol: str) -> None:
        """Stop taking quotes of ``symbol`` once neither a position nor a lot of it is held."""
        closing = any(lot.symbol == symbol for lot in self._closing_lots)
        held = symbol in self._positions or symbol in self._lots or symbol in self._dust
        if not held and not closing:
            self._slots.unwatch(symbol)

    def _remember(self, quote: Quote) -> None:
        known = self._last_quote.get(quote.symbol)
        if known is None or quote.ts_init >= known.ts_init:
            self._last_quote[quote.symbol] = quote

    def _credit_may_include(self, credit: GrowthCredit, fill: OrderFilled) -> bool:
        """Whether holding taken in ahead of the reports (``credit``) may already hold ``fill``. This
        report's own fill in the ledger is what counts: an earlier fill of the order that a re-base took in
        (its event lost with the stream) leaves the order looking short for good."""
        applied = self._ledger.ready and (
            self._ledger.fill_applied(
                fill.symbol, fill.client_order_id, fill.cum_filled_qty, ts_event=fill.ts_event
            )
            or self._ledger.unapplied_fill(
                fill.symbol, fill.client_order_id, fill.cum_filled_qty, ts_event=fill.ts_event
            )
            <= 0
        )
        if applied and credit.ledger_mark is not None:
            # Applied since the credit's record was read (an entry placed after it, filled in the same
            # instant): not inside it. Taken for it, a remainder the ledger held beyond a sold-out close
            # was dropped from the next exit (simulation, partial fills, OCO off, seed 1).
            applied = not self._ledger.applied_after(
                fill.client_order_id, fill.cum_filled_qty, credit.ledger_mark
            )
        return credit.may_include(fill.ts_event, applied_by_ledger=applied)

    def _not_taken_by_closing_position(self, fill: OrderFilled) -> OrderFilled | None:
        """What of ``fill`` the symbol's closing position has not taken in already (None: nothing). A lot
        promoted when its position's close sold out takes from the ledger what else is held, a fill whose
        report is still on its way included; that report must not make a lot of the fill again (counted
        twice, the promoted position was re-armed beside that lot's exit once its own close had sold:
        simulation, .ci/simulate-oco-off.yaml seed 18)."""
        position = self._positions.get(fill.symbol)
        credit = position.adopted_growth if position is not None else None
        if position is None or credit is None or not self._credit_may_include(credit, fill):
            return fill
        added = net_base_qty(fill)
        if added <= 0:
            return fill
        counted, position.adopted_growth = credit.use(added, self._rules_for(fill.symbol).lot_step)
        if counted >= added:
            return None
        share = (added - counted) / added
        return fill.model_copy(update={"fill_qty": fill.fill_qty * share, "fee": fill.fee * share})

    def on_quotes_pending(self, _: QuotesPending) -> None:
        """The feed's wake-up: the newest quote of every held symbol that moved since the last one."""
        for quote in self._slots.take_all().values():
            self.on_quote(quote)

    def on_quote(self, quote: Quote) -> None:
        self._remember(quote)
        newest = self._last_quote[quote.symbol]
        self._judge_dust(newest)
        for pos in self._guarded(newest.symbol):
            if pos.awaiting_price:
                pos.awaiting_price = False
                self._rearm(pos)
            elif self._config.monitor.mode == "quote":
                self._guard_stop(pos, newest)

    def on_protect_dust(self, message: ProtectDust) -> None:
        """What a position or lot left was kept as dust: judged at once at the newest bid."""
        quote = self._last_quote.get(message.symbol)
        if quote is not None:
            self._judge_dust(quote)

    def _judge_dust(self, quote: Quote) -> None:
        """Dust kept for ``quote``'s symbol, judged at its bid: what ended positions left, while no position
        is held; what lots left beside the position's resting close, while the symbol's lot is being
        closed too (or there is none), else that lot's exit sells it."""
        symbol = quote.symbol
        if symbol in self._dust and symbol not in self._positions:
            self._protect_dust(quote)
        elif symbol in self._dust_beside_close:
            lot = self._lots.get(symbol)
            if lot is None or lot.close_id is not None:
                self._protect_dust(quote, beside_close=True)
            else:
                self._add_dust(lot, self._dust_beside_close.pop(symbol))

    def _protect_dust(self, quote: Quote, *, beside_close: bool = False) -> None:
        """What a position left below the venue's minimum is watched: once the price makes it worth an
        exit of its own (with a stop), it becomes a position and is protected; what lots left beside a
        resting close (``beside_close``) becomes a lot. Either is judged with what the resting closes
        leave held (the position's beside its close, every closing lot's part below the lot step, the
        symbol's lot's included), which it takes (``core.protection.join_dust``)."""
        symbol = quote.symbol
        rules = self._rules_for(symbol)
        kept = self._dust_beside_close if beside_close else self._dust
        prices = exit_prices(quote.bid, self._config.params_for(symbol), rules)
        closing = self._resting_lot_closes(symbol)
        joined = join_dust(
            kept[symbol],
            [(p.qty, p.close_left) for p in closing],
            rules,
            min(prices.stop_limit, prices.take_profit),
            beside=self._beside_position_close(symbol),  # the new lot's arming takes it over
        )
        if joined is None:
            return
        del kept[symbol]
        for resting, left in zip(closing, joined.taken, strict=True):
            # Sold with the new lot's exit: its close then ends with nothing left below the step.
            resting.holding = Holding(resting.qty - left, resting.holding.entry_price)
        if beside_close:
            lot = self._lots.get(symbol)
            if lot is not None:  # being closed: kept until its close ends, the dust is the symbol's lot
                self._keep_closing(lot)
            pos = TrackedPosition(symbol=symbol, holding=Holding(joined.qty), lot=True)
            self._lots[symbol] = pos
        else:
            pos = TrackedPosition(symbol=symbol, holding=Holding(joined.qty))
            self._hold(pos)
        self._take_dust_credit(pos)
        self._journal_opened(pos)
        self._rearm(pos)

    def _guard_stop(self, pos: TrackedPosition, quote: Quote) -> None:
        """The SL of a position whose venue cannot hold it (or whose exit is gone) is watched here, and
        an OCO's too once the bid has gapped below its stop-limit price. A resting close is chased."""
        if (PendingKind.STOP_CLOSE, pos.key) in self._pending or pos.close_retry_due:
            return  # already waiting for the venue to allow the sell, or for the exit check's retry
        if pos.close_id is not None:
            self._chase_close(pos, quote)
            return
        if pos.stop_loss is None:
            return
        if (
            pos.oco
            and pos.exit_ids
            and not pos.exits_uncertain
            and quote.bid >= pos.stop_loss * (1 - STOP_LIMIT_SLIPPAGE)
        ):
            return  # the venue's stop-limit can still fill; below its limit (a gap) it rests unsold
        if stop_triggered(quote, pos.stop_loss):
            pos.close_kind = CloseReason.STOP_LOSS
            self._close(pos, quote, f"stop loss {pos.stop_loss} reached (bid {quote.bid})")

    def on_close_position(self, message: ClosePosition) -> None:
        pos = self._positions.get(message.symbol)
        if pos is None or pos.close_id is not None:
            return
        pos.close_kind = message.kind
        self._close_now(pos, message.reason or "close requested")

    def _close_now(self, pos: TrackedPosition, why: str) -> None:
        quote = self._last_quote.get(pos.symbol)
        if quote is None:
            try:
                quote = self._exchange.best_quote(pos.symbol)
            except VenueError as exc:
                pos.close_reason = why
                self._defer(PendingKind.STOP_CLOSE, pos.key, exc)
                return
        self._close(pos, quote, why)

    # -- periodic verification ----------------------------------------------------------------------------

    def _stream_down_for_s(self) -> float | None:
        """How long the stream that kept the ledger current has been down (read from the ledger, which
        knows of a drop before the status message about it reaches this inbox)."""
        down_since_ns = self._ledger.down_since_ns
        if down_since_ns is None:
            return None
        return (self.ctx.clock.monotonic_ns() - down_since_ns) / NS_PER_S

    def _ledger_usable(self) -> bool:
        """The ledger stands for what the venue holds (``core.ledger_reads``)."""
        return ledger_stands_for_venue(
            live=self._ledger.live,
            ready=self._ledger.ready,
            down_for_s=self._stream_down_for_s(),
            grace_s=self._config.user_stream.drop_grace_s,
        )

    def _verify_due(self) -> bool:
        since_s = None
        if self._last_verify_ns is not None:
            since_s = (self.ctx.clock.monotonic_ns() - self._last_verify_ns) / NS_PER_S
        return verify_due(
            live=self._ledger.live,
            down_for_s=self._stream_down_for_s(),
            since_verify_s=since_s,
            safety_interval_s=self._config.user_stream.safety_poll_interval_s,
            grace_s=self._config.user_stream.drop_grace_s,
        )

    def on_check_exits(self, _: CheckExits, *, reschedule: bool = True) -> None:
        try:
            # Reads wait while the venue says so; the pending actions go first when it allows again.
            if self._exchange.request_budget.wait_s(priority=True) > 0:
                pass
            elif self._positions:
                self._retry_refused_exits()
                if self._verify_due():
                    self._last_verify_ns = self.ctx.clock.monotonic_ns()
                    self._verify()
                    self._auth_reported = False  # signed reads answered: the keys work (again)
                else:
                    self._poll_prices()
            elif self._unheld_check_due():
                # Nothing tracked: a holding may still have come without a report (below); read at the
                # safety net's pace, not at every check.
                self._last_unheld_check_ns = self.ctx.clock.monotonic_ns()
                self._verify()
        except FatalVenueError as exc:
            self._last_verify_ns = None  # not verified: try again at the next check
            self._report_auth(str(exc))  # said loudly once; the check keeps asking so recovery is seen
            logger.debug("exit check skipped: {}", exc)
        except VenueError as exc:
            self._last_verify_ns = None  # not verified: try again at the next check
            logger.warning("exit check skipped: {}", exc)
        finally:
            if reschedule:
                self.schedule(self._config.monitor.poll_interval_s, CheckExits())

    def _unheld_check_due(self) -> bool:
        """Any read of the holdings counts (start-up's, the positions' last verification)."""
        reads = [ns for ns in (self._last_unheld_check_ns, self._last_verify_ns) if ns is not None]
        interval_s = self._config.user_stream.safety_poll_interval_s
        return not reads or self.ctx.clock.monotonic_ns() - max(reads) >= interval_s * NS_PER_S

    def _verify(self) -> None:
        read_ns = self.ctx.clock.wall_ns()  # the read may miss fills from here on, not before
        exchange_positions = {p.symbol: p for p in self._verified_positions()}
        unheld = [held for held in exchange_positions.values() if self._unheld_holding(held)]
        if not self._positions and not unheld:
            return  # nothing held: no exits to read
        open_orders = {o.client_order_id: o for o in self._exchange.open_orders()}
        for lot in list(self._closing_lots):  # before the positions: their holdings exclude these lots
            if lot.close_id is not None and lot.close_id not in open_orders:
                self._settle_closing_lot(lot)
        self._take_in_resting_closes(open_orders)
        waiting = {key for _, key in self._pending}
        for lot in list(self._lots.values()):  # likewise: what a lot's own exits sold is no longer held
            if lot.key not in waiting:
                self._verify_lot_exits(lot, open_orders)
        for symbol in list(self._positions):
            if symbol in waiting:
                continue  # its refused work goes first when the venue allows; no second attempt now
            self._verify_one(self._positions[symbol], exchange_positions.get(symbol), open_orders, read_ns)
        for held in unheld:
            if self._unheld_holding(held):  # still: the positions' verification may have changed it
                self._adopt_unheld(held, open_orders, read_ns)
        self._poll_prices()

    def _unheld_holding(self, held: PositionSnapshot) -> bool:
        """A sellable holding of a traded symbol that no position, lot or close of this monitor accounts
        for (dust it kept aside is not counted)."""
        symbol = held.symbol
        if symbol in self._positions or symbol in self._lots:
            return False
        if any(lot.symbol == symbol for lot in self._closing_lots):
            return False
        kept = self._dust.get(symbol, Decimal(0)) + self._dust_beside_close.get(symbol, Decimal(0))
        return exit_qty(held.qty - kept, self._rules_for(symbol)) > 0

    def _adopt_unheld(
        self, held: PositionSnapshot, open_orders: dict[str, OrderSnapshot], read_ns: int
    ) -> None:
        """Adopt and protect a holding no report told of, as start-up does: a fill whose events and
        entry were both lost (an order the venue placed after saying it had none, a fill of an entry let
        go while the stream was down), or a buy outside this process. Left alone, it stayed without an
        exit until the next start. What it holds is a growth credit: a report of one of its fills still
        on its way counts once."""
        symbol = held.symbol
        self._dust.pop(symbol, None)  # inside the holding adopted
        self._dust_credits.pop(symbol, None)  # the adopted holding's credit covers that dust too
        growth = GrowthCredit(held.qty, read_ns, from_ledger=False)
        orders = [o for o in open_orders.values() if o.symbol == symbol]
        # The credit is the position's before its exit is armed: an arming that finds it below the venue's
        # minimum order value keeps it as dust (the credit with it) and drops the position.
        if not self._adopt(held, orders, growth=growth) or symbol not in self._positions:
            return
        self.ctx.events.record(
            "position_adopted",
            f"{held.qty} held without a report of its fill: adopted and protected",
            symbol=symbol,
            level="WARNING",
        )

    def _take_in_resting_closes(self, open_orders: dict[str, OrderSnapshot]) -> None:
        """What the resting closes and exit legs of lots sold, as ``open_orders`` (read after the holding)
        says, is taken off those lots before the positions are sized from that holding less what lots keep
        (monitor thread). Left to their late events (or lost ones), it came off a position a second time
        and its exit stayed short by it until the next verification, or for as long as the lot lived. A
        sale between the two reads makes a position look larger by it: arming caps the exit at what is
        held then."""
        for lot in [*self._closing_lots, *self._lots.values()]:
            close = open_orders.get(lot.close_id) if lot.close_id is not None else None
            if close is not None:
                self._exit_sold(lot, close.client_order_id, close.filled_qty)
            for leg in [open_orders[coid] for coid in lot.exit_ids if coid in open_orders]:
                # A resting leg keeps covering the rest, as after its own event of a part sold.
                sold = self._exit_sold(lot, leg.client_order_id, leg.filled_qty)
                lot.exit_qty = max(lot.exit_qty - sold, Decimal(0))

    def _verify_lot_exits(self, lot: TrackedPosition, open_orders: dict[str, OrderSnapshot]) -> None:
        """A lot's own exit legs, or its own close, that are no longer open: each is read and settled as
        its end event would have settled it (an end lost while the user stream was down is never pushed
        again; a lot's close was skipped, and what it left unsold had no sell until the symbol's next fill
        or close)."""
        closes = (lot.close_id,) if lot.close_id is not None else ()
        for coid in [c for c in (*lot.exit_ids, *closes) if c not in open_orders]:
            if coid not in (*lot.exit_ids, lot.close_id) or self._lots.get(lot.symbol) is not lot:
                return  # an earlier leg's end settled this one too (its OCO list), or ended the lot
            try:
                order = self._exchange.get_order(lot.symbol, client_order_id=coid)
            except UnknownOrder:  # it never reached the venue: it covers nothing
                if coid == lot.close_id:  # a close whose sending was never confirmed: sell again
                    lot.close_id = None
                    lot.close_reason = lot.close_reason or "close not found on the venue"
                    self._defer(PendingKind.STOP_CLOSE, lot.key, None)
                    return
                lot.exit_ids = tuple(c for c in lot.exit_ids if c != coid)
                if not lot.exit_ids:
                    self._orphaned(lot, f"exit {coid} not found on the venue")
                continue
            if not order.status.is_terminal:
                continue  # placed after the open orders were read: the next verification looks again
            now_ns = self.ctx.clock.wall_ns()
            record_in_journal(self.ctx, OrderObserved(order=order, ts_init=now_ns))
            end = OrderEventKind(order.status.value)
            self.on_order_update(OrderUpdate.of_order(order, end, venue=self._exchange.venue, ts_init=now_ns))

    def _settle_closing_lot(self, lot: TrackedPosition, ended: OrderSnapshot | None = None) -> None:
        """A lot kept until its close ends, whose close is no longer open: its end was missed (its event
        lost with a crashed stream or a gap in it). Read what the close sold, then let the lot go: closed
        when nothing sellable is left, else its remainder goes back to the symbol's position, whose exit the
        verification then re-sizes (a stale lot would keep its quantity out of that exit for good).
        ``ended``: the close's final state, read just now by the caller."""
        close_id = lot.close_id
        assert close_id is not None
        order: OrderSnapshot | None = ended
        if order is None:
            try:
                order = self._exchange.get_order(lot.symbol, client_order_id=close_id)
            except UnknownOrder:
                order = None  # it never reached the venue: it sold nothing
        if order is not None:
            if not order.status.is_terminal:
                return  # placed after the open orders were read: the next verification looks again
            record_in_journal(self.ctx, OrderObserved(order=order, ts_init=self.ctx.clock.wall_ns()))
            self._exit_sold(lot, close_id, order.filled_qty)
            if order.filled_qty > 0 and exit_qty(lot.qty, self._rules_for(lot.symbol)) <= 0:
                price = order.avg_fill_price or order.price
                self._closed(lot, price, OrderPurpose.CLOSE, sold=order.filled_qty)
                return
        self._forget_closing_lot(lot)
        self._keep_dust(lot)  # what is left is the symbol's again (dust or not: arming sizes from held)
        if lot.qty <= 0:
            return
        self.ctx.events.record(
            "lot_merged",
            f"{qty_text(lot.qty, self._rules_for(lot.symbol))} left by close {close_id} goes back to the "
            "position",
            symbol=lot.symbol,
            level="WARNING",
        )

    def _verified_positions(self) -> tuple[PositionSnapshot, ...]:
        """What is held of the traded symbols, for the verification: from the ledger when a re-base read
        the account since the last verification (the reconnect's sweep), else from the venue."""
        symbols = self._config.symbols
        rebases = self._ledger.rebases
        from_ledger = verify_reads_ledger(
            live=self._ledger.live, rebases=rebases, rebases_verified=self._rebases_verified
        )
        self._rebases_verified = rebases
        if not from_ledger:
            return self._exchange.positions(symbols)
        held = ((s, self._ledger_held(s)) for s in symbols)
        return tuple(PositionSnapshot(symbol=s, qty=qty) for s, qty in held if qty > 0)

    def _poll_prices(self) -> None:
        """A guarded stop loss never goes blind: poll the price where quotes are not arriving. An OCO's
        stop too: once the bid gaps below its stop-limit price the leg rests unsold and only the guard
        sells (a feed that stalled through a gap left such a stop unwatched past its budget)."""
        for symbol in list(self._positions):
            if not self._needs_polled_price(symbol):
                continue
            quote = self._exchange.best_quote(symbol)
            self._last_quote[symbol] = quote
            for pos in self._guarded(symbol):
                self._guard_stop(pos, quote)

    def _guarded(self, symbol: str) -> list[TrackedPosition]:
        """What of ``symbol`` has a stop to guard: its position, its lot and the lots still closing."""
        closing_lots = [lot for lot in self._closing_lots if lot.symbol == symbol]
        tracked = (self._positions.get(symbol), self._lots.get(symbol), *closing_lots)
        return [pos for pos in tracked if pos is not None]

    def _needs_polled_price(self, symbol: str) -> bool:
        """Polling mode always; quote mode when the stream has gone quiet (feed down, trading stopped),
        so a guarded stop loss never goes blind."""
        if self._config.monitor.mode == "polling":
            return True
        quote = self._last_quote.get(symbol)
        max_age_ns = int(3 * self._config.monitor.poll_interval_s * NS_PER_S)
        return quote is None or self.ctx.clock.wall_ns() - quote.ts_init > max_age_ns

    def _verify_one(
        self,
        pos: TrackedPosition,
        held: PositionSnapshot | None,
        open_orders: dict[str, OrderSnapshot],
        read_ns: int,
    ) -> None:
        symbol = pos.symbol
        held_qty = held.qty if held is not None else Decimal(0)
        if pos.close_id is not None:
            try:
                order = self._exchange.get_order(symbol, client_order_id=pos.close_id)
                record_in_journal(self.ctx, OrderObserved(order=order, ts_init=self.ctx.clock.wall_ns()))
            except UnknownOrder:  # a close whose sending was never confirmed did not arrive: sell again
                pos.close_id = None
                pos.close_reason = pos.close_reason or "close not found on the venue"
                self._defer(PendingKind.STOP_CLOSE, pos.key, None)
                return
            lot = self._lots.get(symbol)
            if order.status is OrderStatus.FILLED or (held_qty <= 0 and lot is None):
                # The lots keep their own, those still being closed too: counted as the position's
                # remainder, theirs was taken for dust and armed again beside their closes (simulation,
                # config.yaml seed 33).
                left = held_qty - self._kept_by_lots(symbol)
                pos.holding = Holding(max(left, Decimal(0)), pos.holding.entry_price)
                self._closed(
                    pos, order.avg_fill_price or order.price, OrderPurpose.CLOSE, sold=order.filled_qty
                )
            elif order.status.is_terminal:
                self._close_over(pos)  # the close did not complete: protect what is left
                if lot is not None:  # merge now that the close is over; exits re-sized from what is held
                    del self._lots[symbol]
                    pos.exit_ids = lot.exit_ids
                    pos.oco = lot.oco
                    pos.exits_uncertain = pos.exits_uncertain or lot.exits_uncertain
                pos.holding = Holding(held_qty, pos.holding.entry_price)
                self._rearm(pos)
            return
        dead_legs = [coid for coid in pos.exit_ids if coid not in open_orders]
        # The venue's holding was read with its orders: what the legs sold by then is inside it, and a
        # later cancel or event must not take it off the position a second time.
        for coid in pos.exit_ids:
            live_leg = open_orders.get(coid)
            if live_leg is not None:
                self._mark_sold(pos, coid, live_leg.filled_qty)
        exit_fill = Decimal(0)
        exit_price = Decimal(0)
        purpose = OrderPurpose.TAKE_PROFIT
        for coid in list(dead_legs):
            try:
                order = self._exchange.get_order(symbol, client_order_id=coid)
            except UnknownOrder:
                continue
            record_in_journal(self.ctx, OrderObserved(order=order, ts_init=self.ctx.clock.wall_ns()))
            self._mark_sold(pos, coid, order.filled_qty)
            if not order.status.is_terminal:
                # Placed after the open orders were read, or listed late: it rests and still covers (taken
                # for ended, the position was re-armed beside it, two sells for one holding).
                dead_legs.remove(coid)
                continue
            pos.exits_ended.add(coid)
            if order.filled_qty > 0:
                exit_fill += order.filled_qty
                exit_price = order.avg_fill_price or order.price
                purpose = (
                    OrderPurpose.STOP_LOSS
                    if order.order_type is OrderType.STOP_LIMIT
                    else OrderPurpose.TAKE_PROFIT
                )
        if exit_qty(held_qty, self._rules_for(symbol)) <= 0:  # nothing (or only unsellable dust) left
            pos.holding = Holding(max(held_qty, Decimal(0)), pos.holding.entry_price)
            if exit_fill > 0:
                self._closed(pos, exit_price, purpose, sold=exit_fill)
            else:
                self._keep_dust(pos)
                self._remove(symbol, "the exchange no longer holds it")
            return
        # What lots hold is theirs (their own exits, or their closes, sell it).
        held_qty -= self._kept_by_lots(symbol)
        if held_qty != pos.qty:
            self._take_growth(pos, held_qty, from_ledger=False, as_of_ns=read_ns)
        if dead_legs or not pos.exit_ids:
            # A leg that traded even partly ends its OCO sibling while it rests itself: what is left must
            # be re-armed in its place, never beside it (it still holds the quantity).
            live_legs = len(pos.exit_ids) - len(dead_legs)
            if exit_fill > 0 or live_legs > 0:
                self.ctx.events.record(
                    "exit_partially_filled", f"{exit_fill} sold; re-arming {held_qty}", symbol=symbol
                )
                self._rearm(pos)
            elif not (
                pos.repair_pending
                or pos.unprotected
                or pos.awaiting_price
                or pos.rearm_due
                or pos.exit_retry_due
                or pos.close_retry_due
            ):
                self._orphaned(pos, "exit order no longer live" if dead_legs else "no exit order")
        elif pos.exit_qty != exit_qty(held_qty, self._rules_for(symbol)):
            # The holding changed outside our exits: never ask to sell more than is held, nor leave
            # part of it without an exit.
            self._rearm(pos)

    # -- arming -------------------------------------------------------------------------------------------

    def _rules_for(self, symbol: str) -> SymbolRules:
        rules = self._rules.get(symbol)
        if rules is None:
            rules = self._rules[symbol] = self._exchange.symbol_rules(symbol)
            record_in_journal(self.ctx, rules)  # the journal keeps each symbol's precision for display
        return rules

    def _held(self, symbol: str, wanted: Decimal, *, in_flight: Decimal = Decimal(0)) -> Decimal:
        """What the venue holds of ``symbol``, read from the ledger when it covers ``wanted`` (no request).
        ``in_flight``: a fill the venue has just reported whose event may not have reached the ledger
        yet; it counts. Only when the ledger still falls short (say, a sale outside our exits) is the
        venue asked. Only the user-stream actor re-bases the ledger, so nothing here races an event in
        flight into a double count."""
        if self._ledger_usable():
            held = self._ledger_held(symbol)
            rules = self._rules_for(symbol)
            if exit_qty(held, rules) >= exit_qty(wanted, rules):  # equal to the lot: balances are rounded
                return held
            if exit_qty(held + in_flight, rules) >= exit_qty(wanted, rules):
                return held + in_flight
        return sum((p.qty for p in self._exchange.positions([symbol])), Decimal(0))

    def _in_flight(self, pos: TrackedPosition) -> Decimal:
        """What of the last reported entry fill the ledger does not include yet (0 once it does: a
        fill is never counted twice, even when a sale the ledger already saw has shrunk the holding)."""
        fill = pos.fill_in_flight
        if fill is None or not self._ledger_usable():
            return Decimal(0)
        if self._ledger.fill_applied(pos.symbol, fill.client_order_id, fill.cum_qty, ts_event=fill.ts_event):
            # Its own event is in. What the order still seems to lack are earlier fills whose events the
            # ledger never had (a re-base took them in): counted here they made an exit ask for more
            # than was held. Should any really be missing, the venue is read instead.
            return Decimal(0)
        unapplied = self._ledger.unapplied_fill(
            pos.symbol, fill.client_order_id, fill.cum_qty, ts_event=fill.ts_event
        )
        return fill.unapplied_net(unapplied)

    def _reference_price(self, pos: TrackedPosition) -> Decimal | None:
        if pos.holding.entry_price is not None:
            return pos.holding.entry_price
        quote = self._last_quote.get(pos.symbol)
        return quote.bid if quote is not None else None

    def _prices_for(self, pos: TrackedPosition, rules: SymbolRules) -> ExitPrices | None:
        reference = self._reference_price(pos)
        if reference is None:
            return None
        return exit_prices(reference, self._config.params_for(pos.symbol), rules, pos.proposal)

    def _rearm(self, pos: TrackedPosition) -> None:
        """Replace the exit so it covers exactly what is held now."""
        pos.rearm_due = False  # this re-arm covers every fill taken in so far
        if self._settle_exits(pos):
            self._protect(pos)

    def _settle_exits(self, pos: TrackedPosition) -> bool:
        """Cancel the exit legs and learn what they sold; False when the venue would not settle them."""
        try:
            self._disarm(pos)
        except VenueError as exc:
            if is_pushback(exc):
                # Whether the old exit is still live is unknown now (the cancel may have gone through
                # and only its answer or the read after it been refused): re-read and replace it as
                # soon as the venue allows, never assume it.
                pos.exits_uncertain = True
                self._defer(PendingKind.PROTECT, pos.key, exc)
            else:
                logger.warning("[{}] could not replace the exit yet ({}); next check", pos.symbol, exc)
            return False
        return True

    def _protect(self, pos: TrackedPosition) -> None:
        try:
            self._arm(pos)
        except (InsufficientFunds, OrderRejected) as exc:
            self._exit_refused(pos, exc)
        except VenueError as exc:
            if is_pushback(exc):
                self._defer(PendingKind.PROTECT, pos.key, exc)
            else:
                self._orphaned(pos, str(exc))
        except OrderRefused as exc:  # our own pre-send check: an answer, like the venue's refusal
            self._orphaned(pos, str(exc))

    def _exit_refused(self, pos: TrackedPosition, error: InsufficientFunds | OrderRejected) -> None:
        """The venue refused the exit for insufficient balance, or rejected it (monitor thread): usually a
        state that clears within a moment, so it is placed again (sized and priced anew) at once or at the
        next exit check, a few times, before the orphan path takes over (``core.refused_exits``)."""
        step = self._refusal_step(pos, error, "exit")
        if step is RefusedExitStep.ESCALATE:
            self._orphaned(pos, str(error))
        elif step is RefusedExitStep.RETRY_NOW:
            self._protect(pos)
        else:
            pos.exit_retry_due = True
            self._retry_soon(pos.key)

    def _close_refused(
        self, pos: TrackedPosition, error: InsufficientFunds | OrderRejected, quote: Quote, why: str
    ) -> None:
        """The venue refused a close like an exit (monitor thread): the same bounded quick retry, the close
        re-sized from what is held then (never more), before the orphan path takes over."""
        step = self._refusal_step(pos, error, "close")
        if step is RefusedExitStep.ESCALATE:
            self._orphaned(pos, f"close failed: {error}")
            return
        pos.close_reason = why
        if step is RefusedExitStep.RETRY_NOW:
            self._close(pos, quote, why)
        else:
            pos.close_retry_due = True
            self._retry_soon(pos.key)

    def _retry_soon(self, key: str) -> None:
        """The periodic exit check may be most of ``poll_interval_s`` away: a refused exit waiting for it
        could stay uncovered past ``max_unprotected_s`` (two refusals in a row, then the wait). One timer
        per key: a later refusal of the key (the exit check's retry) moves it, so the retry still comes
        ``REFUSED_RETRY_DELAY_S`` after the latest refusal and no earlier timer retries it before then."""
        pending = self._refused_retries.pop(key, None)
        if pending is not None:
            pending[1].cancel()
        self._retry_tokens += 1
        timer = self.schedule(REFUSED_RETRY_DELAY_S, RetryRefusedExits(key=key, token=self._retry_tokens))
        self._refused_retries[key] = (self._retry_tokens, timer)

    def on_retry_refused_exits(self, message: RetryRefusedExits) -> None:
        pending = self._refused_retries.get(message.key)
        if pending is None or pending[0] != message.token:
            return  # moved by a later refusal after this one was already told
        del self._refused_retries[message.key]
        if self._exchange.request_budget.wait_s(priority=True) == 0:
            self._retry_refused_exits(message.key)  # else the exit check does it once the venue allows

    def _refusal_step(
        self, pos: TrackedPosition, error: InsufficientFunds | OrderRejected, what: str
    ) -> RefusedExitStep:
        """What to do with a refused exit or close of ``pos`` (``core.refused_exits``); a retry is counted."""
        wanted = exit_qty(pos.qty, self._rules_for(pos.symbol))
        step = refused_exit_step(
            error, retries=pos.quick_retries, wanted=wanted, balance=self._base_balance(pos.symbol)
        )
        if step is RefusedExitStep.ESCALATE:
            return step
        pos.quick_retries += 1
        pos.exit_ids, pos.last_error = (), str(error)
        when = "now" if step is RefusedExitStep.RETRY_NOW else f"within {REFUSED_RETRY_DELAY_S}s"
        logger.warning(
            "[{}] {} for {} refused ({}); placing it again {}", pos.symbol, what, wanted, error, when
        )
        return step

    def _base_balance(self, symbol: str) -> BaseBalance | None:
        """What the ledger shows of ``symbol``'s base asset, where it stands for the venue and a position is
        that balance (spot); None otherwise (the retry then reads the venue)."""
        if not (self._exchange.capabilities.spot_positions and self._ledger_usable()):
            return None
        balance = self._ledger.balance(base_of(symbol))
        return BaseBalance(free=balance.free, locked=balance.locked)

    def _retry_refused_exits(self, key: str | None = None) -> None:
        """Place again the exits the venue refused: of ``key`` (its quick retry), or of every position
        (the exit check). Monitor thread."""
        for pos in [*self._positions.values(), *self._lots.values(), *self._closing_lots]:
            if key is not None and pos.key != key:
                continue
            waiting = any(key == pos.key for _, key in self._pending)
            if pos.close_retry_due:
                pos.close_retry_due = False
                if pos.close_id is None and not waiting:
                    self._close_now(pos, pos.close_reason or "close requested")
                continue
            if not pos.exit_retry_due:
                continue
            pos.exit_retry_due = False
            if not (pos.exit_ids or pos.close_id is not None or waiting or pos.unprotected):
                self._protect(pos)

    def _disarm(self, pos: TrackedPosition) -> None:
        """Cancel the exit legs and take into the position what each sold before its end. Raises
        VenueError (pushback): the legs not settled yet stay in ``pos.exit_ids``."""
        for coid in pos.exit_ids:
            pos.exit_filled_qty.setdefault(coid, Decimal(0))  # a late event of this leg is still ours
        remaining = list(pos.exit_ids)
        while remaining:
            coid = remaining[0]
            snapshot = self._cancel_quietly(pos.symbol, coid)
            if snapshot is None:
                # Already ended: what it sold must be known before anything is placed beside it.
                snapshot = self._ended_leg(pos, coid)
                if snapshot is not None:
                    self._exit_sold(pos, coid, snapshot.filled_qty)
                remaining.pop(0)
                if pos.oco and snapshot is not None and snapshot.filled_qty > 0:
                    remaining = []  # an OCO leg traded: its siblings ended with it, unsold
            else:
                self._exit_sold(pos, coid, snapshot.filled_qty)
                # An OCO leg was still open, so no sibling traded (a trade on one leg ends the others)
                # and the venue cancelled the whole list with it: the siblings sold nothing.
                remaining = [] if pos.oco else remaining[1:]
            pos.exit_ids = tuple(remaining)
        pos.exit_ids = ()
        pos.exit_qty = Decimal(0)
        pos.exits_uncertain = False

    def _ended_leg(self, pos: TrackedPosition, coid: str) -> OrderSnapshot | None:
        """An exit leg the venue would not cancel (it ended): its final state, read unless its end was
        already reported; None when the venue never had it."""
        if coid in pos.exits_ended:
            return None  # its end (and all it sold) came by event
        try:
            snapshot = self._exchange.get_order(pos.symbol, client_order_id=coid)
        except UnknownOrder:
            return None
        except MalformedMessage as exc:  # what it sold is unknown: read again before placing beside it
            raise self._unreadable(f"exit {coid}", exc) from exc
        record_in_journal(self.ctx, OrderObserved(order=snapshot, ts_init=self.ctx.clock.wall_ns()))
        return snapshot

    def _exit_sold(
        self, pos: TrackedPosition, coid: str, cum_filled_qty: Decimal, *, ts_event: int | None = None
    ) -> Decimal:
        """Take an exit leg's cumulative fill into the position once; returns what it newly sold.
        ``ts_event``: when the order event reported it; None for a venue read made just now."""
        seen = pos.exit_filled_qty.get(coid, Decimal(0))
        sold = cum_filled_qty - seen
        if sold <= 0:
            return Decimal(0)
        pos.exit_filled_qty[coid] = cum_filled_qty
        self._remember_sale(pos.symbol, coid, cum_filled_qty, ts_event=ts_event)
        pos.holding = Holding(max(pos.qty - sold, Decimal(0)), pos.holding.entry_price)
        return sold

    def _mark_sold(self, pos: TrackedPosition, coid: str, cum_filled_qty: Decimal) -> None:
        """An exit leg's fill already inside the holding ``pos`` was just sized to (a venue read)."""
        if cum_filled_qty > pos.exit_filled_qty.get(coid, Decimal(0)):
            pos.exit_filled_qty[coid] = cum_filled_qty
            self._remember_sale(pos.symbol, coid, cum_filled_qty)

    def _remember_sale(
        self, symbol: str, coid: str, cum_filled_qty: Decimal, *, ts_event: int | None = None
    ) -> None:
        """Known sales of our exits, kept (bounded) until the ledger has applied them, also after the
        position that made them ended and across incarnations. ``ts_event``: when the report was made
        (None: a venue read just made, stamped now, which is after the sale)."""
        now_ns = self.ctx.clock.wall_ns()
        reported_ns = now_ns if ts_event is None else ts_event
        self._sales.remember(
            symbol,
            coid,
            cum_filled_qty,
            reported_ns=reported_ns,
            learned_ns=now_ns,
            ledger_mark=self._ledger.fill_mark,
        )

    def _cancel_quietly(self, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        try:
            snapshot = self._exchange.cancel_order(symbol, client_order_id=client_order_id)
        except (UnknownOrder, DefinitiveError):
            return None  # already gone (filled, cancelled with its OCO sibling, or never placed)
        except MalformedMessage as exc:
            # An answer that cannot be read tells nothing: the cancel may have gone through. Its outcome
            # is unknown, so the exit is re-read and replaced (or the close sold) when the venue allows;
            # escaping, it crashed the monitor mid re-arm and left the holding without exits.
            raise self._unreadable(f"cancel of {client_order_id}", exc) from exc
        record_in_journal(self.ctx, OrderObserved(order=snapshot, ts_init=self.ctx.clock.wall_ns()))
        if snapshot.status.is_open:
            # Taken, not confirmed (Alpaca pending_cancel, Coinbase CANCEL_QUEUED): it still rests and may
            # sell more, so what it sold is not known yet. Settled again when the venue allows, nothing
            # placed beside it meanwhile: taken as its end, the new exit was sized from a holding without
            # its later sale, whose report then came off the position a second time, left uncovered.
            raise OutcomeUnknown(f"cancel of {client_order_id} not confirmed yet", venue=self._exchange.venue)
        return snapshot

    def _unreadable(self, what: str, error: MalformedMessage) -> OutcomeUnknown:
        """A venue's answer about ``what`` that cannot be read (counted): it tells nothing, so the outcome
        is unknown, venue pushback retried when the venue allows, never a crash of the monitor."""
        self.ctx.metrics.inc("malformed_messages")
        return OutcomeUnknown(f"{what}: {error}", venue=self._exchange.venue)

    def _arm(self, pos: TrackedPosition) -> None:
        """Place the exit for what the exchange says is held, never more. Raises VenueError."""
        symbol = pos.symbol
        rules = self._rules_for(symbol)
        if not pos.lot and symbol in self._dust_beside_close and not self._closing(symbol):
            # The position's close is over without ending it: what lots left beside it is its own again.
            beside = self._dust_beside_close.pop(symbol)
            pos.holding = Holding(pos.qty + beside, pos.holding.entry_price)
            self._take_dust_credit(pos)
        # What closes of other lots still hold rests in their sells: never free for this exit, nor its dust
        # (a close's one-step remainder counted here again was an oversell, simulation seed 22).
        # A lot's exit never asks for what the position's resting close still offers: the venue refuses
        # it for the balance that close locks (a lot sized with dust the close had sold went refused and
        # unprotected for 30 s: simulation, config.yaml with paper.oco off, seed 1).
        in_close = self._left_in_position_close(pos)
        # What the closing position holds beyond its close (a remainder below the lot step) no close sells:
        # the lot's exit takes it (a sub-minimum lot worth an exit with it was kept beside the close without
        # one: simulation, .ci/simulate-oco-off.yaml seed 1).
        spare = self._beside_position_close(pos.symbol) if pos.lot else Decimal(0)
        closing = self._held_by_closing_lots(pos)
        held = self._held(symbol, pos.qty + spare + closing + in_close, in_flight=self._in_flight(pos))
        pos.fill_in_flight = None
        if closing + in_close > 0 and held - closing - in_close < pos.qty:
            # What those closes seem to hold may be sold already, its events lost with a crashed stream:
            # read them before taking it off this exit (the lot was shrunk to the rest for good and
            # 0.0044 ETH had no exit for 137 s: simulation, config.yaml seed 88).
            self._read_closing_lots(pos)
            closing = self._held_by_closing_lots(pos)
            in_close = self._read_position_close(pos) if in_close > 0 else in_close
        closing += in_close
        if held <= 0:
            self._drop(pos, "nothing held on the exchange")
            return
        held = max(held - closing, Decimal(0))
        qty = exit_qty(min(pos.qty + spare, held), rules)
        if qty <= 0:
            self._keep_dust(pos, held)
            self._drop(
                pos,
                f"holding {qty_text(min(pos.qty, held), rules)} is below the venue minimum: carried into the "
                "next exit",
            )
            return
        if held < pos.qty:
            pos.holding = Holding(held, pos.holding.entry_price)
        prices = self._prices_for(pos, rules)
        if prices is None:
            pos.awaiting_price = True
            logger.info("[{}] waiting for the first quote to price the exit of {}", symbol, qty)
            return
        if is_dust(qty, rules, min(prices.stop_limit, prices.take_profit)):
            # Dust (say, what fees or a partly filled exit left): no exit of it is valid on the venue.
            self._keep_dust(pos, held)
            self._drop(
                pos,
                f"holding {qty_text(min(pos.qty, held), rules)} is below the venue's minimum order value: "
                "carried into the next exit",
            )
            return
        if spare > 0:
            self._take_beside_position_close(pos, spare, held)
        key = self._keys.next_key()
        tp = ClientId(self._prefix, OrderPurpose.TAKE_PROFIT, key)
        tp_id = tp.encode()
        # Per symbol and read now: a venue may learn which products accept its bracket at start-up.
        oco = plan_for(self._exchange.capabilities, symbol) is ProtectionPlan.OCO
        if oco:
            sl_id = ClientId(self._prefix, OrderPurpose.STOP_LOSS, key).encode()
            request = OcoRequest(
                list_client_id=tp.oco_list().encode(),
                symbol=symbol,
                side=Side.SELL,
                qty=qty,
                take_profit_price=prices.take_profit,
                stop_price=prices.stop_loss,
                stop_limit_price=prices.stop_limit,
                take_profit_client_order_id=tp_id,
                stop_loss_client_order_id=sl_id,
            )
            for intent in intents_of_oco(request, ts_init=self.ctx.clock.wall_ns()):
                record_in_journal(self.ctx, intent)
            self._submit_exit(pos, (tp_id, sl_id), lambda: self._exchange.submit_oco(request))
            pos.exit_ids = (tp_id, sl_id)
        else:
            order = OrderRequest(
                client_order_id=tp_id,
                symbol=symbol,
                side=Side.SELL,
                qty=qty,
                price=prices.take_profit,
                purpose=OrderPurpose.TAKE_PROFIT,
            )
            record_in_journal(self.ctx, OrderIntent.of(order, ts_init=self.ctx.clock.wall_ns()))
            self._submit_exit(pos, (tp_id,), lambda: self._exchange.submit_order(order))
            pos.exit_ids = (tp_id,)
        was_orphan = pos.repair_attempts > 0 or pos.unprotected
        pos.oco, pos.exit_qty = oco, qty
        pos.take_profit, pos.stop_loss = prices.take_profit, prices.stop_loss
        pos.repair_attempts, pos.repair_pending, pos.unprotected, pos.last_error = 0, False, False, ""
        pos.quick_retries, pos.exit_retry_due = 0, False
        self.ctx.metrics.inc("exits_armed")
        if was_orphan:
            self.ctx.metrics.inc("orphans_repaired")
            self.ctx.events.record(
                "orphan_repaired", f"exit re-created for {qty}", symbol=symbol, level="SUCCESS"
            )
        self._journal_armed(pos)
        kind = "OCO" if oco else "TP limit + guarded SL"
        self.ctx.events.record(
            "exit_armed",
            f"{kind} for {qty}: TP {prices.take_profit} SL {prices.stop_loss} ({', '.join(pos.exit_ids)})",
            symbol=symbol,
        )
        # A quote may already be through the stop: guard at once.
        quote = self._last_quote.get(symbol)
        if quote is not None:
            self._guard_stop(pos, quote)

    def _held_by_closing_lots(self, pos: TrackedPosition) -> Decimal:
        """What the other lots of ``pos``'s symbol still being closed hold, as their closes reported."""
        return sum((c.qty for c in self._closing_lots if c.symbol == pos.symbol and c is not pos), Decimal(0))

    def _left_in_position_close(self, pos: TrackedPosition) -> Decimal:
        """For a lot: what the close of its symbol's position still offers on the venue, else 0."""
        position = self._positions.get(pos.symbol) if pos.lot else None
        return position.close_left if position is not None else Decimal(0)

    def _beside_position_close(self, symbol: str) -> Decimal:
        """What ``symbol``'s position holds beyond what its resting close still offers (the remainder
        below the lot step its close was sized without): no close sells it; 0 while nothing is closing."""
        position = self._positions.get(symbol)
        if position is None or position.close_id is None:
            return Decimal(0)
        return max(position.qty - position.close_left, Decimal(0))

    def _take_beside_position_close(self, lot: TrackedPosition, spare: Decimal, held: Decimal) -> None:
        """``lot``'s exit sells ``spare``, what its position holds beside its close: it is the lot's now,
        and the position ends when its close has sold what it offers."""
        position = self._positions[lot.symbol]
        position.holding = Holding(position.qty - spare, position.holding.entry_price)
        lot.holding = Holding(min(lot.qty + spare, held), lot.holding.entry_price)

    def _resting_lot_closes(self, symbol: str) -> list[TrackedPosition]:
        """The lots of ``symbol`` whose close rests (or may) on the venue: those kept until their close
        ends, and the symbol's lot when it is being closed too."""
        lots = (*self._closing_lots, self._lots.get(symbol))
        return [c for c in lots if c is not None and c.symbol == symbol and c.close_id is not None]

    def _read_position_close(self, pos: TrackedPosition) -> Decimal:
        """For a lot: what the close of its symbol's position offers on the venue as read now (0 once it
        ended; its end is the position's to settle). Raises VenueError."""
        position = self._positions.get(pos.symbol)
        if position is None or position.close_id is None:
            return Decimal(0)
        try:
            order = self._exchange.get_order(pos.symbol, client_order_id=position.close_id)
        except UnknownOrder:
            return Decimal(0)  # never reached the venue: it locks nothing
        record_in_journal(self.ctx, OrderObserved(order=order, ts_init=self.ctx.clock.wall_ns()))
        return Decimal(0) if order.status.is_terminal else order.remaining_qty

    def _read_closing_lots(self, pos: TrackedPosition) -> None:
        """Read the closes of the other lots of ``pos``'s symbol still being closed and take in what they
        sold; a close that ended settles its lot (monitor thread). Raises VenueError."""
        for lot in [c for c in self._closing_lots if c.symbol == pos.symbol and c is not pos]:
            if lot.close_id is None:
                continue
            try:
                order = self._exchange.get_order(lot.symbol, client_order_id=lot.close_id)
            except UnknownOrder:
                continue  # never reached the venue: the verification settles it
            if order.status.is_terminal:
                self._settle_closing_lot(lot, order)
            else:
                record_in_journal(self.ctx, OrderObserved(order=order, ts_init=self.ctx.clock.wall_ns()))
                self._exit_sold(lot, lot.close_id, order.filled_qty)

    def _submit_exit(self, pos: TrackedPosition, ids: tuple[str, ...], submit: Callable[[], object]) -> None:
        """Submit; on an unknown outcome ask the venue for the id before trying once more. If that
        cannot be settled now (the venue refuses or stays silent), the ids are kept as uncertain exits:
        the retry cancels them (an unknown id is answered, harmless) before placing anew, so two exits
        never sell the same quantity."""
        symbol, probe_id = pos.symbol, ids[0]
        try:
            submit()
            return
        except (OutcomeUnknown, MalformedMessage) as exc:  # an answer that cannot be read tells nothing
            logger.warning("[{}] exit {} outcome unknown ({}); asking the venue", symbol, probe_id, exc)
        try:
            try:
                self._exchange.get_order(symbol, client_order_id=probe_id)
                return  # it exists: the response was lost, not the order
            except UnknownOrder:
                pass
            submit()  # the venue never saw it: the same ids again are safe
        except DuplicateOrder:
            return  # it had after all, placed after the lookup: the ids name it
        except MalformedMessage as exc:  # whether it rests is still unknown: kept as uncertain exits
            pos.exit_ids, pos.exits_uncertain = ids, True
            raise self._unreadable(f"exit {probe_id}", exc) from exc
        except VenueError as exc:
            if is_pushback(exc):
                pos.exit_ids, pos.exits_uncertain = ids, True
            raise

    # -- closing ------------------------------------------------------------------------------------------

    def _close(self, pos: TrackedPosition, quote: Quote, why: str, *, rest: Decimal | None = None) -> None:
        """Cancel the exits, then sell what is held at a marketable limit below the bid. ``rest``: a
        re-priced close's unsold quantity as the venue reported it on its cancel, sold as it is (what
        other lots and closes hold is theirs)."""
        symbol = pos.symbol
        close_id = ""
        qty = held = Decimal(0)
        price: Decimal | None = None
        try:
            rules = self._rules_for(symbol)
            if rest is None:
                wanted = exit_qty(pos.qty, rules)
                if wanted > 0 and close_price_for(quote.bid, wanted, rules) is None:
                    # No sell of it at or below the bid is worth the venue's minimum order value: the
                    # close would be refused, and cancelling the exits for it left the holding without
                    # them in a loop of re-armed exits and refused closes (recursing until the monitor
                    # crashed where the adapter refuses before sending). The exits stay; the next quote
                    # judges again.
                    logger.debug("[{}] no valid close of {} at bid {} yet", symbol, wanted, quote.bid)
                    return
                self._disarm(pos)
                held = min(pos.qty, self._held_for_close(pos, rules))
                qty = exit_qty(held, rules)
            else:
                held = qty = rest
            if qty <= 0:
                self._drop(pos, "nothing left to sell")
                return
            price = close_price_for(quote.bid, qty, rules)
            if price is not None:
                close_id = ClientId(self._prefix, OrderPurpose.CLOSE, self._keys.next_key()).encode()
                request = OrderRequest(
                    client_order_id=close_id,
                    symbol=symbol,
                    side=Side.SELL,
                    qty=qty,
                    price=price,
                    purpose=OrderPurpose.CLOSE,
                )
                intent = OrderIntent.of(
                    request, ts_init=self.ctx.clock.wall_ns(), reason=pos.close_kind.value
                )
                record_in_journal(self.ctx, intent)
                self._submit_exit(pos, (close_id,), lambda: self._exchange.submit_order(request))
        except (InsufficientFunds, OrderRejected) as exc:
            self._close_refused(pos, exc, quote, why)
            return
        except OrderRefused as exc:
            self._orphaned(pos, f"close refused before sending: {exc}")
            return
        except VenueError as exc:
            if is_pushback(exc):
                if close_id and price is not None and pos.exits_uncertain and pos.exit_ids == (close_id,):
                    pos.exit_ids, pos.exits_uncertain = (), False
                    self._closing_at(pos, close_id, price, qty)
                    # The close may be live: it is re-priced (cancelled, read, sold again) as soon as the
                    # venue allows, never left to the safety verification a minute away while the user
                    # stream is live (4 SOL had no exit for 30 s: simulation, config.yaml with paper.oco
                    # off, polling and four symbols, seed 5).
                    pos.close_reason = why
                    self._defer(PendingKind.STOP_CLOSE, pos.key, exc)
                    return
                if pos.exit_ids:
                    pos.exits_uncertain = True  # a refused cancel: the exit's state is not known
                pos.close_reason = why
                self._defer(PendingKind.STOP_CLOSE, pos.key, exc)
            else:
                self._orphaned(pos, f"close failed: {exc}")
            return
        if price is None:
            # Less is held than tracked, too little to sell at the bid: protected again instead (sized to
            # what is held, so the next quote keeps the exits rather than closing again).
            pos.holding = Holding(held, pos.holding.entry_price)
            self._protect(pos)
            return
        self._closing_at(pos, close_id, price, qty)
        pos.quick_retries = 0
        self.ctx.events.record(
            "position_closing",
            f"{why}: selling {qty} at {price} ({close_id})",
            symbol=symbol,
            level="WARNING",
        )

    @staticmethod
    def _close_over(pos: TrackedPosition) -> None:
        """``pos``'s close ended without ending it; what is left is protected by exits again. Why it was
        closing, and a retry of its refused close, end with it: a retry kept sold the re-armed position a
        moment later (a reason kept named a close no longer wanted)."""
        pos.close_id = None
        pos.close_reason = ""
        pos.close_retry_due = False

    def _closing_at(self, pos: TrackedPosition, close_id: str, price: Decimal, qty: Decimal) -> None:
        """``close_id`` rests (or may) for ``qty`` at ``price``: re-pricing it is timed from now."""
        pos.close_id, pos.close_price, pos.close_qty = close_id, price, qty
        pos.close_since_ns = self.ctx.clock.monotonic_ns()

    def _chase_close(self, pos: TrackedPosition, quote: Quote) -> None:
        """A close the bid has fallen below rests unsold: once it has rested ``close_reprice_after_s`` it
        is replaced at the new bid (``core.protection.close_reprice``), at most once per interval."""
        if pos.close_price is None:
            return
        rested_s = (self.ctx.clock.monotonic_ns() - pos.close_since_ns) / NS_PER_S
        reprice_after_s = self._config.monitor.close_reprice_after_s
        rules = self._rules_for(pos.symbol)
        new_price = close_reprice(
            pos.close_price, quote.bid, rested_s=rested_s, reprice_after_s=reprice_after_s, rules=rules
        )
        if new_price is not None:
            self._reprice_close(pos, quote)

    def _reprice_close(self, pos: TrackedPosition, quote: Quote) -> None:
        """Cancel the close and learn what it sold before selling what is still held at ``quote``'s bid.
        A cancel refused because the close ended meanwhile reads its end: a close that sold everything
        ends the position, never a second sell. Pushback: retried when the venue allows."""
        close_id, old_price = pos.close_id, pos.close_price
        if close_id is None:
            return
        pos.close_since_ns = self.ctx.clock.monotonic_ns()  # one attempt per interval, whatever its outcome
        pos.exit_filled_qty.setdefault(close_id, Decimal(0))  # its late events are still ours
        try:
            ended = self._cancel_quietly(pos.symbol, close_id)
            if ended is None:
                ended = self._ended_leg(pos, close_id)
        except VenueError as exc:
            if is_pushback(exc) and self._tracked(pos.key) is pos:
                self._defer(PendingKind.STOP_CLOSE, pos.key, exc)
            else:  # not pushback (or no longer tracked): tried again after the interval
                logger.warning("[{}] could not re-price close {} yet: {}", pos.symbol, close_id, exc)
            return
        # What it had left to sell, as the venue's answer says (all of it when the venue never had it).
        rest, sold = (
            (ended.remaining_qty, ended.filled_qty) if ended is not None else (pos.close_qty, Decimal(0))
        )
        self._exit_sold(pos, close_id, sold)
        pos.exits_ended.add(close_id)
        pos.close_id = pos.close_price = None
        rules = self._rules_for(pos.symbol)
        rest = exit_qty(min(rest, pos.qty), rules)
        new_price = close_price(quote.bid, rules)
        if is_dust(rest, rules, new_price):
            # It sold all it could: what else is held (if anything) is protected as after any close.
            if is_dust(pos.qty, rules, new_price):
                price = (ended.avg_fill_price or ended.price) if ended is not None else new_price
                self._closed(pos, price, OrderPurpose.CLOSE, sold=sold)
            else:
                self._close_over(pos)
                self._rearm(pos)
            return
        self.ctx.events.record(
            "close_repriced",
            f"{close_id} at {old_price} rested above the bid {quote.bid}; {qty_text(sold, rules)} sold by it",
            symbol=pos.symbol,
            level="WARNING",
        )
        self._close(pos, quote, f"close re-priced (bid {quote.bid} below {old_price})", rest=rest)

    def _held_for_close(self, pos: TrackedPosition, rules: SymbolRules) -> Decimal:
        """What a close of ``pos`` may sell: what is held less what lots keep for their own exits.
        Raises VenueError.

        The ledger when it covers the position. When it shows less (a fill's event is still on its way)
        the venue's record decides: a close sized from the ledger alone left the rest without an exit
        for as long as the close rested. Should the venue refuse that read, the close never waits: it
        sells what the ledger holds (a remainder is protected once the close is done)."""
        symbol = pos.symbol
        # A lot bought during an earlier close, or still being closed, has its own, less what its sells
        # sold that the ledger has and this inbox not yet: counted as the lots', that sale made the close
        # of a position 0.0215 ETH smaller than it held, uncovered for 2 s (simulation, config.yaml seed 75).
        kept = Decimal(0) if pos.lot else self._kept_by_lots_in_ledger(symbol)
        held = self._ledger_held(symbol) if self._ledger.live else Decimal(0)
        if exit_qty(held - kept, rules) < exit_qty(pos.qty, rules):
            try:
                held = sum((p.qty for p in self._exchange.positions([symbol])), Decimal(0))
            except VenueError:
                if held <= 0:
                    raise
        return held - kept

    def _closed(self, pos: TrackedPosition, price: Decimal, purpose: OrderPurpose, *, sold: Decimal) -> None:
        """The exits sold ``sold`` and what is left (``pos.qty``) cannot be sold: the position ends, its
        remainder is dust carried into the symbol's next exit."""
        symbol = pos.symbol
        rules = self._rules_for(symbol)
        if pos.lot:
            if self._lots.get(symbol) is pos:
                del self._lots[symbol]
            self._forget_closing_lot(pos)
        else:
            self._positions.pop(symbol, None)
        self._release(symbol)
        left = f"; {qty_text(pos.qty, rules)} left below the venue minimum" if pos.qty > 0 else ""
        self.ctx.events.record(
            "position_closed",
            f"{qty_text(sold, rules)} closed by {purpose.value} at {decimal_str(price)}{left}",
            symbol=symbol,
        )
        reason = {
            OrderPurpose.TAKE_PROFIT: CloseReason.TAKE_PROFIT,
            OrderPurpose.STOP_LOSS: CloseReason.STOP_LOSS,
        }
        closed = PositionClosed(
            symbol=symbol,
            qty=pos.qty,
            price=price,
            reason=reason.get(purpose, pos.close_kind),
            ts_init=self.ctx.clock.wall_ns(),
        )
        record_in_journal(self.ctx, closed)
        if not pos.lot:
            self._promote_lot(symbol)
        self._keep_dust(pos)

    def _keep_dust(self, pos: TrackedPosition, held: Decimal | None = None) -> None:
        """What ``pos`` leaves held below the venue minimum stays the symbol's: added to the position still
        tracked for it (sold with its next exit), else carried into the next one. Carrying never makes an
        exit ask for more than is held: arming sizes from what the venue holds."""
        dust = pos.qty if held is None else min(pos.qty, held) if pos.qty > 0 else held
        if dust <= 0:
            return
        if pos.adopted_growth is not None:
            # What the position took in ahead of a fill's report is in this dust: it goes with it.
            credit = pos.adopted_growth.carried(dust, self._dust_credits.get(pos.symbol))
            self._dust_credits[pos.symbol] = credit
            pos.adopted_growth = None
        survivor = self._positions.get(pos.symbol)
        if survivor is not None and survivor is not pos and self._closing(pos.symbol):
            # A close sells only what it was sized for: dust joining it would stay beside it without an
            # exit for as long as the close rests. The symbol's lot takes it, else it is watched apart.
            lot = self._lots.get(pos.symbol)
            if lot is None or lot is pos or lot.close_id is not None:
                beside = self._dust_beside_close.get(pos.symbol, Decimal(0))
                self._dust_beside_close[pos.symbol] = beside + dust
                # Judged at once with the other closes' remainders, not at the next quote, once whatever
                # ended ``pos`` is done (two lots' remainders, worth a minimum order together, went
                # unjudged while the symbol's lot was being closed: simulation, bench/simulate.yaml seed 1).
                self.actor_ref.tell(ProtectDust(symbol=pos.symbol))
                return
            survivor = lot
        if survivor is not None and survivor is not pos:
            self._add_dust(survivor, dust)
        else:
            # Added to what earlier positions left: all of it is held (arming sizes from the venue).
            self._dust[pos.symbol] = self._dust.get(pos.symbol, Decimal(0)) + dust
            self._watch(pos.symbol)  # sold on its own once the price makes it worth an exit
            # Judged at the newest bid now, not at the next quote: its position's exit prices (below the
            # bid) made it dust, an exit at the bid may be valid (0.000020 BTC waited 0.96 s for the next
            # quote: simulation, config.yaml seed 133). By message: whatever ended ``pos`` finishes first.
            self.actor_ref.tell(ProtectDust(symbol=pos.symbol))

    def _add_dust(self, pos: TrackedPosition, dust: Decimal) -> None:
        """``dust`` (what ended positions or lots left below the minimum) joins ``pos``, sold with its next
        exit; once what its resting exit leaves uncovered adds up to a sellable order, that exit is placed
        again for the whole (remainders of several closes, each too small alone, summed to a minimum order
        left uncovered for 23 s: simulation, config.yaml seed 24). Re-armed by message, after whatever
        ended the others is done (it may re-arm ``pos`` itself)."""
        pos.holding = Holding(pos.qty + dust, pos.holding.entry_price)
        self._take_dust_credit(pos)
        if not pos.exit_ids or pos.close_id is not None or pos.rearm_due:
            return  # not armed (its arming sizes from what is held), being closed, or re-armed already
        quote = self._last_quote.get(pos.symbol)
        price = quote.bid if quote is not None else self._reference_price(pos)
        if price is not None and exit_falls_short(pos.qty, pos.exit_qty, self._rules_for(pos.symbol), price):
            pos.rearm_due = True
            self.actor_ref.tell(RearmExits(symbol=pos.symbol))

    def _take_dust_credit(self, pos: TrackedPosition) -> None:
        """``pos`` takes its symbol's dust: with it, what of that dust a fill's report may still bring."""
        credit = self._dust_credits.pop(pos.symbol, None)
        if credit is not None:
            pos.adopted_growth = credit.carried(credit.qty, pos.adopted_growth)

    def _promote_lot(self, symbol: str) -> None:
        """The symbol's position ended: a lot bought during its close survives as the position (with the
        dust the position left), so its exits stay known and nothing is armed beside them."""
        beside = self._dust_beside_close.pop(symbol, Decimal(0))
        if beside > 0:  # no close rests beside it any more: carried like any dust
            self._dust[symbol] = self._dust.get(symbol, Decimal(0)) + beside
        lot = self._lots.pop(symbol, None)
        if lot is None:
            return
        lot.lot = False
        self._positions[symbol] = lot
        dust = self._dust.pop(symbol, Decimal(0))
        if dust > 0:
            self._add_dust(lot, dust)
        for kind, key in list(self._pending):  # its refused work goes on under its new key
            if key == symbol:
                del self._pending[(kind, key)]  # the ended position's own
            elif key == symbol + _LOT:  # lots still being closed have keys of their own
                action = self._pending.pop((kind, key))
                self._pending[(kind, symbol)] = PendingAction(kind, symbol, action.since_ns)
        if lot.repair_pending:
            self.schedule(self._config.monitor.orphan_retry_s, RepairOrphan(symbol=symbol))
        self.ctx.events.record(
            "lot_promoted",
            f"{qty_text(lot.qty, self._rules_for(symbol))} bought during the close stays protected",
            symbol=symbol,
        )

    def _remove(self, symbol: str, why: str) -> None:
        pos = self._positions.pop(symbol, None)
        if pos is not None:
            self._promote_lot(symbol)
            self._release(symbol)
            self.ctx.events.record("position_removed", why, symbol=symbol, level="WARNING")
            gone = PositionClosed(
                symbol=symbol,
                qty=pos.qty,
                reason=CloseReason.GONE,
                detail=why,
                ts_init=self.ctx.clock.wall_ns(),
            )
            record_in_journal(self.ctx, gone)

    def _journal_opened(self, pos: TrackedPosition) -> None:
        opened = PositionOpened(
            symbol=pos.symbol,
            qty=pos.qty,
            entry_price=pos.holding.entry_price,
            adopted=pos.adopted,
            ts_init=self.ctx.clock.wall_ns(),
        )
        record_in_journal(self.ctx, opened)

    def _journal_armed(self, pos: TrackedPosition) -> None:
        armed = ExitsArmed(
            symbol=pos.symbol,
            qty=pos.exit_qty,
            take_profit=pos.take_profit,
            stop_loss=pos.stop_loss,
            client_order_ids=pos.exit_ids,
            oco=pos.oco,
            ts_init=self.ctx.clock.wall_ns(),
        )
        record_in_journal(self.ctx, armed)

    def _drop(self, pos: TrackedPosition, why: str) -> None:
        """Forget ``pos`` wherever it is kept (a position or a lot)."""
        if pos.lot:
            if self._lots.get(pos.symbol) is pos:
                del self._lots[pos.symbol]
                self._release(pos.symbol)
                self.ctx.events.record("lot_removed", why, symbol=pos.symbol, level="WARNING")
            elif self._forget_closing_lot(pos):
                self.ctx.events.record("lot_removed", why, symbol=pos.symbol, level="WARNING")
        elif self._positions.get(pos.symbol) is pos:
            self._remove(pos.symbol, why)

    def _forget_closing_lot(self, pos: TrackedPosition) -> bool:
        """Forget ``pos`` if it is a lot kept only until its close ends; True when it was one."""
        for index, lot in enumerate(self._closing_lots):
            if lot is pos:
                del self._closing_lots[index]
                return True
        return False

    # -- orphans ------------------------------------------------------------------------------------------

    def _orphaned(self, pos: TrackedPosition, error: str) -> None:
        """No live exit. Repair now (attempt 1); later attempts follow at ``orphan_retry_s`` spacing."""
        pos.exit_ids = ()
        pos.last_error = error
        if pos.unprotected or pos.repair_pending:
            return
        self.ctx.events.record("orphan_detected", error, symbol=pos.symbol, level="WARNING")
        if pos.repair_attempts == 0:
            self._repair(pos)
        else:
            pos.repair_pending = True
            self.schedule(self._config.monitor.orphan_retry_s, RepairOrphan(symbol=pos.key))

    def on_repair_orphan(self, message: RepairOrphan) -> None:
        pos = self._tracked(message.symbol)
        if pos is None:
            return
        pos.repair_pending = False
        if pos.exit_ids or pos.close_id:
            return
        self._repair(pos)

    def _repair(self, pos: TrackedPosition) -> None:
        symbol = pos.symbol
        budget = self._exchange.request_budget
        wait_s = budget.wait_s(priority=True)
        if not attempt_counts(wait_s, None):  # the venue refuses every request: no attempt is spent
            self._repair_later(pos, retry_delay_s(wait_s))
            return
        pos.repair_attempts += 1  # recorded before the call: a crash mid-call still counts it
        attempt = pos.repair_attempts
        try:
            held = sum((p.qty for p in self._exchange.positions([symbol])), Decimal(0))
            if held <= 0:
                self._drop(pos, "the exchange no longer holds it (found during repair)")
                return
            pos.holding = Holding(min(pos.qty, held) if pos.qty > 0 else held, pos.holding.entry_price)
            self._arm(pos)
            if pos.awaiting_price:
                pos.repair_attempts = 0
            return
        except VenueError as exc:
            pos.last_error = str(exc)
            if not attempt_counts(0.0, exc):  # refused or unanswered: not an answer on the merits
                pos.repair_attempts -= 1
                if isinstance(exc, FatalVenueError):
                    self._report_auth(str(exc))
                if pos.exit_ids and pos.exits_uncertain:
                    # An exit of unknown outcome whose lookup was refused: the repair's timer would find
                    # it "armed" and stop, leaving it unknown (and likely absent) until the safety-net
                    # verification. Settled (cancelled, read) and placed again as soon as the venue allows.
                    self._defer(PendingKind.PROTECT, pos.key, exc)
                    return
                self._repair_later(
                    pos,
                    retry_delay_s(
                        budget.wait_s(priority=True), exc, auth_retry_s=self._config.monitor.orphan_retry_s
                    ),
                )
                return
        except OrderRefused as exc:  # refused before sending: counted like the venue's own refusal
            pos.last_error = str(exc)
        if attempt >= self._config.monitor.orphan_max_attempts:
            pos.unprotected = True
            self.ctx.metrics.inc("positions_unprotected")
            self.ctx.events.record(
                "position_unprotected",
                f"{pos.qty} has NO exit after {attempt} attempts (last error: {pos.last_error}); the monitor "
                f"still guards its stop loss on quotes; act now",
                symbol=symbol,
                level="ERROR",
            )
            return
        pos.repair_pending = True
        logger.warning(
            "[{}] exit repair attempt {} failed ({}); next in {}s",
            symbol,
            attempt,
            pos.last_error,
            self._config.monitor.orphan_retry_s,
        )
        self.schedule(self._config.monitor.orphan_retry_s, RepairOrphan(symbol=pos.key))

    def _repair_later(self, pos: TrackedPosition, delay_s: float) -> None:
        pos.repair_pending = True
        self.schedule(delay_s, RepairOrphan(symbol=pos.key))

    # -- queries ------------------------------------------------------------------------------------------

    def _is_our_exit(self, client_order_id: str) -> bool:
        ours = ClientId.ours(client_order_id, self._prefix)
        return ours is not None and ours.purpose is not None and ours.purpose.is_exit

    def on_get_snapshot(self, _: GetSnapshot) -> list[MonitoredPosition]:
        out: list[MonitoredPosition] = []
        for pos in [*self._positions.values(), *self._lots.values(), *self._closing_lots]:
            quote = self._last_quote.get(pos.symbol)
            out.append(
                MonitoredPosition(
                    symbol=pos.symbol,
                    qty=pos.qty,
                    entry_price=pos.holding.entry_price,
                    take_profit=pos.take_profit,
                    stop_loss=pos.stop_loss,
                    exit_order_ids=pos.exit_ids + ((pos.close_id,) if pos.close_id else ()),
                    protected=pos.protected,
                    unprotected=pos.unprotected,
                    oco=pos.oco,
                    adopted=pos.adopted,
                    repair_attempts=pos.repair_attempts,
                    last_price=quote.bid if quote else None,
                    lot=pos.lot,
                    waiting_for_venue=any(key == pos.key for _, key in self._pending),
                )
            )
        return out
