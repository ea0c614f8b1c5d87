"""Kraken WS v2 ``executions`` as the engine's private order stream (``core.ports.UserStream``).

The token comes from REST ``GetWebSocketsToken`` on the reader thread (a refused call ends this
connection like a drop; the actor reconnects with backoff) and goes into the subscribe message.
``snap_orders`` is state, never fills; each trade is its own event with its ``exec_id`` and fees. A
sequence gap means executions were lost (nothing is replayed): the connection is closed, and the
actor reconnects and reconciles by REST.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import websocket
from loguru import logger

from autohedge.adapters.kraken.constants import VENUE
from autohedge.adapters.kraken.ws import (
    PING_EVERY_HEARTBEATS,
    ExecutionFill,
    ExecutionsTracker,
    executions_subscribe,
    parse_frame,
    ping_message,
)
from autohedge.adapters.order_events import OrderEventBuilder
from autohedge.core.clock import Clock
from autohedge.core.errors import MalformedMessage, VenueError
from autohedge.core.messages import OrderSnapshot, OrderUpdate
from autohedge.core.ports import OrderEventSink

__all__ = ["KrakenUserStream"]

_SUBSCRIBE_ID = 1


class KrakenUserStream:
    """One connection to ``venues.kraken.user_ws_url``. Callbacks run on the reader thread."""

    venue = VENUE

    def __init__(self, *, url: str, token: Callable[[], str], clock: Clock, symbols: Sequence[str]) -> None:
        """``token``: a fresh ``GetWebSocketsToken`` (a blocking REST call, made on the reader thread)."""
        self._url = url
        self._token = token
        self._clock = clock
        self._tracker = ExecutionsTracker(frozenset(symbols))
        self._events = OrderEventBuilder(VENUE)
        self._app: websocket.WebSocketApp | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._app_lock = threading.Lock()
        self._sink: OrderEventSink | None = None
        self._failure = ""
        self._closed = False
        self._req_id = _SUBSCRIBE_ID
        self.heartbeats = 0

    def start(self, sink: OrderEventSink) -> None:
        """User-stream actor's thread: everything else (token, connect, subscribe) on a reader thread."""
        self._sink = sink
        self._thread = threading.Thread(target=self._run, name="kraken-user-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Reader thread."""
        assert self._sink is not None
        try:
            token = self._token()
        except VenueError as exc:
            if not self._stopping.is_set():
                self._sink.on_disconnected(f"kraken websocket token refused: {exc}")
            return
        app = websocket.WebSocketApp(
            self._url,
            on_open=lambda app: app.send(json.dumps(executions_subscribe(token, _SUBSCRIBE_ID))),
            on_message=self._on_message,
            on_error=self._on_error,
        )
        with self._app_lock:  # a stop() racing the token fetch must find the app, or see it never runs
            if self._stopping.is_set():
                return
            self._app = app
        app.run_forever(skip_utf8_validation=True)
        if not self._stopping.is_set():
            self._sink.on_disconnected(self._failure or "kraken user stream closed")

    def _close(self, app: Any, failure: str) -> None:
        """Reader thread: end this connection; frames still buffered are not applied."""
        self._closed = True
        self._failure = failure
        logger.warning("{}", failure)
        app.close()

    def _on_message(self, app: Any, raw: str | bytes) -> None:
        """Reader thread."""
        sink = self._sink
        assert sink is not None
        if self._closed:
            return
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        try:
            frame = parse_frame(raw)
            if frame.method:
                if frame.method == "subscribe" and frame.req_id == _SUBSCRIBE_ID:
                    if not frame.success:
                        self._close(app, f"kraken refused the executions subscription: {frame.error}")
                        return
                    sink.on_connected()
                elif not frame.success:
                    self._close(app, f"kraken user stream {frame.method} failed: {frame.error}")
                return
            if frame.channel == "executions":
                gaps = self._tracker.sequence.gaps
                updates = self._updates(self._tracker.apply(frame, ts_init=self._clock.wall_ns()), frame.type)
                if self._tracker.sequence.gaps > gaps:
                    self._close(app, "kraken executions lost frames: reconnecting")
                    return
                for update in updates:
                    sink.on_order_update(update)
            elif frame.channel == "heartbeat":
                self.heartbeats += 1
                if self.heartbeats % PING_EVERY_HEARTBEATS == 0:
                    self._req_id += 1
                    app.send(json.dumps(ping_message(self._req_id)))
            elif frame.channel != "status":
                raise MalformedMessage(f"kraken user stream frame of channel {frame.channel!r}")
        except MalformedMessage as exc:
            sink.on_malformed(text, str(exc))

    def _updates(self, items: list[OrderSnapshot | ExecutionFill], kind: str) -> list[OrderUpdate]:
        if kind == "snapshot":
            return []  # open orders restated: REST reconciliation is the record
        ts_init = self._clock.wall_ns()
        out: list[OrderUpdate] = []
        pending: ExecutionFill | None = None
        for item in items:
            if isinstance(item, ExecutionFill):
                pending = item
                continue
            if pending is not None and pending.venue_order_id == item.venue_order_id:
                out.append(
                    self._events.fill(
                        item,
                        last_qty=pending.qty,
                        last_price=pending.price,
                        fee=pending.fee,
                        fee_asset=pending.fee_asset,
                        trade_id=pending.exec_id,
                        cum_filled_qty=item.filled_qty,
                        ts_init=ts_init,
                    )
                )
                pending = None
                continue
            update = self._events.state(item, ts_init=ts_init)
            if update is not None:
                out.append(update)
        return out

    def _on_error(self, app: Any, error: BaseException) -> None:
        if not self._stopping.is_set():
            logger.warning("kraken user stream error: {}", error)
            self._failure = self._failure or f"kraken user stream error: {error}"

    def stop(self) -> None:
        """Idempotent; joins the reader thread."""
        with self._app_lock:
            self._stopping.set()
            app = self._app
        if app is not None:
            app.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
