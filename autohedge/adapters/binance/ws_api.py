"""Binance order entry over the WebSocket API: an order session on its own connection.

An order placed here is a frame written on an open, authenticated connection instead of an HTTP request
(no request building, pooling or header parsing in the process), and a successful ``order.place``,
``order.cancel`` or ``orderList.place.oco`` weighs 0 (a failed one is still charged). HMAC keys sign each
request (``auth.ws_request``); Ed25519 keys log the connection on once (``session.logon``) and send
requests unsigned. Requests are correlated by ``id``: the calling thread (an order sender, the monitor)
blocks on its own response, at most ``timeout_s``.

What an answer means is REST's: the same error codes map through ``parse.map_error_code`` and
``transport.classified`` into the venue's state (429/418 pause the shared budget until ``retryAfter``,
rejected keys mark it ``auth_failed``); -1021 re-measures the shared server-time offset and sends once
more. A timeout, a 5xx, -1007, or the connection ending while a request is in flight leave an order of
unknown outcome (``OutcomeUnknown``): the executor looks it up by client order id and never resends it.
Every response's ``rateLimits`` align the budget REST shares.

``pipeline`` writes several order requests as back-to-back frames in one socket write and returns
without waiting: each answer (or the typed error ``request`` would raise for it) goes to that request's
callback on the reader thread, exactly once (a connection that ends answers the rest as of unknown
outcome). A burst of entries decided on one tick so reaches the venue together instead of one writer
thread after another.

When the session is not connected the request is not sent (``SessionDown``, counted as a fallback) and
the adapter sends it by REST. A session that ended (a drop, ``serverShutdown``, a refused log-on, a
failed attempt) reconnects in the background, with no order needed: a timer on the engine's clock
(``Clock.call_later``) opens the next connection after the backoff (exponential, starting over once a
connection stayed up ``reset_after_s``), or later when the venue says wait; the new connection logs on
again (Ed25519) or signs each request (HMAC). Only the first connection (opened with the adapter, at
start-up) is waited for by an order: a reconnect never holds one back. ``status`` gives the state and
counters (``core.order_session``).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import msgspec
import websocket
from loguru import logger
from pydantic import SecretStr, TypeAdapter, ValidationError

from autohedge.adapters.binance.auth import BinanceSigner, KeyKind, ws_request
from autohedge.adapters.binance.constants import VENUE
from autohedge.adapters.binance.parse import DEFAULT_RETRY_AFTER_S, map_error_code
from autohedge.adapters.binance.rest import AUTH_HINT, CLOCK_SKEW_CODE, ServerClock, observe_ws_rate_limits
from autohedge.adapters.binance.wire import BinanceWsResponse
from autohedge.adapters.transport import classified
from autohedge.adapters.wirevalues import json_object, validate_wire
from autohedge.adapters.wsconn import PartlyWritten, WsConnection
from autohedge.core.backoff import Backoff
from autohedge.core.clock import Clock, TimerHandle
from autohedge.core.config import SupervisorConfig
from autohedge.core.errors import (
    MalformedMessage,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from autohedge.core.order_session import OrderSessionState, OrderSessionStatus, next_failed_attempts
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.stream_health import reconnect_delay_s
from autohedge.core.validation import first_problem

__all__ = [
    "CONNECT_WEIGHT",
    "OCO_PLACE",
    "ORDER_CANCEL",
    "ORDER_PLACE",
    "RECONNECT_BACKOFF",
    "SESSION_LOGON",
    "BinanceOrderSession",
    "PipelineAnswer",
    "SessionDown",
    "ws_error",
]

T = TypeVar("T")
_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000
_REQUEST_IDS = itertools.count(1)
_FRAMES = msgspec.json.Encoder()
"""Request frames as UTF-8 JSON (a tenth of ``json.dumps``'s time, on the order path)."""

ORDER_PLACE = "order.place"
ORDER_CANCEL = "order.cancel"
OCO_PLACE = "orderList.place.oco"
SESSION_LOGON = "session.logon"
CONNECT_WEIGHT = 2
"""Opening a WebSocket API connection weighs 2 (per IP, shared with REST)."""
RECONNECT_BACKOFF = SupervisorConfig().backoff
"""The default reconnect delays (the supervisor's defaults): the venue allows 300 connection attempts per
5 minutes per IP, each weighing 2."""


class SessionDown(Exception):
    """The session cannot take the request now (not connected, or the frame could not be written):
    nothing reached the venue."""


def ws_error(response: BinanceWsResponse, now_ms: int) -> VenueError:
    """A refused request -> the typed error REST would raise for the same status and code. Pure."""
    error = response.error
    code = error.code if error is not None else None
    msg = error.msg if error is not None else "no error body"
    retry_at_ms = error.data.retryAfter if error is not None and error.data is not None else None
    retry_after_s = (
        max(0.0, (retry_at_ms - now_ms) / 1000) if retry_at_ms is not None else DEFAULT_RETRY_AFTER_S
    )
    return map_error_code(response.status, code, msg, retry_after_s=retry_after_s, auth_hint=AUTH_HINT)


PipelineAnswer = Callable[[T | None, VenueError | None], None]
"""A pipelined request's answer: the result read as the request's model, or the typed error ``request``
would raise (never both). Called once, on the session's reader thread (or the thread that ends the
connection): it must not block."""


@dataclass(eq=False, slots=True)
class _Pending:
    done: threading.Event | None = None
    """A blocking request's wake-up (a pipelined request has ``on_response`` instead)."""
    response: BinanceWsResponse | None = None
    dropped: str = ""
    """Why the connection ended before the answer came (empty while waiting or answered)."""
    on_response: Callable[[BinanceWsResponse | None, str], None] | None = None
    """A pipelined request: called with the answer, or None and why none came, instead of ``done``
    (and of ``response``/``dropped``)."""
    deadline_ns: int = 0
    """A pipelined request: ``time.monotonic_ns`` after which its answer is given up as unknown."""

    def finish(self, response: BinanceWsResponse | None, dropped: str) -> None:
        """Any thread, outside the session's lock: wake the waiting caller, or answer the callback."""
        if self.on_response is not None:
            self.deliver(response, f"the connection ended before the answer ({dropped})")
            return
        self.response, self.dropped = response, dropped
        assert self.done is not None  # a blocking request's
        self.done.set()

    def deliver(self, response: BinanceWsResponse | None, why: str) -> None:
        """A pipelined request's answer, or None and why none came. A failing callback is logged: it must
        never end the connection that every other request (and the exits) uses."""
        assert self.on_response is not None
        try:
            self.on_response(response, why)
        except Exception:  # noqa: BLE001 - a bug in reading one answer, not the session's
            logger.exception("binance order session: a pipelined answer could not be delivered")


class BinanceOrderSession:
    """Thread-safe. ``request`` runs on the caller's thread and blocks until its answer; the reader
    thread (``WsConnection``) hands each answer to the waiting caller and ends the waits of a connection
    that went away; a reconnect runs where the clock runs its timers (``RealClock``'s scheduler thread,
    or the test's thread in ``ManualClock.advance``) and only starts the new connection's reader.
    ``_cond`` guards the state, the connection, the reconnect timer, the counters and the requests in
    flight."""

    def __init__(
        self,
        *,
        url: str,
        api_key: SecretStr,
        signer: BinanceSigner,
        clock: Clock,
        budget: RequestBudget,
        server_clock: ServerClock,
        recv_window_ms: int | None,
        timeout_s: float,
        backoff: Backoff = RECONNECT_BACKOFF,
        reset_after_s: float = 60.0,
        rng: random.Random | None = None,
        connect_wait_s: float = 2.0,
    ) -> None:
        """``timeout_s``: the longest a caller waits for its answer (then the outcome is unknown).
        ``connect_wait_s``: how long after the first connection attempt began a caller still waits for
        it rather than sending by REST. ``backoff``: the delays between reconnect attempts (``rng`` its
        jitter), starting over once a connection stayed usable ``reset_after_s``."""
        self._url = url
        self._api_key = api_key
        self._signer = signer
        self._clock = clock
        self._budget = budget
        self._server_clock = server_clock
        self._recv_window_ms = recv_window_ms
        self._timeout_s = timeout_s
        self._backoff = backoff
        self._reset_after_s = reset_after_s
        self._rng = rng or random.Random()
        self._connect_wait_ns = int(connect_wait_s * _NS_PER_S)
        self._logs_on = signer.kind is KeyKind.ED25519
        self._cond = threading.Condition()
        self._state = OrderSessionState.DOWN
        self._connection: WsConnection | None = None
        self._generation = 0
        self._first_attempt_ns: int | None = None
        """``time.monotonic_ns`` of the first connection attempt: how long an order waits for it is an
        I/O wait, in real time."""
        self._attempts = 0
        self._failed_attempts = 0
        """Connections that failed in a row (``core.order_session.next_failed_attempts``); the backoff's
        exponent is one less."""
        self._up_since_ns: int | None = None
        self._reconnect: TimerHandle | None = None
        self._reconnect_at_ns: int | None = None
        self._logon_id = ""
        self._logon_signed_at_sync = 0
        self._pending: dict[str, _Pending] = {}
        self._resync_due: int | None = None
        """A pipelined request got -1021: the server clock generation it was signed at (the next blocking
        request re-measures the offset; pipelining waits until then)."""
        self._stopped = False
        self.connects = 0
        """Connections that became usable (opened, and logged on for Ed25519 keys)."""
        self.drops = 0
        """Usable connections that ended without ``stop``."""
        self.connect_failures = 0
        self.requests = 0
        self.failures = 0
        self.fallbacks = 0
        self.last_error = ""
        self.malformed = 0
        """Frames that could not be read (counted and skipped)."""

    # -- connection -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._state is OrderSessionState.UP

    def status(self) -> OrderSessionStatus:
        """Any thread: the state and counters (``/health``, the status page, the run summary)."""
        with self._cond:
            next_in_s = None
            if self._reconnect_at_ns is not None:
                next_in_s = round(max(0.0, self._reconnect_at_ns - self._clock.monotonic_ns()) / _NS_PER_S, 3)
            return OrderSessionStatus(
                venue=VENUE,
                state=self._state,
                connects=self.connects,
                reconnects=max(0, self.connects - 1),
                drops=self.drops,
                connect_failures=self.connect_failures,
                requests=self.requests,
                failures=self.failures,
                fallbacks=self.fallbacks,
                last_error=self.last_error,
                next_attempt_in_s=next_in_s,
            )

    def connect(self) -> None:
        """Any thread: open the first connection (start-up). Once one was attempted this does nothing:
        every later connection is the background reconnect's, in its time."""
        with self._cond:
            if self._attempts > 0:
                return
        self._open()

    def _open(self) -> None:
        """One connection attempt (the caller's thread, or the clock's timer): when the venue pauses
        us, REST is refused as well; the attempt is scheduled again for when it allows."""
        with self._cond:
            self._reconnect, self._reconnect_at_ns = None, None
            if self._stopped or self._state is not OrderSessionState.DOWN:
                return
            if self._first_attempt_ns is None:
                self._first_attempt_ns = time.monotonic_ns()
            self._attempts += 1
            try:
                self._budget.acquire(CONNECT_WEIGHT, priority=True)
            except RateLimited as exc:
                self.last_error = str(exc)
                self._schedule_reconnect(exc.retry_after_s)
                self._cond.notify_all()
                return
            self._generation += 1
            generation = self._generation
            connection = WsConnection(
                self._url,
                name="binance order session",
                on_open=lambda conn: self._opened(conn, generation),
                on_message=lambda conn, raw: self._received(conn, raw, generation),
                on_ended=lambda reason: self._ended(reason, generation),
                errors_end_it=True,
            )
            self._connection = connection
            self._state = OrderSessionState.CONNECTING
        connection.start()

    def _schedule_reconnect(self, venue_wait_s: float) -> float:
        """``_cond`` held: the next attempt, after the backoff or when the venue allows, whichever is
        later. Returns the delay."""
        backoff_s = self._backoff.delay_s(max(0, self._failed_attempts - 1), self._rng)
        delay_s = reconnect_delay_s(backoff_s, venue_wait_s)
        self._reconnect_at_ns = self._clock.monotonic_ns() + int(delay_s * _NS_PER_S)
        self._reconnect = self._clock.call_later(delay_s, self._open)
        return delay_s

    def wait_until(self, *, connected: bool, timeout_s: float) -> bool:
        """Any thread: wait until the session is usable (``connected``) or not; whether it came to that
        within ``timeout_s``."""
        with self._cond:
            return self._cond.wait_for(lambda: (self._state is OrderSessionState.UP) == connected, timeout_s)

    def wait_status(self, predicate: Callable[[OrderSessionStatus], bool], timeout_s: float) -> bool:
        """Any thread: wait until the session's status satisfies ``predicate`` (a connection ended, came
        up, an attempt was scheduled); whether it did within ``timeout_s``."""
        with self._cond:  # re-entrant: ``status`` takes it again
            return self._cond.wait_for(lambda: predicate(self.status()), timeout_s)

    def wait_usable(self) -> bool:
        """Caller's thread: whether a request can go out on this session now. Opens the first connection
        if nothing has yet; waits only for that first connection being opened, never longer than
        ``connect_wait_s`` after it began (a venue that does not answer the handshake costs at most that,
        once). A reconnect is the background's: the request goes by REST meanwhile."""
        self.connect()
        with self._cond:
            while self._state is OrderSessionState.CONNECTING and self._attempts == 1:
                assert self._first_attempt_ns is not None
                left_ns = self._first_attempt_ns + self._connect_wait_ns - time.monotonic_ns()
                if left_ns <= 0:
                    break
                self._cond.wait(left_ns / _NS_PER_S)
            return self._state is OrderSessionState.UP

    def _opened(self, connection: WsConnection, generation: int) -> None:
        """Reader thread: HMAC keys sign every request, so the session is usable now; Ed25519 keys log
        the connection on first."""
        if not self._logs_on:
            self._became_usable(generation)
            return
        with self._cond:
            self._logon_id = f"ah-logon-{next(_REQUEST_IDS)}"
            self._logon_signed_at_sync = self._server_clock.syncs
            frame = ws_request(
                SESSION_LOGON,
                {},
                request_id=self._logon_id,
                timestamp_ms=self._server_clock.timestamp_ms(),
                recv_window_ms=self._recv_window_ms,
                api_key=self._api_key.get_secret_value(),
                signer=self._signer,
            )
        connection.send(_FRAMES.encode(frame))

    def _became_usable(self, generation: int) -> None:
        with self._cond:
            if generation != self._generation or self._stopped:
                return
            self._state = OrderSessionState.UP
            self._up_since_ns = self._clock.monotonic_ns()
            self.connects += 1
            self._cond.notify_all()
        logger.info("binance order session connected")

    def _ended(self, reason: str, generation: int) -> None:
        """Reader thread: every request still waiting on this connection has an unknown answer; the next
        attempt is scheduled."""
        reason = reason or "the connection ended"
        with self._cond:
            if generation != self._generation or self._stopped:
                return
            was_up_ns = None
            if self._up_since_ns is not None:
                self.drops += 1
                was_up_ns = self._clock.monotonic_ns() - self._up_since_ns
            else:
                self.connect_failures += 1
            self._failed_attempts = next_failed_attempts(
                self._failed_attempts, was_up_ns=was_up_ns, reset_after_s=self._reset_after_s
            )
            self._state, self._up_since_ns, self._connection = OrderSessionState.DOWN, None, None
            self.last_error = reason
            waiting, self._pending = list(self._pending.values()), {}
            self._cond.notify_all()
            delay_s = self._schedule_reconnect(self._budget.wait_s(priority=True, weight=CONNECT_WEIGHT))
        for pending in waiting:
            pending.finish(None, reason)
        logger.warning(
            "binance order session ended ({}); orders go by REST until it reconnects, in {:.2f}s",
            reason,
            delay_s,
        )

    def stop(self) -> None:
        """Any thread: close the connection and cancel a scheduled reconnect; requests in flight end as
        of unknown outcome."""
        with self._cond:
            self._stopped = True
            connection = self._connection
            self._generation += 1
            self._state = OrderSessionState.DOWN
            self._connection = None
            if self._reconnect is not None:
                self._reconnect.cancel()
            self._reconnect, self._reconnect_at_ns = None, None
            waiting, self._pending = list(self._pending.values()), {}
            self._cond.notify_all()
        for pending in waiting:
            pending.finish(None, "the order session was stopped")
        if connection is not None:
            connection.stop()

    # -- frames ---------------------------------------------------------------------------------------

    def _received(self, connection: WsConnection, raw: str | bytes, generation: int) -> None:
        """Reader thread: an answer goes to the caller waiting on its ``id``."""
        try:
            frame = json_object(raw, "order session frame", venue=VENUE, decimals=True)
            if "id" not in frame or "status" not in frame:
                event = frame.get("event", frame)
                if isinstance(event, dict) and event.get("e") == "serverShutdown":
                    connection.end("binance serverShutdown: reconnect")
                return  # no events are subscribed on this connection
            response = validate_wire(BinanceWsResponse, frame, "response", venue=VENUE)
        except MalformedMessage as exc:
            with self._cond:
                self.malformed += 1
            logger.warning("binance order session: frame skipped ({})", exc)
            return
        observe_ws_rate_limits(self._budget, response.rateLimits)
        request_id = None if response.id is None else str(response.id)
        with self._cond:
            if generation != self._generation:
                return
            if request_id is not None and request_id == self._logon_id:
                self._logon_id = ""
                logon = response
                pending = None
            else:
                logon = None
                pending = self._pending.pop(request_id, None) if request_id is not None else None
        if pending is not None:
            pending.finish(response, "")
        if logon is not None:
            self._logged_on(connection, logon, generation)
        elif pending is None and response.status != 200:
            # An error that answers no request of ours (the venue revoking the session): end it.
            error = classified(self._budget, self._error(response), response.status, places_order=False)
            connection.end(f"binance order session refused: {error}")

    def _logged_on(self, connection: WsConnection, response: BinanceWsResponse, generation: int) -> None:
        """Reader thread: the ``session.logon`` answer."""
        if response.status == 200:
            self._budget.auth_ok()
            self._became_usable(generation)
            return
        if response.error is not None and response.error.code == CLOCK_SKEW_CODE:
            self._resync(self._logon_signed_at_sync)
        error = classified(self._budget, self._error(response), response.status, places_order=False)
        with self._cond:
            if generation == self._generation:
                self._state = OrderSessionState.DOWN  # callers send by REST now, not when the reader ends
                self._cond.notify_all()
        connection.end(f"binance order session log-on refused: {error}")

    def _error(self, response: BinanceWsResponse) -> VenueError:
        return ws_error(response, self._clock.wall_ns() // _NS_PER_MS)

    def _resync(self, signed_at_sync: int) -> None:
        """-1021: our timestamp was outside recvWindow. Re-measure the shared offset (one REST read)
        unless another user of it (REST, the user stream) already did since we signed; a refused read
        keeps the old one."""
        if self._server_clock.syncs != signed_at_sync:
            return
        try:
            offset_ms = self._server_clock.sync()
        except VenueError as exc:
            logger.warning("binance order session: server time not re-read ({})", exc)
            return
        logger.info("binance order session: clock offset to the server re-measured: {} ms", offset_ms)

    # -- requests -------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        params: Mapping[str, str],
        model: TypeAdapter[T],
        *,
        places_order: bool,
        priority: bool,
    ) -> T:
        """Caller's thread: send one trading request and wait for its answer, read as ``model``.

        Raises ``SessionDown`` when it was not sent (send it by REST), the venue's refusal as the typed
        error REST raises for it, and ``OutcomeUnknown`` for an order-placing request whose answer did
        not come (timeout, the connection ended) or was a server error."""
        if not self.wait_usable():
            raise self._fallback("not connected")
        # A successful trading request weighs 0; a failed one is charged, and ``rateLimits`` says so.
        self._budget.acquire(0.0, priority=priority, orders=1 if places_order else 0)
        with self._cond:
            resync_due, self._resync_due = self._resync_due, None
        if resync_due is not None:  # a pipelined request was refused for our clock: re-measure first
            self._resync(resync_due)
        signed_at_sync = self._server_clock.syncs
        response = self._round_trip(method, params, places_order=places_order)
        if response.status != 200 and response.error is not None and response.error.code == CLOCK_SKEW_CODE:
            # Refused before it was looked at (nothing was placed): resync, then sign and send once more.
            self._resync(signed_at_sync)
            response = self._round_trip(method, params, places_order=places_order)
        if response.status != 200:
            raise classified(
                self._budget, self._error(response), response.status, places_order=places_order
            ) from None
        self._budget.succeeded()
        self._budget.auth_ok()
        try:
            return model.validate_python(response.result)
        except ValidationError as exc:
            message = f"binance {method}: {first_problem(exc, whole='<result>')}"
            if places_order:
                raise OutcomeUnknown(f"{message}; the order may exist", venue=VENUE) from None
            raise MalformedMessage(message) from None

    def pipeline(
        self,
        method: str,
        batch: Sequence[tuple[Mapping[str, str] | Sequence[tuple[str, str]], PipelineAnswer[T]]],
        model: TypeAdapter[T],
        *,
        priority: bool,
    ) -> int:
        """Caller's thread: write each order-placing request of ``batch`` (its params and where its answer
        goes) as its own frame, all in one socket write, and return without waiting for the answers.

        Returns how many requests, from the front, were written: 0 when the session is not usable now (it
        never waits for a connection; a dropped one comes back in the background), fewer when the budget
        refuses one (that one and the rest were not sent). The caller sends those the blocking way. Every
        written request's answer comes to its callback exactly once: a refusal as the typed error
        ``request`` raises (a -1021 refusal is a retryable ``VenueUnavailable``; the next blocking request
        re-measures the clock), a lost or late answer (the connection ended, nothing within
        ``timeout_s``) as ``OutcomeUnknown``. A socket write that fails before any byte left sends
        nothing (0)."""
        self._expire_pipelined()
        with self._cond:
            connection = self._connection if self._state is OrderSessionState.UP else None
            resync_due = self._resync_due is not None
        if connection is None:
            self.connect()  # the first connection, if none was attempted yet; a later one is the background's
            return 0
        if resync_due:
            return 0
        admitted = self._budget.acquire_up_to(len(batch), 0.0, priority=priority, orders=1)
        if not admitted:
            return 0
        signed_at_sync = self._server_clock.syncs
        timestamp_ms = self._server_clock.timestamp_ms()
        deadline_ns = time.monotonic_ns() + int(self._timeout_s * _NS_PER_S)
        texts: list[bytes] = []
        pendings: dict[str, _Pending] = {}
        recv_window_ms = self._recv_window_ms
        api_key = None if self._logs_on else self._api_key.get_secret_value()
        signer = None if self._logs_on else self._signer
        for params, on_answer in batch[:admitted]:
            request_id = f"ah-{next(_REQUEST_IDS)}"
            frame = ws_request(
                method,
                params,
                request_id=request_id,
                timestamp_ms=timestamp_ms,
                recv_window_ms=recv_window_ms,
                api_key=api_key,
                signer=signer,
            )
            texts.append(_FRAMES.encode(frame))
            answer = self._pipelined_answer(method, request_id, model, on_answer, signed_at_sync)
            pendings[request_id] = _Pending(on_response=answer, deadline_ns=deadline_ns)
        with self._cond:
            if self._connection is not connection:
                return 0  # it ended meanwhile: nothing was written
            self._pending.update(pendings)
        try:
            connection.send_many(texts)
        except (websocket.WebSocketException, OSError) as exc:
            if isinstance(exc, PartlyWritten):
                # Some frames may have left: every request waits for its answer or the connection's end.
                logger.warning("binance order session: pipelined write broke off ({})", exc)
                self._count_written(admitted)
                return admitted
            with self._cond:
                unsent = [self._pending.pop(request_id, None) for request_id in pendings]
            if all(pending is not None for pending in unsent):
                return 0  # not one byte was written: the venue cannot have read any of them
            # The connection's end answered some of them already: the rest are answered alike (a lookup
            # by client id finds nothing), so every request of the batch is answered once.
            for pending in unsent:
                if pending is not None:
                    pending.deliver(None, f"not written ({type(exc).__name__})")
        self._count_written(admitted)
        return admitted

    def _count_written(self, requests: int) -> None:
        """Caller's thread: pipelined requests count as sent requests (``status``)."""
        with self._cond:
            self.requests += requests

    def _pipelined_answer(
        self,
        method: str,
        request_id: str,
        model: TypeAdapter[T],
        on_answer: PipelineAnswer[T],
        signed_at_sync: int,
    ) -> Callable[[BinanceWsResponse | None, str], None]:
        """What the reader thread does with a pipelined request's answer (``request``'s reading of it)."""

        def answered(response: BinanceWsResponse | None, dropped: str) -> None:
            if response is None:
                text = f"binance {method} {request_id} on the WebSocket API: {dropped}"
                self._budget.failed(dropped)
                with self._cond:
                    self.failures += 1
                    self.last_error = text
                on_answer(None, OutcomeUnknown(text, venue=VENUE))
                return
            if response.status != 200:
                if response.error is not None and response.error.code == CLOCK_SKEW_CODE:
                    with self._cond:
                        self._resync_due = signed_at_sync
                error = classified(self._budget, self._error(response), response.status, places_order=True)
                on_answer(None, error)
                return
            self._budget.succeeded()
            self._budget.auth_ok()
            try:
                result = model.validate_python(response.result)
            except ValidationError as exc:
                problem = first_problem(exc, whole="<result>")
                on_answer(
                    None, OutcomeUnknown(f"binance {method}: {problem}; the order may exist", venue=VENUE)
                )
                return
            on_answer(result, None)

        return answered

    def _expire_pipelined(self) -> None:
        """Caller's thread: pipelined requests unanswered past ``timeout_s`` are answered as unknown (their
        caller has given up on them by then too; this keeps them from being held forever)."""
        now_ns = time.monotonic_ns()
        with self._cond:
            expired = [
                (request_id, pending)
                for request_id, pending in self._pending.items()
                if pending.on_response is not None and pending.deadline_ns < now_ns
            ]
            for request_id, _ in expired:
                del self._pending[request_id]
        for _, pending in expired:
            pending.deliver(None, f"no answer within {self._timeout_s:g} s")

    def _fallback(self, why: str) -> SessionDown:
        """Any caller's thread: the request is not sent here; the adapter sends it by REST (counted)."""
        with self._cond:
            self.fallbacks += 1
        return SessionDown(f"binance order session: {why}")

    def _round_trip(self, method: str, params: Mapping[str, str], *, places_order: bool) -> BinanceWsResponse:
        request_id = f"ah-{next(_REQUEST_IDS)}"
        done = threading.Event()
        pending = _Pending(done=done)
        with self._cond:
            connection = self._connection
            if self._state is not OrderSessionState.UP or connection is None:
                raise self._fallback("not connected")
            self._pending[request_id] = pending
        frame = ws_request(
            method,
            params,
            request_id=request_id,
            timestamp_ms=self._server_clock.timestamp_ms(),
            recv_window_ms=self._recv_window_ms,
            api_key=None if self._logs_on else self._api_key.get_secret_value(),
            signer=None if self._logs_on else self._signer,
        )
        try:
            connection.send(_FRAMES.encode(frame))
        except (websocket.WebSocketException, OSError) as exc:
            # The frame was not written: the venue cannot have read it.
            with self._cond:
                self._pending.pop(request_id, None)
            raise self._fallback(f"not sent ({type(exc).__name__})") from None
        with self._cond:
            self.requests += 1
        if not done.wait(self._timeout_s):
            with self._cond:
                self._pending.pop(request_id, None)
            why = f"no answer within {self._timeout_s:g} s"
        elif pending.response is None:
            why = f"the connection ended before the answer ({pending.dropped})"
        else:
            return pending.response
        self._budget.failed(why)
        text = f"binance {method} {request_id} on the WebSocket API: {why}"
        with self._cond:
            self.failures += 1
            self.last_error = text
        if places_order:
            raise OutcomeUnknown(text, venue=VENUE)
        raise VenueUnavailable(text, venue=VENUE, retry_after_s=1.0)
