"""``autohedge record``: the configured market data's quotes into a JSONL replay file.

The stream is the one ``run`` would use for ``exchange.market_data`` (a venue's public quotes need
no keys on Binance; synthetic quotes need nothing). One line per quote, in the replay format::

    {"symbol": "BTC/USDT", "bid": "60000.1", "ask": "60000.5", "bid_size": "0.5", "ask_size": "0.7",
     "ts_event": 1700000000000000000}

``ts_event`` is when the quote was received here, so a replay paces quotes as they arrived.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from loguru import logger

from autohedge.app import build_stream_factory
from autohedge.core.clock import RealClock
from autohedge.core.config import AppConfig, Secrets
from autohedge.core.messages import Quote

__all__ = ["QuoteRecorder", "quote_line", "record_quotes"]


def quote_line(quote: Quote) -> str:
    """One replay line; decimals as strings, so nothing passes through a float."""
    return json.dumps(
        {
            "symbol": quote.symbol,
            "bid": format(quote.bid, "f"),
            "ask": format(quote.ask, "f"),
            "bid_size": format(quote.bid_size, "f"),
            "ask_size": format(quote.ask_size, "f"),
            "ts_event": quote.ts_init,
        },
        separators=(",", ":"),
    )


class QuoteRecorder:
    """QuoteSink writing each quote as a line. Runs on the stream's reader thread (a buffered write)."""

    def __init__(self, out: TextIO, stop: threading.Event) -> None:
        self._out = out
        self._stop = stop
        self._lock = threading.Lock()
        self.count = 0
        self.malformed = 0
        self.error: str | None = None

    def on_quote(self, quote: Quote) -> None:
        self.on_quotes((quote,))

    def on_quotes(self, quotes: Sequence[Quote]) -> None:
        with self._lock:
            self._out.writelines(quote_line(quote) + "\n" for quote in quotes)
            self.count += len(quotes)

    def on_malformed(self, raw: str | bytes, error: str) -> None:
        self.malformed += 1
        logger.debug("malformed market frame skipped: {}", error)

    def on_disconnected(self, error: str) -> None:
        self.error = error
        self._stop.set()


def record_quotes(
    config: AppConfig,
    out: Path,
    *,
    base_dir: Path,
    stop: threading.Event,
    duration_s: float | None = None,
) -> int:
    """Record until ``stop`` is set or ``duration_s`` has passed. Returns the number of quotes.
    Raises ConnectionError when the stream ends on its own."""
    clock = RealClock()
    source, factory = build_stream_factory(config, clock=clock, secrets=Secrets(), base_dir=base_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        recorder = QuoteRecorder(handle, stop)
        stream = factory()
        logger.info("recording {} quotes of {} to {}", source, ", ".join(config.symbols), out)
        stream.start(config.symbols, recorder)
        try:
            stop.wait(timeout=duration_s)
        finally:
            stream.stop()
            clock.stop()
    if recorder.error is not None:
        raise ConnectionError(f"the {source} stream ended after {recorder.count} quotes: {recorder.error}")
    if recorder.malformed:
        logger.warning("{} malformed frames skipped", recorder.malformed)
    return recorder.count
