"""Synthetic quotes: a seeded random walk per symbol, and a MarketStream that paces it in real time."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from loguru import logger

from autohedge.core.clock import Clock
from autohedge.core.config import SyntheticConfig, SyntheticSymbol
from autohedge.core.messages import Quote
from autohedge.core.ports import QuoteSink

__all__ = ["SyntheticQuotes", "SyntheticStream"]

_TICK = Decimal("0.01")
_BPS = Decimal(10_000)
VENUE = "synthetic"


class SyntheticQuotes:
    """Pure and deterministic for a seed: ``next_quote`` moves the mid by a gaussian step of
    ``volatility_bps`` and puts bid/ask ``spread_bps`` apart around it (bid rounded down, ask up)."""

    def __init__(self, config: SyntheticConfig, symbols: Sequence[str]) -> None:
        self._rng = random.Random(config.seed)
        self._params = {s: config.symbols.get(s, SyntheticSymbol()) for s in symbols}
        self._mid = {s: p.start_price for s, p in self._params.items()}

    def next_quote(self, symbol: str, *, ts_init: int) -> Quote:
        params = self._params[symbol]
        # random's floats become Decimal once, through their shortest repr; arithmetic stays exact after.
        step_bps = Decimal(repr(round(self._rng.gauss(0.0, 1.0), 6))) * params.volatility_bps
        mid = self._mid[symbol] * (1 + step_bps / _BPS)
        mid = max(mid, _TICK * 100)
        self._mid[symbol] = mid
        half = mid * params.spread_bps / _BPS / 2
        bid = (mid - half).quantize(_TICK, rounding=ROUND_FLOOR)
        ask = (mid + half).quantize(_TICK, rounding=ROUND_CEILING)
        if ask <= bid:
            ask = bid + _TICK
        size = Decimal(self._rng.randint(1, 500)) / 100
        return Quote(
            venue=VENUE,
            symbol=symbol,
            bid=bid,
            ask=ask,
            bid_size=size,
            ask_size=size,
            ts_event=ts_init,
            ts_init=ts_init,
        )


class SyntheticStream:
    """MarketStream: one daemon thread emits a round of quotes (one per symbol) ``quotes_per_second``
    times a second."""

    venue = VENUE

    def __init__(self, clock: Clock, config: SyntheticConfig, *, symbols: Sequence[str]) -> None:
        self._clock = clock
        self._config = config
        self._quotes = SyntheticQuotes(config, symbols)
        self._symbols = tuple(symbols)
        self._sink: QuoteSink | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        self._symbols = tuple(symbols)
        self._sink = sink
        self._thread = threading.Thread(target=self._run, name="synthetic-stream", daemon=True)
        self._thread.start()

    def emit_once(self) -> None:
        """One round of quotes on the calling thread (tests)."""
        assert self._sink is not None
        for symbol in self._symbols:
            self._sink.on_quote(self._quotes.next_quote(symbol, ts_init=self._clock.wall_ns()))

    def _run(self) -> None:
        """Reader thread."""
        period_s = 1.0 / self._config.quotes_per_second
        try:
            while not self._stop.wait(period_s):
                self.emit_once()
        except Exception as exc:  # noqa: BLE001 - any failure, the sink's included, must reach the sink
            logger.exception("synthetic stream failed")
            if self._sink is not None:
                self._sink.on_disconnected(f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
