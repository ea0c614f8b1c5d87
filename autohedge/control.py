"""EngineController: the API's view of a running Engine (``autohedge.api.control.EngineControl``).

Runs on the API server's threads; it reads the engine only through asks with timeouts, the thread-safe
metrics and event log, and the exchange port.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from autohedge.actors.supervisor import StartTrading, StopTrading
from autohedge.api.models import (
    ActorsReport,
    ActorView,
    EventView,
    HealthReport,
    MetricsSnapshot,
    OrderView,
    PositionView,
    StatusReport,
)
from autohedge.app import Engine
from autohedge.core.actor_names import EXECUTOR, MONITOR
from autohedge.core.client_ids import ClientId
from autohedge.core.clock import NS_PER_S
from autohedge.core.gates import KILL_SWITCH, STARTUP, STOPPED
from autohedge.core.messages import CancelEntries, ClosePosition, SyncPositions

__all__ = ["EngineController"]

ASK_TIMEOUT_S = 15.0


class EngineController:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _purpose(self, client_order_id: str) -> str:
        """The purpose our id encodes; ``external`` for an order someone else placed."""
        ours = ClientId.ours(client_order_id, self._engine.config.executor.client_id_prefix)
        if ours is None:
            return "external"
        return "unknown" if ours.purpose is None else ours.purpose.value

    def health(self) -> HealthReport:
        view = self._engine.view()
        status, reasons = self._engine.health(view)
        return HealthReport(status=status, reasons=reasons, actors={c.name: c.state for c in view.children})

    def status(self) -> StatusReport:
        engine = self._engine
        view = engine.view()
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

    def positions(self) -> list[PositionView]:
        out = []
        for p in self._engine.positions():
            last, entry = p.last_price, p.entry_price
            pnl = (last - entry) * p.qty if last is not None and entry is not None else None
            out.append(
                PositionView(
                    symbol=p.symbol,
                    qty=p.qty,
                    entry_price=entry,
                    take_profit=p.take_profit,
                    stop_loss=p.stop_loss,
                    exit_order_ids=list(p.exit_order_ids),
                    protected=p.protected,
                    last_price=last,
                    unrealized_pnl=pnl.quantize(Decimal("0.00000001")) if pnl is not None else None,
                )
            )
        return out

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

    def actors(self) -> ActorsReport:
        view = self._engine.view()
        return ActorsReport(
            actors=[ActorView.model_validate(c, from_attributes=True) for c in view.children],
            parked_symbols=list(view.parked_symbols),
            kill_switch=view.kill_switch,
            entry_gates={gate.encode(): why for gate, why in view.gates.items()},
        )

    def recent_events(self, limit: int) -> list[EventView]:
        return [
            EventView(ts_ns=e.ts_ns, kind=e.kind, symbol=e.symbol, level=e.level, text=e.text)
            for e in self._engine.parts.events.recent(limit)
        ]

    def stop_trading(self, *, flatten: bool) -> int:
        self._engine.supervisor.ask(StopTrading(), timeout=ASK_TIMEOUT_S)
        self._engine.parts.events.record(
            "trading_stopped", "by the operator; exits keep protecting", level="WARNING"
        )
        if not flatten:
            return 0
        positions = self._engine.positions()
        for p in positions:
            self._engine.parts.directory.tell(
                MONITOR, ClosePosition(symbol=p.symbol, reason="flatten by the operator")
            )
        return len(positions)

    def start_trading(self) -> None:
        self._engine.supervisor.ask(StartTrading(), timeout=ASK_TIMEOUT_S)
        self._engine.parts.events.record("trading_started", "by the operator")

    def sync_positions(self) -> int:
        adopted: Any = self._engine.ask(MONITOR, SyncPositions(), timeout_s=ASK_TIMEOUT_S)
        return int(adopted or 0)

    def cancel_entries(self) -> int:
        cancelled: Any = self._engine.ask(EXECUTOR, CancelEntries(), timeout_s=ASK_TIMEOUT_S)
        return int(cancelled or 0)

    def metrics_snapshot(self) -> MetricsSnapshot:
        engine = self._engine
        view = engine.view()
        used = {engine.config.exchange.venue.value: engine.parts.exchange.request_budget.used_fraction}
        return MetricsSnapshot(
            counters=engine.parts.metrics.snapshot(),
            tick_to_order_ns=engine.parts.metrics.tick_to_order_ns(),
            restarts_by_actor={c.name: c.restarts for c in view.children},
            request_budget_used=used,
        )
