"""Alpaca's trading stream (``venues.alpaca.user_ws_url``) as the engine's private order stream
(``core.ports.UserStream``): authenticate, then ``listen`` to ``trade_updates`` (order events by push).

Paper sends binary frames (websocket-client hands them over as bytes; the parser takes both). Nothing
is replayed after a reconnect: the user-stream actor reconciles by REST.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import SecretStr

from autohedge.adapters.alpaca.auth import ws_auth_message
from autohedge.adapters.alpaca.constants import VENUE
from autohedge.adapters.alpaca.parse import StreamControl, parse_trade_frame
from autohedge.adapters.alpaca.ws import PING_INTERVAL_S, PING_TIMEOUT_S
from autohedge.adapters.wsconn import WsConnection, WsStream
from autohedge.core.clock import Clock
from autohedge.core.errors import AuthError, MalformedMessage
from autohedge.core.messages import OrderUpdate
from autohedge.core.ports import OrderEventSink

__all__ = ["LISTEN_TRADE_UPDATES", "AlpacaUserStream"]

LISTEN_TRADE_UPDATES = {"action": "listen", "data": {"streams": ["trade_updates"]}}


class AlpacaUserStream(WsStream):
    """Implements ``core.ports.UserStream`` over the trading stream. One instance per connection."""

    venue = VENUE
    max_silence_s: float | None = None
    """No application heartbeat: the stream is silent while nothing trades."""
    stream_name = "alpaca trading stream"
    errors_end_it = True
    ping_interval_s = PING_INTERVAL_S
    ping_timeout_s = PING_TIMEOUT_S

    def __init__(
        self,
        *,
        url: str,
        key_id: SecretStr | None,
        secret_key: SecretStr | None,
        clock: Clock,
        symbols: Mapping[str, str],
    ) -> None:
        """``symbols``: order symbol in events (``BTC/USD``, ``AAPL``) -> ours."""
        self._url = url
        self._key_id = key_id
        self._secret_key = secret_key
        self._clock = clock
        self._symbols = dict(symbols)
        self._sink: OrderEventSink | None = None

    def start(self, sink: OrderEventSink) -> None:
        """User-stream actor's thread: connect on a reader thread; auth and listen follow on open."""
        if self._key_id is None or self._secret_key is None:
            raise AuthError(
                "alpaca trade updates need AUTOHEDGE_ALPACA_API_KEY_ID and AUTOHEDGE_ALPACA_API_SECRET_KEY",
                venue=VENUE,
            )
        self._sink = sink
        self._connect(self._url, sink.on_disconnected)

    def _on_open(self, connection: WsConnection) -> None:
        """Reader thread: authenticate first."""
        assert self._key_id is not None and self._secret_key is not None
        connection.send(json.dumps(ws_auth_message(self._key_id, self._secret_key)))

    def _on_message(self, connection: WsConnection, raw: str | bytes) -> None:
        """Reader thread."""
        assert self._sink is not None
        try:
            parsed = parse_trade_frame(raw, symbols=self._symbols, ts_init=self._clock.wall_ns())
        except MalformedMessage as exc:
            self._sink.on_malformed(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"), str(exc))
            return
        if isinstance(parsed, OrderUpdate):
            self._sink.on_order_update(parsed)
        elif isinstance(parsed, StreamControl):
            self._control(connection, parsed)

    def _control(self, connection: WsConnection, control: StreamControl) -> None:
        if control.ok and control.stream == "authorization":
            connection.send(json.dumps(LISTEN_TRADE_UPDATES))
        elif control.ok and control.stream == "listening":
            assert self._sink is not None
            self._sink.on_connected()
        elif not control.ok:
            failure = f"alpaca trading stream refused ({control.stream}: {control.message})"
            connection.fail(failure)
