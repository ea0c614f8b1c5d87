"""Binance user data stream (order events by push) as the engine's private order stream
(``core.ports.UserStream``).

The REST listenKey is retired; the stream is a subscription on the WebSocket API connection
(``venues.binance.user_ws_url``): with an HMAC key, ``userDataStream.subscribe.signature`` signed on an
unauthenticated session; with an Ed25519 key, ``session.logon`` then ``userDataStream.subscribe``
(unsigned: the session is authenticated). The signed request's ``timestamp`` is on the server's clock
(the ``ServerClock`` the REST client owns; a -1021 answer re-measures it by the shared REST read before
the next reconnect), with ``recvWindow`` as for REST. Events arrive on the same socket as
``{"subscriptionId":N,"event":{...}}``. Every response carries ``rateLimits``, which align the shared
request budget. Nothing is replayed after a reconnect: the user-stream actor reconciles by REST.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

from loguru import logger
from pydantic import SecretStr

from autohedge.adapters.binance.auth import BinanceSigner, KeyKind, ws_request
from autohedge.adapters.binance.constants import VENUE
from autohedge.adapters.binance.parse import DEFAULT_RETRY_AFTER_S, is_auth_refusal, parse_user_frame
from autohedge.adapters.binance.rest import CLOCK_SKEW_CODE, ServerClock, observe_ws_rate_limits
from autohedge.adapters.binance.wire import BinanceWsResponse
from autohedge.adapters.wsconn import WsConnection
from autohedge.core.clock import Clock
from autohedge.core.errors import AuthError, MalformedMessage, VenueError
from autohedge.core.messages import AccountBalances, OrderUpdate
from autohedge.core.ports import OrderEventSink
from autohedge.core.ratelimit import RequestBudget

__all__ = [
    "SESSION_LOGON",
    "SUBSCRIBE_SIGNATURE",
    "BinanceUserStream",
    "signed_request",
    "subscribe_request",
]

_NS_PER_MS = 1_000_000
_REQUEST_IDS = itertools.count(1)


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
    (and recvWindow), signed."""
    return ws_request(
        method,
        {},
        request_id=request_id,
        timestamp_ms=timestamp_ms,
        recv_window_ms=recv_window_ms,
        api_key=api_key,
        signer=signer,
    )


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
    max_silence_s: float | None = None
    """No application heartbeat (the server's pings are answered below us): silent while nothing trades."""
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 10.0
    """Our own pings, which the venue answers: silent while nothing trades, a connection whose peer is gone
    without closing it is found only by a pong that does not come (its events would be lost unseen)."""

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
        server_clock: ServerClock | None = None,
    ) -> None:
        """``symbols``: venue symbol (``BTCUSDT``) -> ours (``BTC/USDT``). ``signer``: from
        ``auth.load_signer``; its key kind chooses how the session authenticates. ``server_clock``: the
        REST client's offset to the server's time (None: the local clock, never corrected)."""
        self._url = url
        self._api_key = api_key
        self._signer = signer
        self._clock = clock
        self._symbols = dict(symbols)
        self._budget = budget
        self._recv_window_ms = recv_window_ms
        self._server_clock = server_clock
        self._signed_at_sync = 0
        """The server clock's sync count when the subscription was signed (a later sync already fixed it)."""
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
            ping_interval_s=self.ping_interval_s,
            ping_timeout_s=self.ping_timeout_s,
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
        if self._server_clock is not None:
            self._signed_at_sync = self._server_clock.syncs
            timestamp_ms = self._server_clock.timestamp_ms()
        else:
            timestamp_ms = self._clock.wall_ns() // _NS_PER_MS
        request = signed_request(
            method,
            request_id=request_id,
            api_key=self._api_key.get_secret_value(),
            signer=self._signer,
            timestamp_ms=timestamp_ms,
            recv_window_ms=self._recv_window_ms,
        )
        connection.send(json.dumps(request))

    def _on_message(self, connection: WsConnection, raw: str | bytes) -> None:
        """Reader thread."""
        assert self._sink is not None
        try:
            offset_ns = 0 if self._server_clock is None else self._server_clock.offset_ms * _NS_PER_MS
            parsed = parse_user_frame(
                raw, symbols=self._symbols, ts_init=self._clock.wall_ns(), venue_offset_ns=offset_ns
            )
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
            observe_ws_rate_limits(self._budget, response.rateLimits)
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
        if code == CLOCK_SKEW_CODE:
            self._resync()
        failure = (
            f"binance refused {what} ({response.status} {code if code is not None else ''}: "
            f"{error.msg if error else ''})"
        )
        if self._budget is not None:
            if response.status in (418, 429):
                # A ban or rate limit covers the WebSocket API like REST: the shared budget waits it out.
                retry_at_ms = error.data.retryAfter if error is not None and error.data is not None else None
                now_ms = self._clock.wall_ns() // _NS_PER_MS
                wait_s = (retry_at_ms - now_ms) / 1000 if retry_at_ms is not None else DEFAULT_RETRY_AFTER_S
                self._budget.rate_limited(wait_s, banned=response.status == 418)
            elif is_auth_refusal(response.status, code):
                self._budget.auth_failed(failure)
        logger.warning("{}", failure)
        connection.end(failure)

    def _resync(self) -> None:
        """Reader thread: -1021, our timestamp was outside recvWindow. Re-measure the shared offset (one
        REST read, from the shared budget) unless REST already did since we signed; the reconnect that
        follows signs with it. A refused read leaves the offset as it was: the next -1021 tries again."""
        clock = self._server_clock
        if clock is None or clock.syncs != self._signed_at_sync:
            return
        try:
            offset_ms = clock.sync()
        except VenueError as exc:
            logger.warning("binance user stream: server time not re-read ({})", exc)
            return
        logger.info("binance user stream: clock offset to the server re-measured: {} ms", offset_ms)

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.stop()
