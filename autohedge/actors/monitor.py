"""PositionMonitorActor: keeps every open position protected.

* Entry fills (``OrderFilled`` from the executor) grow a position by the filled quantity net of fees
  paid in the base asset; each change re-arms the exit for the whole held quantity.
* Protection by capability: an OCO where the venue holds TP and SL together; otherwise a resting TP
  limit with the SL guarded here on quotes (``monitor.mode: quote``) or on polled prices (``polling``).
* ``CheckExits`` (every ``poll_interval_s``) verifies positions and exit legs against the exchange:
  a filled exit closes the position, a vanished exit makes an orphan, a vanished position is removed.
* Orphan repair: at most ``orphan_max_attempts``, at least ``orphan_retry_s`` apart, each attempt
  recorded before the call; then the position is reported unprotected (loudly) and kept.
* ``Reconcile`` (on start, on restart and on ``SyncPositions``) adopts every position the exchange
  holds, also ones this process never opened, and arms exits before strategies may start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from loguru import logger

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.actors.protocol import CheckExits, GetSnapshot, Reconcile, RepairOrphan
from autohedge.core.client_ids import ClientId
from autohedge.core.clock import NS_PER_S
from autohedge.core.config import AppConfig
from autohedge.core.conflate import LatestSlots
from autohedge.core.errors import DefinitiveError, FatalVenueError, OutcomeUnknown, UnknownOrder, VenueError
from autohedge.core.ids import OrderKeySource
from autohedge.core.messages import (
    ClosePosition,
    EntryProtection,
    OcoRequest,
    OrderCanceled,
    OrderFilled,
    OrderRequest,
    OrderSnapshot,
    PositionSnapshot,
    Quote,
    ReconciliationCompleted,
    SymbolRules,
    SyncPositions,
)
from autohedge.core.ports import Exchange
from autohedge.core.positions import Holding
from autohedge.core.protection import (
    STOP_LIMIT_SLIPPAGE,
    ProtectionPlan,
    exit_prices,
    exit_qty,
    plan_for,
    stop_triggered,
)
from autohedge.core.types import (
    OrderPurpose,
    OrderStatus,
    OrderType,
    Side,
    quantize_down,
)

__all__ = ["MonitoredPosition", "PositionMonitorActor", "TrackedPosition"]


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
    repair_attempts: int = 0
    repair_pending: bool = False
    unprotected: bool = False
    last_error: str = ""
    awaiting_price: bool = False
    exit_filled_qty: dict[str, Decimal] = field(default_factory=dict)

    @property
    def qty(self) -> Decimal:
        return self.holding.qty

    @property
    def protected(self) -> bool:
        return bool(self.exit_ids) or self.close_id is not None


class PositionMonitorActor(SupervisedActor):
    def __init__(
        self,
        ctx: ActorContext,
        *,
        exchange: Exchange,
        config: AppConfig,
        keys: OrderKeySource,
        slots: LatestSlots[Quote],
    ) -> None:
        super().__init__(ctx)
        self._exchange = exchange
        self._config = config
        self._keys = keys
        self._slots = slots
        self._prefix = config.executor.client_id_prefix
        self._positions: dict[str, TrackedPosition] = {}
        self._last_quote: dict[str, Quote] = {}
        self._rules: dict[str, SymbolRules] = {}
        self._plan = plan_for(exchange.capabilities)

    # -- lifecycle ------------------------------------------------------------------------------------

    def started(self) -> None:
        for symbol in self._config.symbols:
            self._slots.reset(symbol)
        self.actor_ref.tell(Reconcile())
        self.schedule(self._config.monitor.poll_interval_s, CheckExits())

    def on_reconcile(self, _: Reconcile) -> int:
        """Adopt every exchange position and arm its exit. A failure to read the exchange crashes the
        monitor (the supervisor restarts it with backoff and it tries again)."""
        self._plan = plan_for(self._exchange.capabilities)
        exchange_positions = {p.symbol: p for p in self._exchange.positions(self._config.symbols)}
        open_orders = self._exchange.open_orders()
        for symbol in list(self._positions):
            if symbol not in exchange_positions:
                self._remove(symbol, "the exchange holds no position")
        adopted = 0
        for symbol, snapshot in exchange_positions.items():
            if self._adopt(snapshot, [o for o in open_orders if o.symbol == symbol]):
                adopted += 1
        self.ctx.events.record("reconciled", f"{adopted} positions adopted and protected from the exchange")
        self.ctx.report(
            ReconciliationCompleted(
                positions=adopted, incarnation=self.ctx.incarnation, ts_init=self.ctx.clock.wall_ns()
            )
        )
        return adopted

    def on_sync_positions(self, _: SyncPositions) -> int:
        return self.on_reconcile(Reconcile())

    def _adopt(self, snapshot: PositionSnapshot, open_orders: list[OrderSnapshot]) -> bool:
        symbol = snapshot.symbol
        rules = self._rules_for(symbol)
        if exit_qty(snapshot.qty, rules) <= 0:
            logger.info(
                "[{}] holding {} is below the venue minimum; nothing to protect", symbol, snapshot.qty
            )
            return False
        pos = self._positions.get(symbol)
        if pos is None:
            pos = TrackedPosition(
                symbol=symbol, holding=Holding(snapshot.qty, snapshot.avg_entry_price), adopted=True
            )
            self._positions[symbol] = pos
        else:
            pos.holding = Holding(snapshot.qty, pos.holding.entry_price or snapshot.avg_entry_price)
        ours = [o for o in open_orders if o.side is Side.SELL and self._is_our_exit(o.client_order_id)]
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
            self.ctx.events.record(
                "exit_adopted",
                f"existing exits {', '.join(pos.exit_ids)} kept for {snapshot.qty}",
                symbol=symbol,
            )
            return True
        for order in ours:
            self._cancel_quietly(symbol, order.client_order_id)
        pos.exit_ids = ()
        self._protect(pos)
        return True

    # -- fills and quotes -------------------------------------------------------------------------------

    def on_order_filled(self, fill: OrderFilled) -> None:
        if fill.purpose is not OrderPurpose.ENTRY:
            return
        pos = self._positions.get(fill.symbol)
        if pos is None:
            pos = TrackedPosition(symbol=fill.symbol, holding=Holding())
            self._positions[fill.symbol] = pos
        pos.holding = pos.holding.after_fill(fill)
        if fill.protection is not None:
            pos.proposal = fill.protection
        self._rearm(pos)

    def on_order_canceled(self, _: OrderCanceled) -> None:
        """An entry ended unfilled: nothing to protect."""

    def on_quote(self, quote: Quote) -> None:
        newest = self._slots.take(quote.symbol) or quote
        self._last_quote[newest.symbol] = newest
        pos = self._positions.get(newest.symbol)
        if pos is None:
            return
        if pos.awaiting_price:
            pos.awaiting_price = False
            self._rearm(pos)
            return
        if self._config.monitor.mode == "quote":
            self._guard_stop(pos, newest)

    def _guard_stop(self, pos: TrackedPosition, quote: Quote) -> None:
        """The SL of a position whose venue cannot hold it (or whose exit is gone) is watched here."""
        if pos.close_id is not None or pos.stop_loss is None:
            return
        if pos.oco and pos.exit_ids:
            return
        if stop_triggered(quote, pos.stop_loss):
            self._close(pos, quote, f"stop loss {pos.stop_loss} reached (bid {quote.bid})")

    def on_close_position(self, message: ClosePosition) -> None:
        pos = self._positions.get(message.symbol)
        if pos is None or pos.close_id is not None:
            return
        quote = self._last_quote.get(message.symbol)
        if quote is None:
            try:
                quote = self._exchange.best_quote(message.symbol)
            except VenueError as exc:
                logger.warning("[{}] cannot close ({}): no price", message.symbol, exc)
                return
        self._close(pos, quote, message.reason or "close requested")

    # -- periodic verification ----------------------------------------------------------------------------

    def on_check_exits(self, _: CheckExits) -> None:
        try:
            if self._positions:
                self._verify()
        except FatalVenueError:
            raise
        except VenueError as exc:
            logger.warning("exit check skipped: {}", exc)
        finally:
            self.schedule(self._config.monitor.poll_interval_s, CheckExits())

    def _verify(self) -> None:
        exchange_positions = {p.symbol: p for p in self._exchange.positions(list(self._positions))}
        open_ids = {o.client_order_id for o in self._exchange.open_orders()}
        for symbol in list(self._positions):
            pos = self._positions[symbol]
            self._verify_one(pos, exchange_positions.get(symbol), open_ids)
            if (
                symbol in self._positions
                and not (pos.oco and pos.exit_ids)
                and self._needs_polled_price(symbol)
            ):
                quote = self._exchange.best_quote(symbol)
                self._last_quote[symbol] = quote
                self._guard_stop(pos, quote)

    def _needs_polled_price(self, symbol: str) -> bool:
        """Polling mode always; quote mode when the stream has gone quiet (feed down, trading stopped),
        so a guarded stop loss never goes blind."""
        if self._config.monitor.mode == "polling":
            return True
        quote = self._last_quote.get(symbol)
        max_age_ns = int(3 * self._config.monitor.poll_interval_s * NS_PER_S)
        return quote is None or self.ctx.clock.wall_ns() - quote.ts_init > max_age_ns

    def _verify_one(self, pos: TrackedPosition, held: PositionSnapshot | None, open_ids: set[str]) -> None:
        symbol = pos.symbol
        held_qty = held.qty if held is not None else Decimal(0)
        if pos.close_id is not None:
            order = self._exchange.get_order(symbol, client_order_id=pos.close_id)
            if order.status is OrderStatus.FILLED or held_qty <= 0:
                self._closed(pos, order.avg_fill_price or order.price, OrderPurpose.CLOSE)
            elif order.status.is_terminal:
                pos.close_id = None  # the close did not complete: protect what is left
                pos.holding = Holding(held_qty, pos.holding.entry_price)
                self._rearm(pos)
            return
        dead_legs = [coid for coid in pos.exit_ids if coid not in open_ids]
        exit_fill = Decimal(0)
        exit_price = Decimal(0)
        purpose = OrderPurpose.TAKE_PROFIT
        for coid in dead_legs:
            try:
                order = self._exchange.get_order(symbol, client_order_id=coid)
            except UnknownOrder:
                continue
            if order.filled_qty > 0:
                exit_fill += order.filled_qty
                exit_price = order.avg_fill_price or order.price
                purpose = (
                    OrderPurpose.STOP_LOSS
                    if order.order_type is OrderType.STOP_LIMIT
                    else OrderPurpose.TAKE_PROFIT
                )
        if exit_qty(held_qty, self._rules_for(symbol)) <= 0:  # nothing (or only unsellable dust) left
            if exit_fill > 0:
                self._closed(pos, exit_price, purpose)
            else:
                self._remove(symbol, "the exchange no longer holds it")
            return
        if held_qty != pos.qty:
            pos.holding = Holding(held_qty, pos.holding.entry_price)
        if dead_legs or not pos.exit_ids:
            if exit_fill > 0:
                self.ctx.events.record(
                    "exit_partially_filled", f"{exit_fill} sold; re-arming {held_qty}", symbol=symbol
                )
                self._rearm(pos)
            elif not pos.repair_pending and not pos.unprotected and not pos.awaiting_price:
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
        return rules

    def _reference_price(self, pos: TrackedPosition) -> Decimal | None:
        if pos.holding.entry_price is not None:
            return pos.holding.entry_price
        quote = self._last_quote.get(pos.symbol)
        return quote.bid if quote is not None else None

    def _prices_for(self, pos: TrackedPosition, rules: SymbolRules):  # type: ignore[no-untyped-def]
        reference = self._reference_price(pos)
        if reference is None:
            return None
        return exit_prices(reference, self._config.params_for(pos.symbol), rules, pos.proposal)

    def _rearm(self, pos: TrackedPosition) -> None:
        """Replace the exit so it covers exactly what is held now."""
        try:
            self._disarm(pos)
        except FatalVenueError:
            raise
        except VenueError as exc:
            # The old exit may still be live: keep it; the next CheckExits sees the size mismatch.
            logger.warning(
                "[{}] could not replace the exit yet ({}); retrying on the next check", pos.symbol, exc
            )
            return
        self._protect(pos)

    def _protect(self, pos: TrackedPosition) -> None:
        try:
            self._arm(pos)
        except FatalVenueError:
            raise
        except VenueError as exc:
            self._orphaned(pos, str(exc))

    def _disarm(self, pos: TrackedPosition) -> None:
        for coid in pos.exit_ids:
            snapshot = self._cancel_quietly(pos.symbol, coid)
            if snapshot is not None and snapshot.filled_qty > 0:
                pos.exit_filled_qty[coid] = snapshot.filled_qty
            if pos.oco:
                break  # cancelling one leg cancels the list
        pos.exit_ids = ()
        pos.exit_qty = Decimal(0)

    def _cancel_quietly(self, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        try:
            return self._exchange.cancel_order(symbol, client_order_id=client_order_id)
        except (UnknownOrder, DefinitiveError):
            return None  # already gone (filled, cancelled with its OCO sibling, or never placed)

    def _arm(self, pos: TrackedPosition) -> None:
        """Place the exit for what the exchange says is held, never more. Raises VenueError."""
        symbol = pos.symbol
        rules = self._rules_for(symbol)
        held = sum((p.qty for p in self._exchange.positions([symbol])), Decimal(0))
        qty = exit_qty(min(pos.qty, held), rules)
        if held <= 0:
            self._remove(symbol, "nothing held on the exchange")
            return
        if qty <= 0:
            self._remove(symbol, f"holding {held} is below the venue minimum: nothing to protect")
            return
        if held < pos.qty:
            pos.holding = Holding(held, pos.holding.entry_price)
        prices = self._prices_for(pos, rules)
        if prices is None:
            pos.awaiting_price = True
            logger.info("[{}] waiting for the first quote to price the exit of {}", symbol, qty)
            return
        key = self._keys.next_key()
        tp = ClientId(self._prefix, OrderPurpose.TAKE_PROFIT, key)
        tp_id = tp.encode()
        oco = self._plan is ProtectionPlan.OCO
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
            self._submit_exit(symbol, tp_id, lambda: self._exchange.submit_oco(request))
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
            self._submit_exit(symbol, tp_id, lambda: self._exchange.submit_order(order))
            pos.exit_ids = (tp_id,)
        was_orphan = pos.repair_attempts > 0 or pos.unprotected
        pos.oco, pos.exit_qty = oco, qty
        pos.take_profit, pos.stop_loss = prices.take_profit, prices.stop_loss
        pos.repair_attempts, pos.repair_pending, pos.unprotected, pos.last_error = 0, False, False, ""
        self.ctx.metrics.inc("exits_armed")
        if was_orphan:
            self.ctx.metrics.inc("orphans_repaired")
            self.ctx.events.record(
                "orphan_repaired", f"exit re-created for {qty}", symbol=symbol, level="SUCCESS"
            )
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

    def _submit_exit(self, symbol: str, probe_id: str, submit) -> None:  # type: ignore[no-untyped-def]
        """Submit; on an unknown outcome ask the venue for the id before trying once more."""
        try:
            submit()
            return
        except OutcomeUnknown as exc:
            logger.warning("[{}] exit {} outcome unknown ({}); asking the venue", symbol, probe_id, exc)
        try:
            self._exchange.get_order(symbol, client_order_id=probe_id)
            return  # it exists: the response was lost, not the order
        except UnknownOrder:
            pass
        submit()  # the venue never saw it: the same ids again are safe

    # -- closing ------------------------------------------------------------------------------------------

    def _close(self, pos: TrackedPosition, quote: Quote, why: str) -> None:
        """Cancel the exits, then sell what is held at a marketable limit below the bid."""
        symbol = pos.symbol
        try:
            self._disarm(pos)
            rules = self._rules_for(symbol)
            held = sum((p.qty for p in self._exchange.positions([symbol])), Decimal(0))
            qty = exit_qty(min(pos.qty, held), rules)
            if qty <= 0:
                self._remove(symbol, "nothing left to sell")
                return
            price = max(
                quantize_down(quote.bid * (1 - STOP_LIMIT_SLIPPAGE), rules.tick_size), rules.tick_size
            )
            close_id = ClientId(self._prefix, OrderPurpose.CLOSE, self._keys.next_key()).encode()
            request = OrderRequest(
                client_order_id=close_id,
                symbol=symbol,
                side=Side.SELL,
                qty=qty,
                price=price,
                purpose=OrderPurpose.CLOSE,
            )
            self._submit_exit(symbol, close_id, lambda: self._exchange.submit_order(request))
        except FatalVenueError:
            raise
        except VenueError as exc:
            self._orphaned(pos, f"close failed: {exc}")
            return
        pos.close_id = close_id
        self.ctx.events.record(
            "position_closing",
            f"{why}: selling {qty} at {price} ({close_id})",
            symbol=symbol,
            level="WARNING",
        )

    def _closed(self, pos: TrackedPosition, price: Decimal, purpose: OrderPurpose) -> None:
        self._positions.pop(pos.symbol, None)
        self.ctx.events.record(
            "position_closed", f"{pos.qty} closed by {purpose.value} at {price}", symbol=pos.symbol
        )

    def _remove(self, symbol: str, why: str) -> None:
        if self._positions.pop(symbol, None) is not None:
            self.ctx.events.record("position_removed", why, symbol=symbol, level="WARNING")

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
            self.schedule(self._config.monitor.orphan_retry_s, RepairOrphan(symbol=pos.symbol))

    def on_repair_orphan(self, message: RepairOrphan) -> None:
        pos = self._positions.get(message.symbol)
        if pos is None:
            return
        pos.repair_pending = False
        if pos.exit_ids or pos.close_id:
            return
        self._repair(pos)

    def _repair(self, pos: TrackedPosition) -> None:
        symbol = pos.symbol
        pos.repair_attempts += 1  # recorded before the call: a crash mid-call still counts it
        attempt = pos.repair_attempts
        try:
            held = sum((p.qty for p in self._exchange.positions([symbol])), Decimal(0))
            if held <= 0:
                self._remove(symbol, "the exchange no longer holds it (found during repair)")
                return
            pos.holding = Holding(min(pos.qty, held) if pos.qty > 0 else held, pos.holding.entry_price)
            self._arm(pos)
            if pos.awaiting_price:
                pos.repair_attempts = 0
            return
        except FatalVenueError:
            raise
        except VenueError as exc:
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
        self.schedule(self._config.monitor.orphan_retry_s, RepairOrphan(symbol=symbol))

    # -- queries ------------------------------------------------------------------------------------------

    def _is_our_exit(self, client_order_id: str) -> bool:
        ours = ClientId.ours(client_order_id, self._prefix)
        return ours is not None and ours.purpose is not None and ours.purpose.is_exit

    def on_get_snapshot(self, _: GetSnapshot) -> list[MonitoredPosition]:
        out: list[MonitoredPosition] = []
        for pos in self._positions.values():
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
                )
            )
        return out
