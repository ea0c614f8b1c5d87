"""What the API needs from a running engine. ``autohedge.control.EngineController`` implements it."""

from __future__ import annotations

from typing import Protocol

from autohedge.api.models import (
    ActorsReport,
    EventView,
    HealthReport,
    MetricsSnapshot,
    OrderView,
    PnlView,
    PositionView,
    StatusReport,
    TradeView,
)

__all__ = ["ActionRefused", "EngineControl", "EngineUnavailable"]


class ActionRefused(Exception):
    """The engine will not do what was asked in its present state; the message says why (409)."""


class EngineUnavailable(Exception):
    """The engine, or the actor a request needs, is not running or did not answer in time; the message
    says which and what did or did not happen (503)."""


class EngineControl(Protocol):
    """Called on the API server's threads; implementations are thread-safe (asks with timeouts). Any
    method raises EngineUnavailable rather than answer what it could not learn (an empty list, a zero)."""

    def health(self) -> HealthReport: ...

    def status(self) -> StatusReport: ...

    def positions(self) -> list[PositionView]: ...

    def orders(self) -> list[OrderView]: ...

    def actors(self) -> ActorsReport: ...

    def recent_events(self, limit: int) -> list[EventView]: ...

    def trades(self, limit: int) -> list[TradeView]:
        """The newest closed trades from the journal, newest first."""
        ...

    def pnl(self) -> PnlView:
        """Realized P&L (journal), unrealized P&L (open positions) and the equity curve."""
        ...

    def stop_trading(self, *, flatten: bool) -> int:
        """Stop entries and every feed and strategy; exits keep protecting. Returns positions closed."""
        ...

    def start_trading(self) -> None:
        """Raises ActionRefused (nothing changed) when entries cannot open (kill switch, stopping)."""
        ...

    def sync_positions(self) -> int: ...

    def cancel_entries(self) -> int: ...

    def metrics_snapshot(self) -> MetricsSnapshot: ...
