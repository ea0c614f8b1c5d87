"""Binance streams: the market stream (every configured symbol's ``bookTicker`` on one combined
stream) and the user data stream (order events by push, on the WebSocket API).

Keep-alive: Binance pings every 20 s and drops a client that has not answered within a minute;
websocket-client answers pings automatically. A connection lives at most 24 h and may announce
``serverShutdown``: either way the connection ends, the sink hears ``on_disconnected`` and the feed's
supervisor reconnects with backoff (and this stream subscribes again on start).

User data: the REST listenKey is retired; the stream is a subscription on the WebSocket API
connection (``venues.binance.user_ws_url``): with an HMAC key, ``userDataStream.subscribe.signature``
signed on an unauthenticated session; with an Ed25519 key, ``session.logon`` then
``userDataStream.subscribe`` (unsigned: the session is authenticated). Events arrive on the same socket as
``{"subscriptionId":N,"event":{...}}``. Every response carries ``rateLimits``, which align the shared
request budget. Nothing is replayed after a reconnect: the user-stream actor reconciles by REST.

The reader does the least work per frame: the socket is read in large chunks (websocket-client alone
makes two system calls per frame), UTF-8 is left to the JSON decoder, frames are decoded by a typed
decoder, and the quotes of everything the socket already held are handed to the sink as one batch,
so each consumer is woken at most once per batch.
"""

from __future__ import annotations

import itertools
import json
import select
import ssl
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import websocket
from loguru import logger
from pydantic import SecretStr

from autohedge.adapters.binance.auth import BinanceSigner, KeyKind, ws_signed_params
from autohedge.adapters.binance.constants import VENUE
from autohedge.adapters.binance.parse import BookTickerDecoder, SymbolMap, is_auth_refusal, parse_user_frame
from autohedge.adapters.binance.wire import BinanceWsResponse
from autohedge.adapters.wsconn import WsConnection
from autohedge.core.clock import Clock
from autohedge.core.errors import AuthError, MalformedMessage
from autohedge.core.messages import AccountBalances, OrderUpdate, Quote
from autohedge.core.ports import OrderEventSink, QuoteSink
from autohedge.core.ratelimit import RequestBudget

__all__ = [
    "MAX_BATCH",
    "SESSION_LOGON",
    "SUBSCRIBE_SIGNATURE",
    "BinanceMarketStream",
    "BinanceUserStream",
    "BufferedWebSocket",
    "combined_stream_url",
    "signed_request",
    "subscribe_request",
]

_NS_PER_MS = 1_000_000
_REQUEST_IDS = itertools.count(1)
_DEFAULT_RETRY_AFTER_S = 60.0
"""A 429/418 without ``retryAfter``: wait a whole weight window (the venue's own unit)."""


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
    payload); here one ``recv`` fills a buffer that serves many frames. ``has_buffered`` tells the
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

    def has_buffered(self) -> bool:
        """Reader thread: is more data already here (in our buffer, the TLS layer or the socket)?"""
        if self._pos < len(self._chunk):
            return True
        sock = self.sock
        if sock is None:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)


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
        """Reader thread: decode every frame; hand over a batch when the socket holds no more."""
        sink, decoder, clock = self._sink, self._decoder, self._clock
        assert sink is not None
        batch: list[Quote] = []
        while True:
            opcode, data = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                if not self._stopping.is_set():
                    logger.warning("binance stream closed by the server")
                return
            try:
                quote = decoder.decode(data, ts_init=clock.wall_ns())
            except MalformedMessage as exc:
                sink.on_malformed(data.decode("utf-8", errors="replace"), str(exc))
                quote = None
            if quote is not None:
                batch.append(quote)
            if batch and (len(batch) >= MAX_BATCH or not ws.has_buffered()):
                sink.on_quotes(batch)
                batch = []

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


SUBSCRIBE_SIGNATURE = "userDataStream.subscribe.signature"
"""Any key kind, on an unauthenticated session (weight 2)."""
SESSION_LOGON = "session.logon"
"""Ed25519 keys only (weight 2): later requests on this connection need no ``apiKey`` or ``signature``."""


def signed_request(
    method: str,
    *,
    request_id: str,
    api_key: str,
    signer: BinanceSigner,
    timestamp_ms: int,
    recv_window_ms: int | None = None,
) -> dict[str, Any]:
    """A request (``SUBSCRIBE_SIGNATURE``, ``SESSION_LOGON``) whose parameters are the key, the timestamp
    (and recvWindow), signed. The signature covers the values as text; the JSON carries the numbers as
    numbers, which the venue reads the same."""
    params = {"apiKey": api_key, "timestamp": str(timestamp_ms)}
    if recv_window_ms is not None:
        params["recvWindow"] = str(recv_window_ms)
    signed: dict[str, Any] = ws_signed_params(signer, params)
    signed["timestamp"] = timestamp_ms
    if recv_window_ms is not None:
        signed["recvWindow"] = recv_window_ms
    return {"id": request_id, "method": method, "params": signed}


def subscribe_request(request_id: str) -> dict[str, Any]:
    """``userDataStream.subscribe`` (weight 2) on a logged-on session: no parameters."""
    return {"id": request_id, "method": "userDataStream.subscribe"}


class BinanceUserStream:
    """Implements ``core.ports.UserStream`` over the WebSocket API. One instance per connection.

    HMAC key: ``userDataStream.subscribe.signature`` on open. Ed25519 key: ``session.logon`` on open,
    then ``userDataStream.subscribe`` once the log-on is answered; a new connection logs on again. A
    refused log-on or subscription ends the connection (the actor reconnects later) and becomes the
    venue's state: 429/418 pause the shared budget, rejected keys mark it ``auth_failed``."""

    venue = VENUE

    def __init__(
        self,
        *,
        url: str,
        api_key: SecretStr | None,
        signer: BinanceSigner | None,
        clock: Clock,
        symbols: Mapping[str, str],
        budget: RequestBudget | None = None,
        recv_window_ms: int | None = None,
    ) -> None:
        """``symbols``: venue symbol (``BTCUSDT``) -> ours (``BTC/USDT``). ``signer``: from
        ``auth.load_signer``; its key kind chooses how the session authenticates."""
        self._url = url
        self._api_key = api_key
        self._signer = signer
        self._clock = clock
        self._symbols = dict(symbols)
        self._budget = budget
        self._recv_window_ms = recv_window_ms
        self._connection: WsConnection | None = None
        self._sink: OrderEventSink | None = None
        self._logon_id = ""
        self._subscribe_id = ""

    def start(self, sink: OrderEventSink) -> None:
        """User-stream actor's thread: connect on a reader thread; the subscription is sent on open."""
        if self._api_key is None or self._signer is None:
            raise AuthError(
                "binance user stream needs AUTOHEDGE_BINANCE_API_KEY and AUTOHEDGE_BINANCE_API_SECRET",
                venue=VENUE,
            )
        self._sink = sink
        self._connection = WsConnection(
            self._url,
            name="binance user stream",
            on_open=self._on_open,
            on_message=self._on_message,
            on_ended=sink.on_disconnected,
            errors_end_it=True,
        )
        self._connection.start()

    def _on_open(self, connection: WsConnection) -> None:
        """Reader thread: authenticate before anything else (log on, or a signed subscription)."""
        assert self._api_key is not None and self._signer is not None
        if self._signer.kind is KeyKind.ED25519:
            request_id = self._logon_id = f"ah-logon-{next(_REQUEST_IDS)}"
            method = SESSION_LOGON
        else:
            request_id = self._subscribe_id = f"ah-sub-{next(_REQUEST_IDS)}"
            method = SUBSCRIBE_SIGNATURE
        request = signed_request(
            method,
            request_id=request_id,
            api_key=self._api_key.get_secret_value(),
            signer=self._signer,
            timestamp_ms=self._clock.wall_ns() // _NS_PER_MS,
            recv_window_ms=self._recv_window_ms,
        )
        connection.send(json.dumps(request))

    def _on_message(self, connection: WsConnection, raw: str | bytes) -> None:
        """Reader thread."""
        assert self._sink is not None
        try:
            parsed = parse_user_frame(raw, symbols=self._symbols, ts_init=self._clock.wall_ns())
        except MalformedMessage as exc:
            self._sink.on_malformed(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"), str(exc))
            return
        except ConnectionAbortedError as exc:
            logger.info("{}", exc)
            connection.end(str(exc))
            return
        if isinstance(parsed, OrderUpdate):
            self._sink.on_order_update(parsed)
        elif isinstance(parsed, AccountBalances):
            self._sink.on_balances(parsed)
        elif isinstance(parsed, BinanceWsResponse):
            self._on_response(connection, parsed)

    def _on_response(self, connection: WsConnection, response: BinanceWsResponse) -> None:
        """Reader thread."""
        assert self._sink is not None
        if self._budget is not None:
            for limit in response.rateLimits:
                if limit.rateLimitType == "REQUEST_WEIGHT" and limit.interval == "MINUTE":
                    self._budget.observe_used(limit.count * limit.intervalNum)
        request_id = None if response.id is None else str(response.id)
        if request_id is not None and request_id == self._logon_id:
            if response.status != 200:
                self._refused(connection, response, "the session log-on")
                return
            if self._budget is not None:
                self._budget.auth_ok()
            self._subscribe_id = f"ah-sub-{next(_REQUEST_IDS)}"
            connection.send(json.dumps(subscribe_request(self._subscribe_id)))
        elif request_id is not None and request_id == self._subscribe_id:
            if response.status != 200:
                self._refused(connection, response, "the user data subscription")
                return
            self._sink.on_connected()
        elif request_id is None and response.status != 200:
            # The venue revokes a session whose key became invalid with an error that answers no request.
            self._refused(connection, response, "the session")

    def _refused(self, connection: WsConnection, response: BinanceWsResponse, what: str) -> None:
        """Reader thread: the venue's state (pause or rejected keys), then end this connection."""
        error = response.error
        code = error.code if error is not None else None
        failure = (
            f"binance refused {what} ({response.status} {code if code is not None else ''}: "
            f"{error.msg if error else ''})"
        )
        if self._budget is not None:
            if response.status in (418, 429):
                # A ban or rate limit covers the WebSocket API like REST: the shared budget waits it out.
                retry_at_ms = error.data.retryAfter if error is not None and error.data is not None else None
                now_ms = self._clock.wall_ns() // _NS_PER_MS
                wait_s = (retry_at_ms - now_ms) / 1000 if retry_at_ms is not None else _DEFAULT_RETRY_AFTER_S
                self._budget.rate_limited(wait_s, banned=response.status == 418)
            elif is_auth_refusal(response.status, code):
                self._budget.auth_failed(failure)
        logger.warning("{}", failure)
        connection.end(failure)

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.stop()
