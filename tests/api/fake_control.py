"""A scripted EngineControl for API tests: records every mutation."""

from __future__ import annotations

from decimal import Decimal

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
from autohedge.core.actor_names import EXECUTOR, ActorKind
from autohedge.core.child_states import ChildState
from autohedge.core.gates import Gate
from autohedge.core.types import OrderPurpose
from tests.ids import our_id

__all__ = ["FakeEngineControl"]


class FakeEngineControl:
    def __init__(self) -> None:
        self.mutations: list[str] = []
        self.trading = True

    def health(self) -> HealthReport:
        return HealthReport(
            status="degraded", reasons=["symbol parked: ETH/USDT"], actors={EXECUTOR: ChildState.RUNNING}
        )

    def status(self) -> StatusReport:
        return StatusReport(
            venue="paper",
            market_data="synthetic",
            strategy="hft",
            symbols=["BTC/USDT"],
            uptime_s=12.5,
            trading_enabled=self.trading,
            counters={"quotes": 10, "orders_submitted": 2},
        )

    def trades(self, limit: int) -> list[TradeView]:
        trade = TradeView(
            symbol="BTC/USDT",
            opened_ns=1_700_000_000_000_000_000,
            closed_ns=1_700_000_060_000_000_000,
            hold_s=60.0,
            qty=Decimal("0.5"),
            entry_price=Decimal("100.00"),
            exit_price=Decimal("101.00"),
            realized_pnl=Decimal("0.3995"),
            fees=Decimal("0.1005"),
            reason="take_profit",
        )
        return [trade][:limit]

    def pnl(self) -> PnlView:
        return PnlView(
            journal=True,
            closed_trades=1,
            win_rate=1.0,
            realized_pnl=Decimal("0.3995"),
            fees=Decimal("0.1005"),
            unrealized_pnl=Decimal("0.5000"),
            symbols=[
                SymbolPnlView(
                    symbol="BTC/USDT",
                    closed_trades=1,
                    win_rate=1.0,
                    realized_pnl=Decimal("0.3995"),
                    fees=Decimal("0.1005"),
                    avg_hold_s=60.0,
                    max_drawdown=Decimal(0),
                    exposure_pct=50.0,
                )
            ],
            equity=[EquityPointView(ts_ns=1_700_000_060_000_000_000, realized_pnl=Decimal("0.3995"))],
        )

    def positions(self) -> list[PositionView]:
        return [
            PositionView(
                symbol="BTC/USDT",
                qty=Decimal("0.5"),
                entry_price=Decimal(100),
                take_profit=Decimal(101),
                stop_loss=Decimal(99),
                exit_order_ids=[our_id(OrderPurpose.TAKE_PROFIT, 1), our_id(OrderPurpose.STOP_LOSS, 1)],
                protected=True,
                last_price=Decimal("100.5"),
                unrealized_pnl=Decimal("0.25"),
            )
        ]

    def orders(self) -> list[OrderView]:
        return [
            OrderView(
                client_order_id=our_id(OrderPurpose.TAKE_PROFIT, 1),
                venue_order_id="P2",
                symbol="BTC/USDT",
                side="sell",
                purpose=OrderPurpose.TAKE_PROFIT,
                order_type="limit",
                qty=Decimal("0.5"),
                price=Decimal(101),
                stop_price=None,
                filled_qty=Decimal(0),
                status="new",
            )
        ]

    def actors(self) -> ActorsReport:
        return ActorsReport(
            actors=[
                ActorView(
                    name=EXECUTOR,
                    kind=ActorKind.EXECUTOR,
                    state=ChildState.RUNNING,
                    incarnation=1,
                    restarts=0,
                    next_restart_in_s=None,
                    last_error="",
                )
            ],
            parked_symbols=["ETH/USDT"],
            kill_switch=False,
            entry_gates={Gate.parked("ETH/USDT").encode(): "crash loop"},
        )

    def recent_events(self, limit: int) -> list[EventView]:
        return [EventView(ts_ns=1, kind="order_placed", symbol="BTC/USDT", level="INFO", text="buy")][:limit]

    def stop_trading(self, *, flatten: bool) -> int:
        self.mutations.append(f"stop flatten={flatten}")
        self.trading = False
        return 1 if flatten else 0

    def start_trading(self) -> None:
        self.mutations.append("start")
        self.trading = True

    def sync_positions(self) -> int:
        self.mutations.append("sync")
        return 1

    def cancel_entries(self) -> int:
        self.mutations.append("cancel")
        return 3

    def metrics_snapshot(self) -> MetricsSnapshot:
        return MetricsSnapshot(
            counters={"quotes": 10, "dead_letters": 0},
            tick_to_order=LatencyBuckets(  # two orders: 0.2 ms and 3 ms
                bounds_s=[0.0001, 0.00025, 0.001, 0.005], counts=[0, 1, 1, 2], count=2, sum_s=0.0032
            ),
            restarts_by_actor={EXECUTOR: 1},
            request_budget_used={"binance": 0.25},
        )
