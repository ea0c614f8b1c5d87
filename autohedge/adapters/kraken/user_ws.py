"""Kraken WS v2 ``executions`` as the engine's private order stream (``core.ports.UserStream``).

The token comes from REST ``GetWebSocketsToken`` on the reader thread (a refused call ends this
connection like a drop; the actor reconnects with backoff) and goes into the subscribe message.
``snap_orders`` is state, never fills; each trade is its own event with its ``exec_id`` and fees. A
sequence gap means executions were lost (nothing is replayed): the connection is closed, and the
actor reconnects and reconciles by REST.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from autohedge.adapters.kraken.constants import USER_MAX_SILENCE_S, VENUE
from autohedge.adapters.kraken.ws import (
    ExecutionFill,
    ExecutionsTracker,
    KeepAlive,
    executions_subscribe,
    parse_frame,
)
from autohedge.adapters.order_events import OrderEventBuilder, orders_with_fills
from autohedge.adapters.wsconn import WsConnection, WsStream
from autohedge.core.clock import Clock
from autohedge.core.errors import MalformedMessage, VenueError
from autohedge.core.messages import OrderSnapshot, OrderUpdate
from autohedge.core.ports import OrderEventSink

__all__ = ["KrakenUserStream"]

_SUBSCRIBE_ID = 1


class KrakenUserStream(WsStream):
    """One connection to ``venues.kraken.user_ws_url``. Callbacks run on the reader thread."""

    venue = VENUE
    stream_name = "kraken user stream"
    errors_end_it = True
    max_silence_s: float | None = USER_MAX_SILENCE_S

    def __init__(self, *, url: str, token: Callable[[], str], clock: Clock, symbols: Sequence[str]) -> None:
        """``token``: a fresh ``GetWebSocketsToken`` (a blocking REST call, made on the reader thread)."""
        self._url = url
        self._token = token
        self._clock = clock
        self._tracker = ExecutionsTracker(frozenset(symbols))
        self._events = OrderEventBuilder(VENUE)
        self._sink: OrderEventSink | None = None
        self._fetched_token = ""
        self._keep_alive = KeepAlive(first_req_id=_SUBSCRIBE_ID)

    @property
    def heartbeats(self) -> int:
        return self._keep_alive.heartbeats

    def start(self, sink: OrderEventSink) -> None:
        """User-stream actor's thread: everything else (token, connect, subscribe) on a reader thread."""
        self._sink = sink
        self._connect(self._url, sink.on_disconnected, prepare=self._fetch_token)

    def _fetch_token(self) -> str:
        """Reader thread, before connecting: the reason not to connect, or ''."""
        try:
            self._fetched_token = self._token()
        except VenueError as exc:
            return f"kraken websocket token refused: {exc}"
        return ""

    def _on_open(self, connection: WsConnection) -> None:
        """Reader thread."""
        connection.send(json.dumps(executions_subscribe(self._fetched_token, _SUBSCRIBE_ID)))

    def _on_message(self, connection: WsConnection, raw: str | bytes) -> None:
        """Reader thread."""
        sink = self._sink
        assert sink is not None
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        try:
            frame = parse_frame(raw)
            if frame.method:
                if frame.method == "subscribe" and frame.req_id == _SUBSCRIBE_ID:
                    if not frame.success:
                        connection.fail(f"kraken refused the executions subscription: {frame.error}")
                        return
                    sink.on_connected()
                elif not frame.success:
                    connection.fail(f"kraken user stream {frame.method} failed: {frame.error}")
                return
            if frame.channel == "executions":
                gaps = self._tracker.sequence.gaps
                skipped: list[str] = []
                items = self._tracker.apply(frame, ts_init=self._clock.wall_ns(), on_malformed=skipped.append)
                for error in skipped:
                    sink.on_malformed(text, error)
                updates = self._updates(items, frame.type)
                if self._tracker.sequence.gaps > gaps:
                    connection.fail("kraken executions lost frames: reconnecting")
                    return
                for update in updates:
                    sink.on_order_update(update)
            elif frame.channel == "heartbeat":
                self._keep_alive.heartbeat(connection)
                sink.on_heartbeat()
            elif frame.channel != "status":
                raise MalformedMessage(f"kraken user stream frame of channel {frame.channel!r}")
        except MalformedMessage as exc:
            sink.on_malformed(text, str(exc))

    def _updates(self, items: list[OrderSnapshot | ExecutionFill], kind: str) -> list[OrderUpdate]:
        if kind == "snapshot":
            return []  # open orders restated: REST reconciliation is the record
        ts_init = self._clock.wall_ns()
        out: list[OrderUpdate] = []
        for order, fill in orders_with_fills(items):
            if fill is not None:
                out.append(
                    self._events.fill(
                        order,
                        last_qty=fill.qty,
                        last_price=fill.price,
                        fee=fill.fee,
                        fee_asset=fill.fee_asset,
                        trade_id=fill.exec_id,
                        cum_filled_qty=order.filled_qty,
                        ts_init=ts_init,
                    )
                )
                continue
            update = self._events.state(order, ts_init=ts_init)
            if update is not None:
                out.append(update)
        return out
