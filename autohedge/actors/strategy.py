"""StrategyActor: one per symbol. Wraps a pure signal source; decides on the newest quote only.

The HFT strategy runs its symbols as lanes of one strategy runner instead (``actors/strategy_runner.py``,
``hft.shared_runner``); the signal sources here serve both."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.core.actor_names import EXECUTOR
from autohedge.core.clock import Clock
from autohedge.core.config import AppConfig, HftConfig
from autohedge.core.conflate import LatestSlots
from autohedge.core.messages import Quote, Signal
from autohedge.core.strategy.hft import HftStrategy

if TYPE_CHECKING:  # the LLM strategy's module is imported by the LLM source, when one is configured
    from autohedge.core.strategy.llm import LlmContext, LlmOutcome

__all__ = ["HftSignalSource", "LlmGatewayPort", "LlmSignalSource", "SignalSource", "StrategyActor"]


class SignalSource(Protocol):
    """Pure per-symbol strategy: a quote in, maybe a signal out. Runs on its strategy actor's thread, or
    on the strategy runner's (``actors/strategy_runner.py``), one thread at a time."""

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


class LlmGatewayPort(Protocol):
    def submit(
        self, symbol: str, messages: list[dict[str, str]], on_done: Callable[[LlmOutcome], None]
    ) -> int | None: ...


class LlmSignalSource:
    """The LLM (``hybrid=False``) or hybrid strategy of one symbol.

    Quotes only build the context and, when the throttle allows, queue a model request on the
    gateway (never waiting for it). The answer comes back as an ``LlmOutcome`` message to this
    symbol's actor and goes through ``reply_to_signal``'s guardrails. Hybrid: the model is asked only
    when the HFT rule fires, to confirm that signal; no confirmation, no trade.
    """

    def __init__(
        self,
        symbol: str,
        *,
        config: AppConfig,
        gateway: LlmGatewayPort,
        clock: Clock,
        deliver: Callable[[LlmOutcome], None],
        position_of: Callable[[str], tuple[Decimal, Decimal | None]],
        hybrid: bool,
    ) -> None:
        self._symbol = symbol
        self._config = config
        self._gateway = gateway
        self._clock = clock
        self._deliver = deliver
        self._position_of = position_of
        self._hft = HftSignalSource(symbol, config.hft, clock) if hybrid else None
        self._quotes: deque[Quote] = deque(maxlen=config.hft.lookback_periods)
        self._pending: dict[int, LlmContext] = {}
        self._seq = itertools.count(1)

    def on_quote(self, quote: Quote) -> Signal | None:
        from autohedge.core.strategy.llm import LlmContext, build_messages

        self._quotes.append(quote)
        hft_signal = None
        if self._hft is not None:
            hft_signal = self._hft.on_quote(quote)
            if hft_signal is None:
                return None
        elif len(self._quotes) < self._config.hft.lookback_periods:
            return None
        qty, entry = self._position_of(self._symbol)
        context = LlmContext(
            symbol=self._symbol,
            quotes=tuple(self._quotes),
            position_qty=qty,
            position_entry_price=entry,
            params=self._config.params_for(self._symbol),
            max_spread_bps=self._config.hft.max_spread_bps,
            min_edge_bps=self._config.hft.min_edge_bps,
            hft_signal=hft_signal,
        )
        request_id = self._gateway.submit(self._symbol, build_messages(context), self._deliver)
        if request_id is not None:
            self._pending = {request_id: context}  # only the newest request matters
        return None

    def on_outcome(self, outcome: LlmOutcome) -> Signal | None:
        from autohedge.core.strategy.llm import reply_to_signal

        context = self._pending.pop(outcome.request_id, None)
        if context is None or outcome.reply is None:
            return None
        return reply_to_signal(
            outcome.reply,
            context=context,
            min_confidence=self._config.llm.min_confidence,
            signal_id=f"llm-{self._symbol}-{next(self._seq)}",
            ts_init=self._clock.wall_ns(),
        )


class StrategyActor(SupervisedActor):
    """Per-symbol strategy shell (the LLM and hybrid strategies; HFT with ``hft.shared_runner`` off).
    A crash here affects only this symbol."""

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
        self._emit(self._source.on_quote(newest))

    def on_llm_outcome(self, outcome: LlmOutcome) -> None:
        """A model answer for this symbol (told by the LLM gateway's worker thread)."""
        on_outcome = getattr(self._source, "on_outcome", None)
        if on_outcome is not None:
            self._emit(on_outcome(outcome))

    def _emit(self, signal: Signal | None) -> None:
        if signal is not None:
            self.ctx.metrics.inc("signals")
            self.ctx.directory.tell(EXECUTOR, signal)
