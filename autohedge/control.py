"""EngineController: the API's view of a running Engine (``autohedge.api.control.EngineControl``).

Runs on the API server's threads; it reads the engine only through asks with timeouts, the thread-safe
metrics and event log, and the exchange port.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Concatenate, ParamSpec, TypeVar

import pykka

from autohedge.actors.monitor import MonitoredPosition
from autohedge.actors.protocol import GetSnapshot
from autohedge.actors.supervisor import StartTrading, StopTrading, SupervisorView
from autohedge.api.control import ActionRefused, EngineUnavailable
from autohedge.api.models import (
    ActorsReport,
    ActorView,
    EquityPointView,
    EventView,
    HealthReport,
    LatencyBuckets,
    MetricsSnapshot,
    OrderView,
    PnlView,
    PositionView,
    StatusReport,
    SymbolPnlView,
    TradeView,
)
from autohedge.app import Engine
from autohedge.core.actor_names import EXECUTOR, MONITOR, SUPERVISOR, ActorName
from autohedge.core.client_ids import ClientId
from autohedge.core.clock import NS_PER_S
from autohedge.core.errors import VenueError
from autohedge.core.gates import KILL_SWITCH, STARTUP, STOPPED
from autohedge.core.messages import CancelEntries, ClosePosition, SyncPositions
from autohedge.core.metrics import LatencyHistogram
from autohedge.core.pnl import PnlBook, PnlReport
from autohedge.core.precision import money_text, step_text

__all__ = ["EngineController", "latency_buckets"]

ASK_TIMEOUT_S = 15.0
EQUITY_POINTS_MAX = 500
"""The newest points of the equity curve served to the page."""


def _at(value: Decimal | None, step: Decimal | None) -> Decimal | None:
    text = step_text(value, step)
    return None if text is None else Decimal(text)


def _money(value: Decimal | None, tick: Decimal | None) -> Decimal | None:
    text = money_text(value, tick)
    return None if text is None else Decimal(text)


_P = ParamSpec("_P")
_R = TypeVar("_R")
NOT_RUNNING = "the engine is not running (not started yet, or stopped)"


def _answering(method: Callable[Concatenate[EngineController, _P], _R]) -> Callable[..., _R]:
    """An engine that is down or slow is said so (EngineUnavailable, 503), never a bare server error."""

    @functools.wraps(method)
    def call(self: EngineController, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not self._engine.running:
            raise EngineUnavailable(NOT_RUNNING)
        try:
            return method(self, *args, **kwargs)
        except pykka.ActorDeadError:
            raise EngineUnavailable(NOT_RUNNING) from None
        except pykka.Timeout:
            raise EngineUnavailable(f"the engine did not answer within {ASK_TIMEOUT_S:g}s") from None
        except VenueError as exc:  # a read the venue refused (open orders): nothing was changed
            raise EngineUnavailable(f"the venue did not answer: {exc}") from None

    return call


def latency_buckets(histogram: LatencyHistogram) -> LatencyBuckets:
    """The API's view of a latency histogram, in seconds."""
    return LatencyBuckets(
        bounds_s=[ns / NS_PER_S for ns in histogram.bounds_ns],
        counts=list(histogram.counts),
        count=histogram.count,
        sum_s=histogram.sum_ns / NS_PER_S,
    )


class EngineController:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._steps: dict[str, tuple[Decimal, Decimal]] = {}
        self._steps_read = False
        self._pnl_lock = threading.Lock()
        self._pnl_book: PnlBook | None = None
        self._fills_rowid = 0

    def _steps_of(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """(tick, lot) of ``symbol``; the exchange's rules are read once and kept."""
        if symbol not in self._steps and not self._steps_read:
            self._steps_read = True
            self._steps.update(self._engine.symbol_steps())
        tick, lot = self._steps.get(symbol, (None, None))
        return tick, lot

    def _purpose(self, client_order_id: str) -> str:
        """The purpose our id encodes; ``external`` for an order someone else placed."""
        ours = ClientId.ours(client_order_id, self._engine.config.executor.client_id_prefix)
        if ours is None:
            return "external"
        return "unknown" if ours.purpose is None else ours.purpose.value

    def _ask(self, name: ActorName, message: object, *, otherwise: str) -> Any:
        """``name``'s answer. Absent, dead or slow, it is EngineUnavailable saying ``otherwise`` (what
        did not happen): a missing actor's None must not read as "none" or "0 done"."""
        ref = self._engine.parts.directory.get(name)
        if ref is None:
            raise EngineUnavailable(f"{name} is not running (restarting or stopped): {otherwise}")
        try:
            return ref.ask(message, timeout=ASK_TIMEOUT_S)
        except pykka.ActorDeadError:
            raise EngineUnavailable(f"{name} is not running (restarting or stopped): {otherwise}") from None
        except pykka.Timeout:
            raise EngineUnavailable(
                f"{name} did not answer within {ASK_TIMEOUT_S:g}s: {otherwise} (it may still take effect)"
            ) from None

    def _view(self) -> SupervisorView:
        view = self._ask(SUPERVISOR, GetSnapshot(), otherwise="the actor tree could not be read")
        assert isinstance(view, SupervisorView)
        return view

    def _held(self) -> list[MonitoredPosition]:
        held: list[MonitoredPosition] = self._ask(
            MONITOR, GetSnapshot(), otherwise="the positions could not be read"
        )
        return held

    @_answering
    def health(self) -> HealthReport:
        view = self._view()
        status, reasons = self._engine.health(view)
        session = self._engine.order_session_status()
        return HealthReport(
            status=status,
            reasons=reasons,
            actors={c.name: c.state for c in view.children},
            order_sessions={} if session is None else {session.venue: session.model_dump(mode="json")},
        )

    @_answering
    def status(self) -> StatusReport:
        engine = self._engine
        view = self._view()
        return StatusReport(
            venue=engine.config.exchange.venue.value,
            market_data=engine.source_name,
            strategy=engine.config.strategy,
            symbols=list(engine.config.symbols),
            uptime_s=(engine.parts.clock.monotonic_ns() - engine.started_ns) / NS_PER_S,
            trading_enabled=not any(g in view.gates for g in (STOPPED, KILL_SWITCH, STARTUP)),
            counters=engine.parts.metrics.snapshot(),
            venues={name: v.model_dump(mode="json") for name, v in engine.venues().items()},
        )

    @_answering
    def positions(self) -> list[PositionView]:
        """Prices at the symbol's tick, quantities at its lot step, P&L at the tick plus two decimals."""
        out = []
        for p in self._held():
            tick, lot = self._steps_of(p.symbol)
            last, entry = p.last_price, p.entry_price
            pnl = (last - entry) * p.qty if last is not None and entry is not None else None
            out.append(
                PositionView(
                    symbol=p.symbol,
                    qty=_at(p.qty, lot) or Decimal(0),
                    entry_price=_at(entry, tick),
                    take_profit=_at(p.take_profit, tick),
                    stop_loss=_at(p.stop_loss, tick),
                    exit_order_ids=list(p.exit_order_ids),
                    protected=p.protected,
                    last_price=_at(last, tick),
                    unrealized_pnl=_money(pnl, tick),
                )
            )
        return out

    def _journal_pnl(self) -> PnlReport | None:
        """The journal's P&L; only fills new since the last call are read and added (the page asks
        every few seconds: replaying a long journal each time would cost the trading threads)."""
        path = self._engine.journal_path
        if path is None or not path.exists():
            return None
        from autohedge.adapters.journal.sqlite import JournalReader

        reader = JournalReader(path)
        with self._pnl_lock:
            if self._pnl_book is None:
                steps = {**self._engine.symbol_steps(), **reader.symbol_steps()}
                self._steps.update(steps)
                self._pnl_book = PnlBook(dust={symbol: lot for symbol, (_, lot) in steps.items()})
            fills, self._fills_rowid = reader.fills_after(self._fills_rowid)
            for fill in fills:
                self._pnl_book.add(fill)
            return self._pnl_book.report(end_ns=self._engine.parts.clock.wall_ns())

    @_answering
    def trades(self, limit: int) -> list[TradeView]:
        report = self._journal_pnl()
        if report is None:
            return []
        out = []
        for t in reversed(report.trades[-limit:]):
            tick, lot = self._steps_of(t.symbol)
            out.append(
                TradeView(
                    symbol=t.symbol,
                    opened_ns=t.opened_ns,
                    closed_ns=t.closed_ns,
                    hold_s=round(t.hold_s, 3),
                    qty=_at(t.qty, lot) or Decimal(0),
                    entry_price=_at(t.entry_price, tick) or Decimal(0),
                    exit_price=_at(t.exit_price, tick) or Decimal(0),
                    realized_pnl=_money(t.realized_pnl, tick) or Decimal(0),
                    fees=_money(t.fees, tick) or Decimal(0),
                    reason=t.reason,
                )
            )
        return out

    @_answering
    def pnl(self) -> PnlView:
        report = self._journal_pnl()
        try:
            positions = self.positions()
        except EngineUnavailable:
            positions = []  # the journal's figures stand; unrealized P&L is unknown (None) meanwhile
        priced = [p.unrealized_pnl for p in positions if p.unrealized_pnl is not None]
        unrealized = sum(priced, Decimal(0)) if priced else None
        if report is None:
            return PnlView(
                journal=False,
                closed_trades=0,
                win_rate=0.0,
                realized_pnl=Decimal(0),
                fees=Decimal(0),
                unrealized_pnl=unrealized,
                symbols=[],
                equity=[],
            )
        ticks = [t for t in (self._steps_of(s.symbol)[0] for s in report.symbols) if t is not None]
        overall_tick = min(ticks) if ticks else None
        overall = report.overall
        return PnlView(
            journal=True,
            closed_trades=overall.closed_trades,
            win_rate=round(overall.win_rate, 4),
            realized_pnl=_money(overall.realized_pnl, overall_tick) or Decimal(0),
            fees=_money(overall.fees, overall_tick) or Decimal(0),
            unrealized_pnl=unrealized,
            symbols=[
                SymbolPnlView(
                    symbol=s.symbol,
                    closed_trades=s.closed_trades,
                    win_rate=round(s.win_rate, 4),
                    realized_pnl=_money(s.realized_pnl, self._steps_of(s.symbol)[0]) or Decimal(0),
                    fees=_money(s.fees, self._steps_of(s.symbol)[0]) or Decimal(0),
                    avg_hold_s=round(s.avg_hold_s, 3),
                    max_drawdown=_money(s.max_drawdown, self._steps_of(s.symbol)[0]) or Decimal(0),
                    exposure_pct=s.exposure_pct,
                )
                for s in report.symbols
            ],
            equity=[
                EquityPointView(
                    ts_ns=p.ts_ns, realized_pnl=_money(p.realized_pnl, overall_tick) or Decimal(0)
                )
                for p in report.equity[-EQUITY_POINTS_MAX:]
            ],
        )

    @_answering
    def orders(self) -> list[OrderView]:
        return [
            OrderView(
                client_order_id=o.client_order_id,
                venue_order_id=o.venue_order_id,
                symbol=o.symbol,
                side=o.side.value,
                purpose=self._purpose(o.client_order_id),
                order_type=o.order_type.value,
                qty=o.qty,
                price=o.price,
                stop_price=o.stop_price,
                filled_qty=o.filled_qty,
                status=o.status.value,
            )
            for o in self._engine.parts.exchange.open_orders()
        ]

    @_answering
    def actors(self) -> ActorsReport:
        view = self._view()
        return ActorsReport(
            actors=[ActorView.model_validate(c, from_attributes=True) for c in view.children],
            parked_symbols=list(view.parked_symbols),
            kill_switch=view.kill_switch,
            entry_gates={gate.encode(): why for gate, why in view.gates.items()},
        )

    @_answering
    def recent_events(self, limit: int) -> list[EventView]:
        return [
            EventView(ts_ns=e.ts_ns, kind=e.kind, symbol=e.symbol, level=e.level, text=e.text)
            for e in self._engine.parts.events.recent(limit)
        ]

    @_answering
    def stop_trading(self, *, flatten: bool) -> int:
        not_done = "trading not stopped" + (", no position closed" if flatten else "")
        self._ask(SUPERVISOR, StopTrading(), otherwise=not_done)
        self._engine.parts.events.record(
            "trading_stopped", "by the operator; exits keep protecting", level="WARNING"
        )
        if not flatten:
            return 0
        stopped = "trading stopped, but no position was closed (ask again with flatten=true)"
        if not self._view().reconciled:
            # The monitor knows nothing the venue holds yet: "closing 0" would leave it all held.
            raise EngineUnavailable(f"start-up reconciliation has not finished: {stopped}")
        positions = self._ask(MONITOR, GetSnapshot(), otherwise=stopped)
        directory = self._engine.parts.directory
        closing = [
            p.symbol
            for p in positions
            if directory.tell(MONITOR, ClosePosition(symbol=p.symbol, reason="flatten by the operator"))
        ]
        if len(closing) < len(positions):
            # The monitor went away between the read and the tells: what it never got is not closing.
            raise EngineUnavailable(
                f"trading stopped; {MONITOR} stopped answering: closing {len(closing)} of "
                f"{len(positions)} positions (ask again with flatten=true)"
            )
        return len(closing)

    @_answering
    def start_trading(self) -> None:
        refusal = self._ask(SUPERVISOR, StartTrading(), otherwise="trading not started")
        if refusal is not None:
            raise ActionRefused(str(refusal))
        self._engine.parts.events.record("trading_started", "by the operator")

    @_answering
    def sync_positions(self) -> int:
        adopted: Any = self._ask(MONITOR, SyncPositions(), otherwise="nothing was adopted")
        return int(adopted)

    @_answering
    def cancel_entries(self) -> int:
        cancelled: Any = self._ask(EXECUTOR, CancelEntries(), otherwise="no entry order was cancelled")
        return int(cancelled)

    @_answering
    def metrics_snapshot(self) -> MetricsSnapshot:
        engine = self._engine
        view = self._view()
        used = {engine.config.exchange.venue.value: engine.parts.exchange.request_budget.used_fraction}
        return MetricsSnapshot(
            counters=engine.parts.metrics.snapshot(),
            tick_to_order=latency_buckets(engine.parts.metrics.tick_to_order_histogram()),
            restarts_by_actor={c.name: c.restarts for c in view.children},
            request_budget_used=used,
        )
