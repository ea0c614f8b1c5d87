"""Alpaca market data streams (crypto v1beta3, stocks v2/iex: connect, authenticate, subscribe quotes).
The trading stream's ``trade_updates`` is in ``user_ws.py``.

Frames are JSON arrays. Most plans allow one connection per endpoint: a reconnect that races the old
socket gets error 406, which ends this connection; the feed's supervisor then retries with backoff
instead of hammering. No application heartbeat is documented, so websocket-level pings keep it alive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from loguru import logger
from pydantic import SecretStr

from autohedge.adapters.alpaca.auth import ws_auth_message
from autohedge.adapters.alpaca.constants import VENUE
from autohedge.adapters.alpaca.parse import parse_frame
from autohedge.adapters.wsconn import WsConnection, WsStream
from autohedge.core.clock import Clock
from autohedge.core.errors import MalformedMessage
from autohedge.core.messages import Quote
from autohedge.core.ports import MarketStream, QuoteSink

__all__ = ["PING_INTERVAL_S", "PING_TIMEOUT_S", "AlpacaMarketStream", "CompositeStream"]

PING_INTERVAL_S = 20
PING_TIMEOUT_S = 10


class AlpacaMarketStream(WsStream):
    venue = VENUE
    stream_name = "alpaca stream"
    ping_interval_s = PING_INTERVAL_S
    ping_timeout_s = PING_TIMEOUT_S

    def __init__(
        self, *, url: str, key_id: SecretStr, secret_key: SecretStr, clock: Clock, symbols: Mapping[str, str]
    ) -> None:
        """``symbols``: the stream's symbol (``BTC/USD``, ``AAPL``) -> ours."""
        self._url = url
        self._key_id = key_id
        self._secret_key = secret_key
        self._clock = clock
        self._symbols = dict(symbols)
        self._sink: QuoteSink | None = None

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        self._sink = sink
        self._connect(self._url, sink.on_disconnected)

    def _on_message(self, connection: WsConnection, raw: str | bytes) -> None:
        """Reader thread."""
        assert self._sink is not None
        try:
            items = parse_frame(raw, symbols=self._symbols, ts_init=self._clock.wall_ns())
        except MalformedMessage as exc:
            self._sink.on_malformed(raw, str(exc))
            return
        for item in items:
            if isinstance(item, Quote):
                self._sink.on_quote(item)
            else:
                self._control(connection, item)

    def _control(self, connection: WsConnection, message: dict[str, Any]) -> None:
        kind, msg = message.get("T"), message.get("msg")
        if kind == "success" and msg == "connected":
            connection.send(json.dumps(ws_auth_message(self._key_id, self._secret_key)))
        elif kind == "success" and msg == "authenticated":
            connection.send(json.dumps({"action": "subscribe", "quotes": sorted(self._symbols)}))
        elif kind == "subscription":
            logger.info("alpaca stream subscribed to quotes of {}", ", ".join(message.get("quotes", [])))
        elif kind == "error":
            # 401/402 auth, 406 connection limit, 405/409 plan limits: this connection is done
            failure = f"alpaca stream error {message.get('code')}: {msg}"
            connection.fail(failure)


class CompositeStream:
    """Crypto and stock quotes come from two endpoints; one feed owns both connections."""

    venue = VENUE

    def __init__(self, streams: Sequence[MarketStream]) -> None:
        self._streams = list(streams)

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        for stream in self._streams:
            stream.start(symbols, sink)

    def stop(self) -> None:
        for stream in self._streams:
            stream.stop()
