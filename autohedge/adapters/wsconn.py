"""One websocket connection, read on its own daemon thread (websocket-client): what every venue
stream shares. The stream that owns it parses frames; this class connects, reads, keeps the socket
alive with pings where the venue wants them, and when the connection ends without ``stop`` tells the
owner why, once, from the reader thread.

Ending a connection never waits on the venue: the close frame is sent and the socket shut down at once,
which wakes the reader blocked in ``select`` (websocket-client's own ``close`` waits up to 3 s for the
venue's close frame, and once it has closed the socket the reader's ``select`` only notices after its
10 s poll, so ``stop`` used to wait out its whole join timeout and leave the reader behind).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import websocket
from loguru import logger

__all__ = [
    "JOIN_TIMEOUT_S",
    "MASKED",
    "MASK_KEYS",
    "TEXT_FIN",
    "MaskKeys",
    "PartlyWritten",
    "WsConnection",
    "WsStream",
    "close_at_once",
    "masked_text_frame",
    "whole_frame",
]

JOIN_TIMEOUT_S = 5.0
"""A backstop: the reader wakes as soon as its socket is shut down, so ``stop`` returns long before."""
MASK_POOL_BYTES = 4096
"""Random bytes read at once for frame mask keys: 1,024 frames per system call."""


class MaskKeys:
    """The mask keys of the frames we send (RFC 6455: a client masks every frame with 4 unpredictable
    bytes), cut from a pool of ``os.urandom`` bytes read ``MASK_POOL_BYTES`` at a time. Any thread.

    websocket-client reads ``os.urandom(4)`` per frame, and the interpreter lets go of its lock around
    that system call: a burst of ten order frames handed the lock to another thread ten times while
    being built, each time waiting (up to the switch interval) to get it back before the write."""

    def __init__(self, pool_bytes: int = MASK_POOL_BYTES) -> None:
        self._lock = threading.Lock()
        self._pool_bytes = pool_bytes
        self._pool = b""
        self._pos = 0

    def __call__(self, length: int) -> bytes:
        """``length`` fresh random bytes, never served twice (websocket-client's ``get_mask_key``)."""
        with self._lock:
            end = self._pos + length
            if end > len(self._pool):
                self._pool = os.urandom(max(self._pool_bytes, length))
                self._pos, end = 0, length
            key = self._pool[self._pos : end]
            self._pos = end
            return key


MASK_KEYS = MaskKeys()
"""Shared by every connection: one system call per ``MASK_POOL_BYTES`` of keys, whichever thread sends."""


class PartlyWritten(OSError):
    """``send_many``'s socket write broke off after some of its bytes left: the peer may have read some
    of the frames."""


def close_at_once(app: websocket.WebSocketApp) -> None:
    """Any thread: send the close frame without waiting for the answer, then shut the socket down so the
    reader's ``select``/``recv`` returns now and its loop sees ``keep_running`` off."""
    app.keep_running = False
    ws = app.sock
    if ws is None:
        return  # not connected yet: the owner's on-open check ends it, or the connect fails on its own
    raw = ws.sock
    with contextlib.suppress(websocket.WebSocketException, OSError):  # already closing or gone
        ws.send_close()
    if raw is not None:
        with contextlib.suppress(OSError):  # not connected yet, or already closed by the reader
            raw.shutdown(socket.SHUT_RDWR)


# RFC 6455, 5.2: the two bytes every frame starts with.
TEXT_FIN = 0x81
"""First byte: FIN set, no reserved bits, opcode 1 (text), a whole text message."""
MASKED = 0x80
"""Second byte: the mask bit (a client sets it, a server must not), then the 7-bit length."""
_LENGTH_7 = 0x7F
_LENGTH_16 = 126
"""The 7-bit lengths that say a 16-bit or a 64-bit length follows."""
_LENGTH_64 = 127


def masked_text_frame(payload: bytes, mask_key: bytes) -> bytes:
    """A client's whole text frame (RFC 6455, 5.2) carrying ``payload`` masked with the 4-byte
    ``mask_key``: byte for byte what websocket-client's ``ABNF.format`` writes, at a third of its cost
    (on every order a burst writes, its generic checks and byte arrays were the largest part of the
    order session's work per order)."""
    length = len(payload)
    if length < _LENGTH_16:
        header = struct.pack("!BB", TEXT_FIN, MASKED | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", TEXT_FIN, MASKED | _LENGTH_16, length)
    else:
        header = struct.pack("!BBQ", TEXT_FIN, MASKED | _LENGTH_64, length)
    # XOR with the key repeated over the payload, done on two big integers (in C, not byte by byte).
    repeated = (mask_key * (length // 4 + 1))[:length]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")
    return header + mask_key + masked.to_bytes(length, "little")


def whole_frame(chunk: bytes, pos: int) -> tuple[int, int] | None:
    """Where the payload of the frame at ``pos`` starts and where the frame ends, when all of it is in
    ``chunk``; None when it is not (yet). A cut-off extended length reads short, but its payload would
    then start past the chunk, so it is never taken for whole."""
    if len(chunk) - pos < 2:
        return None
    second = chunk[pos + 1]
    length, start = second & _LENGTH_7, pos + 2
    if length == _LENGTH_16:
        length, start = int.from_bytes(chunk[start : start + 2], "big"), start + 2
    elif length == _LENGTH_64:
        length, start = int.from_bytes(chunk[start : start + 8], "big"), start + 8
    if second & MASKED:
        start += 4
    end = start + length
    return (start, end) if end <= len(chunk) else None


def _masked_frame(text: str | bytes) -> bytes:
    """A client text frame (``text`` as a string or its UTF-8 encoding), masked with a key from
    ``MASK_KEYS``."""
    payload = text.encode("utf-8") if isinstance(text, str) else text
    return masked_text_frame(payload, MASK_KEYS(4))


class WsConnection:
    """``start`` on the owner's thread; the callbacks run on the reader thread."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        on_message: Callable[[WsConnection, str | bytes], None],
        on_ended: Callable[[str], None],
        on_open: Callable[[WsConnection], None] | None = None,
        prepare: Callable[[], str] | None = None,
        errors_end_it: bool = False,
        ping_interval_s: float = 0,
        ping_timeout_s: float | None = None,
    ) -> None:
        """``name`` labels the thread and the log lines (``binance stream``). ``errors_end_it``: a
        socket error becomes the reason ``on_ended`` hears (otherwise the reason is "closed").
        ``prepare`` runs on the reader thread before connecting (a blocking token fetch); a non-empty
        answer is why not to connect, and ``on_ended`` hears it."""
        self.name = name
        self._on_message = on_message
        self._on_ended = on_ended
        self._on_open = on_open
        self._prepare = prepare
        self._errors_end_it = errors_end_it
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._stopping = threading.Event()
        self._failure = ""
        self._failed = False
        self._app = websocket.WebSocketApp(
            url,
            on_open=self._opened,
            on_message=self._received,
            on_error=self._errored,
            on_close=self._closed,
            get_mask_key=MASK_KEYS,
        )
        self._thread = threading.Thread(target=self._run, name=name.replace(" ", "-"), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def send(self, text: str | bytes) -> None:
        """Any thread (websocket-client serialises writes); raises its exception or ``OSError`` when the
        socket is not open."""
        self._app.send(text)

    def send_many(self, texts: Sequence[str | bytes]) -> None:
        """Any thread: several text frames in one socket write, so they reach the peer together (one
        system call, one segment where they fit). Raises websocket-client's exception or ``OSError`` when
        nothing was written, ``PartlyWritten`` when the write broke off after some bytes left."""
        ws = self._app.sock
        if ws is None or not ws.connected:
            raise websocket.WebSocketConnectionClosedException("the socket is not open")
        data = b"".join(_masked_frame(text) for text in texts)
        written = 0
        with ws.lock:  # websocket-client's write lock: frames of other writers never interleave
            while written < len(data):
                try:
                    written += ws._send(data[written:])
                except (websocket.WebSocketException, OSError) as exc:
                    if written:
                        raise PartlyWritten(f"{written} of {len(data)} bytes written: {exc}") from exc
                    raise

    def end(self, reason: str = "") -> None:
        """End this connection from a callback; ``reason`` (when given) is what ``on_ended`` hears."""
        if reason:
            self._failure = reason
        close_at_once(self._app)

    def fail(self, reason: str) -> None:
        """End this connection from a callback because of what it sent (a refusal, an error frame, lost
        frames): ``reason`` is logged and is what ``on_ended`` hears; frames still buffered are dropped."""
        self._failed = True
        logger.warning("{}", reason)
        self.end(reason)

    def stop(self) -> None:
        """Owner's thread: close and join the reader; ``on_ended`` is not called."""
        self._stopping.set()
        close_at_once(self._app)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                logger.warning("{}: the reader did not end within {} s", self.name, JOIN_TIMEOUT_S)

    def _run(self) -> None:
        if self._prepare is not None:
            failure = self._prepare()
            if failure:
                if not self._stopping.is_set():
                    self._on_ended(failure)
                return
        if self._stopping.is_set():
            return
        self._app.run_forever(
            skip_utf8_validation=True, ping_interval=self._ping_interval_s, ping_timeout=self._ping_timeout_s
        )
        if not self._stopping.is_set():
            self._on_ended(self._failure or f"{self.name} closed")

    def _opened(self, app: Any) -> None:
        if self._stopping.is_set():
            # ``stop`` ran before the socket existed, so its close did not reach it.
            close_at_once(self._app)
            return
        if self._on_open is not None:
            self._on_open(self)

    def _received(self, app: Any, raw: str | bytes) -> None:
        if not self._failed:
            self._on_message(self, raw)

    def _errored(self, app: Any, error: BaseException) -> None:
        if not self._stopping.is_set():
            logger.warning("{} error: {}", self.name, error)
            if self._errors_end_it and not self._failure:
                self._failure = f"{self.name} error: {error}"

    def _closed(self, app: Any, status: int | None, reason: str | None) -> None:
        if not self._stopping.is_set() and status is not None:
            logger.warning("{} closed by the server ({} {})", self.name, status, reason)


class WsStream(ABC):
    """A venue stream that owns one ``WsConnection`` (one stream instance per connection): it opens it
    with its own ``_on_open``/``_on_message`` and ``stop`` closes it. The connection's options are the
    stream's class data (``WsConnection`` says what each does)."""

    stream_name: str
    """Labels the reader thread and the log lines (``kraken user stream``)."""
    errors_end_it: bool = False
    ping_interval_s: float = 0
    ping_timeout_s: float | None = None
    _connection: WsConnection | None = None

    @abstractmethod
    def _on_message(self, connection: WsConnection, raw: str | bytes) -> None:
        """Reader thread: one frame."""

    def _on_open(self, connection: WsConnection) -> None:
        """Reader thread, once connected: what this stream sends first. This one sends nothing: the venue
        speaks first (Alpaca's market data greets, then expects the keys)."""
        del connection

    def _connect(
        self, url: str, on_ended: Callable[[str], None], *, prepare: Callable[[], str] | None = None
    ) -> None:
        """Owner's thread: connect on a new reader thread."""
        self._connection = WsConnection(
            url,
            name=self.stream_name,
            on_open=self._on_open,
            on_message=self._on_message,
            on_ended=on_ended,
            prepare=prepare,
            errors_end_it=self.errors_end_it,
            ping_interval_s=self.ping_interval_s,
            ping_timeout_s=self.ping_timeout_s,
        )
        self._connection.start()

    def stop(self) -> None:
        """Owner's thread. Idempotent; joins the reader thread."""
        if self._connection is not None:
            self._connection.stop()
