"""Binance market stream: every configured symbol's ``bookTicker`` on one combined stream.

Keep-alive: Binance pings every 20 s and drops a client that has not answered within a minute;
websocket-client answers pings automatically. A connection lives at most 24 h and may announce
``serverShutdown``: either way the connection ends, the sink hears ``on_disconnected`` and the feed's
supervisor reconnects with backoff (and this stream subscribes again on start).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import websocket
from loguru import logger

from autohedge.adapters.binance.constants import VENUE
from autohedge.adapters.binance.parse import SymbolMap, parse_book_ticker_frame
from autohedge.core.clock import Clock
from autohedge.core.errors import MalformedMessage
from autohedge.core.ports import QuoteSink

__all__ = ["BinanceMarketStream", "combined_stream_url"]


def combined_stream_url(ws_url: str, venue_symbols: Sequence[str]) -> str:
    streams = "/".join(f"{s.lower()}@bookTicker" for s in venue_symbols)
    return f"{ws_url.rstrip('/')}/stream?streams={streams}"


class BinanceMarketStream:
    venue = VENUE

    def __init__(self, *, ws_url: str, symbol_map: SymbolMap, clock: Clock) -> None:
        """``symbol_map``: resolved once at start-up; a reconnect spends no REST."""
        self._ws_url = ws_url
        self._clock = clock
        self._app: websocket.WebSocketApp | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sink: QuoteSink | None = None
        self._map = symbol_map

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        """Feed actor's thread: connect and stream on a reader thread (no REST: symbols are known)."""
        self._sink = sink
        url = combined_stream_url(self._ws_url, [self._map.to_venue(s) for s in symbols])
        self._app = websocket.WebSocketApp(
            url, on_message=self._on_message, on_close=self._on_close, on_error=self._on_error
        )
        self._thread = threading.Thread(target=self._run, name="binance-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Reader thread."""
        assert self._app is not None
        self._app.run_forever(skip_utf8_validation=True)
        if not self._stopping.is_set() and self._sink is not None:
            self._sink.on_disconnected("binance stream closed")

    def _on_message(self, app: Any, raw: str) -> None:
        assert self._sink is not None
        try:
            quote = parse_book_ticker_frame(raw, symbols=self._map, ts_init=self._clock.wall_ns())
        except MalformedMessage as exc:
            self._sink.on_malformed(raw, str(exc))
            return
        except ConnectionAbortedError as exc:
            logger.info("{}", exc)
            app.close()
            return
        if quote is not None:
            self._sink.on_quote(quote)

    def _on_error(self, app: Any, error: BaseException) -> None:
        if not self._stopping.is_set():
            logger.warning("binance stream error: {}", error)

    def _on_close(self, app: Any, status: int | None, reason: str | None) -> None:
        if not self._stopping.is_set():
            logger.warning("binance stream closed by the server ({} {})", status, reason)

    def stop(self) -> None:
        self._stopping.set()
        if self._app is not None:
            self._app.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
