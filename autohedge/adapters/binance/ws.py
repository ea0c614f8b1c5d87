"""Binance market stream: every configured symbol's ``bookTicker`` on one combined stream. The user
data stream (order events by push, on the WebSocket API) is in ``user_ws.py``.

Keep-alive: Binance pings every 20 s and drops a client that has not answered within a minute;
websocket-client answers pings automatically. A connection lives at most 24 h and may announce
``serverShutdown``: either way the connection ends, the sink hears ``on_disconnected`` and the feed's
supervisor reconnects with backoff (and this stream subscribes again on start).

The reader does the least work per frame: the socket is read in large chunks (websocket-client alone
makes two system calls per frame), a whole text frame is cut out of the chunk without the library's
parser, UTF-8 is left to the JSON decoder, frames are decoded by a typed decoder, and the quotes of
what a read brought are handed to the sink as one batch (its first quote ahead of the rest, to start
the consumers' wake-up), so each consumer is woken at most once per batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import websocket
from loguru import logger

from autohedge.adapters.binance.constants import VENUE
from autohedge.adapters.binance.parse import BookTickerDecoder, SymbolMap
from autohedge.adapters.wsconn import MASKED, TEXT_FIN, whole_frame
from autohedge.core.clock import Clock
from autohedge.core.errors import MalformedMessage
from autohedge.core.messages import Quote
from autohedge.core.ports import QuoteSink

__all__ = [
    "MAX_BATCH",
    "BinanceMarketStream",
    "BufferedWebSocket",
    "combined_stream_url",
]

MAX_BATCH = 256
"""Quotes handed over at the latest after this many frames, however much the socket still holds,
so a flood cannot delay the first quote of a batch by more than this many frames' work."""
_CHUNK_BYTES = 256 * 1024
CONNECT_TIMEOUT_S = 10.0


def combined_stream_url(ws_url: str, venue_symbols: Sequence[str]) -> str:
    streams = "/".join(f"{s.lower()}@bookTicker" for s in venue_symbols)
    return f"{ws_url.rstrip('/')}/stream?streams={streams}"


class BufferedWebSocket(websocket.WebSocket):
    """A websocket-client connection that reads its socket in large chunks.

    websocket-client asks the socket for exactly the bytes it needs next (a 2-byte header, then the
    payload); here one ``recv`` fills a buffer that serves many frames. ``has_whole_frame`` tells the
    reader whether the next frame is already here (then the batch goes on) or not (hand it over).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._chunk = b""
        self._pos = 0

    def _recv(self, bufsize: int) -> bytes:
        """Reader thread (websocket-client's frame parser calls it)."""
        pos = self._pos
        chunk = self._chunk
        if pos >= len(chunk):
            sock = self.sock
            if sock is None:
                raise websocket.WebSocketConnectionClosedException("connection already closed")
            chunk = sock.recv(_CHUNK_BYTES)
            if not chunk:
                raise websocket.WebSocketConnectionClosedException("connection closed by the server")
            self._chunk, pos = chunk, 0
        end = pos + bufsize
        self._pos = end
        return chunk[pos:end]

    def recv_data(self, control_frame: bool = False) -> tuple[int, bytes]:
        """Reader thread: the next data message, as websocket-client's ``recv_data`` returns it.

        A whole unfragmented, unmasked text frame already in the buffer (nearly every frame of a market
        stream) is cut out here, in a ninth of the library's time per frame. Anything else (a control
        frame, a fragment, a masked or reserved-bit frame, one not all here yet) goes to
        websocket-client, which reads the same buffer; so pings are still answered and protocol errors
        still raised by the library."""
        chunk, pos = self._chunk, self._pos
        if (
            pos < len(chunk)
            and chunk[pos] == TEXT_FIN
            and self.cont_frame.recving_frames is None
            and self.frame_buffer.needs_header()
        ):
            bounds = whole_frame(chunk, pos)
            if bounds is not None and not chunk[pos + 1] & MASKED:
                start, self._pos = bounds
                return websocket.ABNF.OPCODE_TEXT, chunk[start : self._pos]
        opcode, data = super().recv_data(control_frame)
        return opcode, data

    def has_whole_frame(self) -> bool:
        """Reader thread: is the next frame all here already (no socket read, so the interpreter lock is
        kept)? When not, the reader hands its batch over before it reads on."""
        return whole_frame(self._chunk, self._pos) is not None


class BinanceMarketStream:
    venue = VENUE

    def __init__(self, *, ws_url: str, symbol_map: SymbolMap, clock: Clock) -> None:
        """``symbol_map``: resolved once at start-up; a reconnect spends no REST."""
        self._ws_url = ws_url
        self._clock = clock
        self._map = symbol_map
        self._ws: BufferedWebSocket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sink: QuoteSink | None = None
        self._decoder = BookTickerDecoder(symbol_map)
        self._url = ""

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        """Feed actor's thread: connect and stream on a reader thread (no REST: symbols are known)."""
        self._sink = sink
        self._url = combined_stream_url(self._ws_url, [self._map.to_venue(s) for s in symbols])
        self._thread = threading.Thread(target=self._run, name="binance-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Reader thread: connect, then read until the connection ends or ``stop``."""
        reason = "binance stream closed"
        try:
            ws = websocket.create_connection(
                self._url,
                class_=BufferedWebSocket,
                skip_utf8_validation=True,
                timeout=CONNECT_TIMEOUT_S,
            )
        except (websocket.WebSocketException, OSError) as exc:
            self._disconnected(f"binance stream connect failed: {exc}")
            return
        assert isinstance(ws, BufferedWebSocket)
        ws.settimeout(None)  # silence is the feed's watchdog's call, not a socket timeout's
        self._ws = ws
        if self._stopping.is_set():
            ws.shutdown()  # type: ignore[no-untyped-call]  # websocket-client leaves it unannotated
            return
        try:
            self._read(ws)
        except websocket.WebSocketConnectionClosedException as exc:
            reason = f"binance stream closed: {exc}"
        except (websocket.WebSocketException, OSError) as exc:
            if not self._stopping.is_set():
                logger.warning("binance stream error: {}", exc)
            reason = f"binance stream error: {exc}"
        except ConnectionAbortedError as exc:
            logger.info("{}", exc)
            reason = str(exc)
        finally:
            ws.shutdown()  # type: ignore[no-untyped-call]
        self._disconnected(reason)

    def _read(self, ws: BufferedWebSocket) -> None:
        """Reader thread: decode every frame. The first quote of a batch is handed over at once, so a
        consumer's wake-up (tens of microseconds after an idle spell) runs while the rest is decoded; the
        rest goes as one batch once no whole frame is left, before the next socket read. That read lets
        go of the interpreter lock: a consumer woken by the first quote takes the whole batch then."""
        sink, decoder, clock = self._sink, self._decoder, self._clock
        assert sink is not None
        batch: list[Quote] = []
        first = True
        while True:
            opcode, data = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                if batch:  # what came before the close is news all the same
                    sink.on_quotes(batch)
                if not self._stopping.is_set():
                    logger.warning("binance stream closed by the server")
                return
            try:
                quote = decoder.decode(data, ts_init=clock.wall_ns())
            except MalformedMessage as exc:
                sink.on_malformed(data.decode("utf-8", errors="replace"), str(exc))
                quote = None
            if quote is not None:
                if first:
                    sink.on_quotes((quote,))
                    first = False
                else:
                    batch.append(quote)
            if len(batch) >= MAX_BATCH or not ws.has_whole_frame():
                if batch:
                    sink.on_quotes(batch)
                    batch = []
                first = True

    def _disconnected(self, reason: str) -> None:
        if not self._stopping.is_set() and self._sink is not None:
            self._sink.on_disconnected(reason)

    def stop(self) -> None:
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            ws.abort()  # type: ignore[no-untyped-call]  # wakes the reader blocked in recv
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
