"""Response models of the control API (pydantic; decimals serialize as strings)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from autohedge.core.actor_names import ActorKind, ActorName
from autohedge.core.child_states import ChildState

__all__ = [
    "ActionResult",
    "ActorView",
    "ActorsReport",
    "EquityPointView",
    "EventView",
    "HealthReport",
    "HealthStatus",
    "LatencyBuckets",
    "MetricsSnapshot",
    "OrderView",
    "PnlView",
    "PositionView",
    "StatusReport",
    "SymbolPnlView",
    "TradeView",
]


HealthStatus = Literal["ok", "degraded", "halted"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="null")


class HealthReport(_Model):
    status: HealthStatus
    reasons: list[str]
    actors: dict[ActorName, ChildState]
    """Actor name -> state (running, restarting, parked, stopped, ...)."""
    order_sessions: dict[str, dict[str, Any]] = {}
    """Venue -> its order session's state and counters (connected, reconnects, requests, failures,
    fallbacks to REST, last error), beside the user stream's actor state; empty when orders go by REST
    only."""


class StatusReport(_Model):
    venue: str
    market_data: str
    strategy: str
    symbols: list[str]
    uptime_s: float
    trading_enabled: bool
    counters: dict[str, int]
    venues: dict[str, dict[str, Any]] = {}
    """Venue -> pushback state (rate_limited_until, banned, auth_failed, degraded), request usage, user
    stream reconnects and the order session's state and counters."""


class PositionView(_Model):
    symbol: str
    qty: Decimal
    entry_price: Decimal | None
    take_profit: Decimal | None
    stop_loss: Decimal | None
    exit_order_ids: list[str]
    protected: bool
    last_price: Decimal | None
    unrealized_pnl: Decimal | None


class OrderView(_Model):
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: str
    purpose: str
    order_type: str
    qty: Decimal
    price: Decimal
    stop_price: Decimal | None
    filled_qty: Decimal
    status: str


class ActorView(_Model):
    name: ActorName
    kind: ActorKind
    state: ChildState
    incarnation: int
    restarts: int
    next_restart_in_s: float | None
    last_error: str


class ActorsReport(_Model):
    actors: list[ActorView]
    parked_symbols: list[str]
    kill_switch: bool
    entry_gates: dict[str, str]


class EventView(_Model):
    ts_ns: int
    kind: str
    symbol: str
    level: str
    text: str


class ActionResult(_Model):
    ok: bool
    message: str
    count: int = 0


class LatencyBuckets(_Model):
    """A histogram of every latency since start: ``counts[i]`` at most ``bounds_s[i]``, ``count`` in all."""

    bounds_s: list[float]
    counts: list[int]
    count: int
    sum_s: float


class MetricsSnapshot(_Model):
    counters: dict[str, int]
    tick_to_order: LatencyBuckets
    restarts_by_actor: dict[str, int]
    request_budget_used: dict[str, float]
    """Venue -> share of the request budget in use (0..1)."""


class TradeView(_Model):
    """A closed round trip from the journal; prices at the tick, quantities at the lot step."""

    symbol: str
    opened_ns: int
    closed_ns: int
    hold_s: float
    qty: Decimal
    entry_price: Decimal
    exit_price: Decimal
    realized_pnl: Decimal
    """Quote currency, after fees."""
    fees: Decimal
    reason: str


class SymbolPnlView(_Model):
    symbol: str
    closed_trades: int
    win_rate: float
    realized_pnl: Decimal
    fees: Decimal
    avg_hold_s: float
    max_drawdown: Decimal
    exposure_pct: float


class EquityPointView(_Model):
    ts_ns: int
    realized_pnl: Decimal
    """Cumulative realized P&L after fees up to this instant."""


class PnlView(_Model):
    journal: bool
    """False when this process keeps no journal (then everything is zero)."""
    closed_trades: int
    win_rate: float
    realized_pnl: Decimal
    fees: Decimal
    unrealized_pnl: Decimal | None
    """Of the open positions at their last bid (None when no position has a price)."""
    symbols: list[SymbolPnlView]
    equity: list[EquityPointView]
