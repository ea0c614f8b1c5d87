"""StrategyActor: one per symbol. Wraps a pure signal source; decides on the newest quote only."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Protocol

from actors.base import ActorContext, SupervisedActor
from core.clock import Clock
from core.config import HftConfig
from core.conflate import LatestSlots
from core.messages import Quote, Signal
from core.strategy.hft import HftStrategy

__all__ = ["HftSignalSource", "SignalSource", "StrategyActor"]


class SignalSource(Protocol):
    """Pure per-symbol strategy: a quote in, maybe a signal out. Runs on the strategy actor's thread."""

    def on_quote(self, quote: Quote) -> Signal | None: ...


class HftSignalSource:
    """Turns HFT decisions into signals."""

    def __init__(self, symbol: str, config: HftConfig, clock: Clock) -> None:
        self._strategy = HftStrategy(symbol, config)
        self._clock = clock
        self._seq = itertools.count(1)
        self._symbol = symbol

    def on_quote(self, quote: Quote) -> Signal | None:
        decision = self._strategy.on_quote(quote)
        if decision is None:
            return None
        return Signal(
            signal_id=f"hft-{self._symbol}-{next(self._seq)}",
            strategy="hft",
            symbol=self._symbol,
            side=decision.side,
            price=decision.price,
            reason=f"edge {decision.edge_bps:.2f}bps spread {decision.spread_bps:.2f}bps",
            quote_ts_init=quote.ts_init,
            ts_init=self._clock.wall_ns(),
        )


class StrategyActor(SupervisedActor):
    """Per-symbol strategy shell. A crash here affects only this symbol."""

    def __init__(
        self,
        ctx: ActorContext,
        *,
        symbol: str,
        source_factory: Callable[[], SignalSource],
        slots: LatestSlots[Quote],
    ) -> None:
        super().__init__(ctx)
        self.symbol = symbol
        self._source_factory = source_factory
        self._slots = slots
        self._source: SignalSource | None = None

    def started(self) -> None:
        self._source = self._source_factory()
        # A quote told to a previous incarnation may have died with it: accept new ones.
        self._slots.reset(self.symbol)

    def on_quote(self, quote: Quote) -> None:
        newest = self._slots.take(self.symbol) or quote
        assert self._source is not None
        signal = self._source.on_quote(newest)
        if signal is not None:
            self.ctx.metrics.inc("signals")
            self.ctx.directory.tell("executor", signal)
