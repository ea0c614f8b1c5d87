"""PaperExchange: the exchange port over the PaperEngine, through the fault model."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal

from autohedge.adapters.paper.constants import VENUE, capabilities
from autohedge.adapters.paper.engine import PaperEngine
from autohedge.adapters.paper.faults import FaultModel
from autohedge.core.clock import Clock
from autohedge.core.config import PaperConfig, PaperFaults
from autohedge.core.messages import (
    Balance,
    OcoRequest,
    OcoSnapshot,
    OrderRequest,
    OrderSnapshot,
    PositionSnapshot,
    Quote,
    SymbolRules,
)
from autohedge.core.ports import Capabilities
from autohedge.core.ratelimit import RequestBudget

__all__ = ["PAPER_REQUESTS_PER_MINUTE", "PaperExchange"]

PAPER_REQUESTS_PER_MINUTE = 1_000_000


class PaperExchange:
    """Implements ``core.ports.Exchange``. Thread-safe (the engine locks; the fault model locks)."""

    venue = VENUE

    def __init__(
        self,
        engine: PaperEngine,
        *,
        faults: PaperFaults,
        seed: int,
        oco: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock | None = None,
    ) -> None:
        clock = clock or engine.clock
        self.engine = engine
        # The paper venue advertises no request limit; the budget carries its pushback state.
        self.request_budget = RequestBudget(
            clock, venue=VENUE, capacity=PAPER_REQUESTS_PER_MINUTE, per_s=60.0
        )
        self._faults = FaultModel(faults, seed=seed, sleep=sleep, budget=self.request_budget)
        self.capabilities: Capabilities = capabilities(oco=oco, fee_rate=engine.fee_rate)

    @classmethod
    def from_config(
        cls,
        config: PaperConfig,
        *,
        clock: Clock,
        symbols: Sequence[str],
        sleep: Callable[[float], None] = time.sleep,
        flush_on_demand: bool = False,
    ) -> PaperExchange:
        engine = PaperEngine(
            clock=clock,
            balances=config.balances,
            fee_rate=config.fee_rate,
            fee_in_base=config.fee_in_base,
            partial_fill_ratio=config.faults.partial_fill_ratio,
            state_file=config.state_file,
            flush_on_demand=flush_on_demand,
        )
        return cls(engine, faults=config.faults, seed=config.seed, oco=config.oco, sleep=sleep, clock=clock)

    def set_faults(self, faults: PaperFaults) -> None:
        self._faults.set(faults)

    @property
    def faults_injected(self) -> dict[str, int]:
        """Injected faults so far, by kind."""
        return dict(self._faults.injected)

    def on_quote(self, quote: Quote) -> None:
        self.engine.on_quote(quote)

    # -- the port ---------------------------------------------------------------------------------

    def symbol_rules(self, symbol: str) -> SymbolRules:
        return self.engine.symbol_rules(symbol)

    def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        self._faults.before_call()
        lose_response = self._faults.before_submit()
        snapshot = self.engine.submit_order(request)
        if lose_response:
            raise self._faults.lost_response()
        return snapshot

    def submit_oco(self, request: OcoRequest) -> OcoSnapshot:
        if not self.capabilities.oco:
            raise RuntimeError("submit_oco called on a paper exchange with OCO switched off")
        self._faults.before_call()
        lose_response = self._faults.before_submit()
        snapshot = self.engine.submit_oco(request)
        if lose_response:
            raise self._faults.lost_response()
        return snapshot

    def cancel_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        self._faults.before_call()
        return self.engine.cancel_order(
            symbol, venue_order_id=venue_order_id, client_order_id=client_order_id
        )

    def get_order(
        self, symbol: str, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot:
        self._faults.before_call()
        return self.engine.get_order(symbol, venue_order_id=venue_order_id, client_order_id=client_order_id)

    def open_orders(self, symbol: str | None = None) -> tuple[OrderSnapshot, ...]:
        self._faults.before_call()
        return self.engine.open_orders(symbol)

    def balances(self) -> dict[str, Balance]:
        self._faults.before_call()
        return self.engine.balances()

    def positions(self, symbols: Sequence[str]) -> tuple[PositionSnapshot, ...]:
        self._faults.before_call()
        return self.engine.positions(symbols)

    def best_quote(self, symbol: str) -> Quote:
        self._faults.before_call()
        return self.engine.best_quote(symbol)

    def fund(self, asset: str, amount: Decimal) -> None:
        self.engine.fund(asset, amount)

    def check_credentials(self) -> None:
        """The paper exchange needs no keys: there is nothing to check."""

    def close(self) -> None:
        """Nothing to release: the engine is in-process and saves after every change."""
