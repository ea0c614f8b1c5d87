"""The fake Binance's WebSocket API (``/ws-api/v3``): the user data stream, backed by the paper engine.

It checks what Binance checks on ``userDataStream.subscribe.signature`` and ``session.logon`` — the API
key, its signature (HMAC hex, or base64 Ed25519) over the parameters sorted by name, the timestamp within
recvWindow of the fake's server clock (-1021 with Binance's body when not) — and answers with
``rateLimits``. ``session.logon`` takes Ed25519 keys only; a logged-on session's
``userDataStream.subscribe`` needs no signature, and one that has not logged on is refused.
Then it pushes every engine order event as an ``executionReport``, and an ``outboundAccountPosition``
after every balance change (the lock when an order is placed, each fill, the release when it ends), to
the subscribed sessions.

Trading requests (``order.place``, ``order.cancel``, ``orderList.place.oco``) go to the same paper engine
as the REST routes (``binance_orders``), signed per request or on a logged-on session, and are answered
``{"id","status","result"|"error","rateLimits"}``. Like Binance they weigh 0 when they succeed and 1 when
they fail; a refused request gets 429/418 with ``error.data.retryAfter``. Each request's arrival is
stamped as its frame is read (``arrivals``), before any other work, and it is handed to a pool of
trading workers without waiting, so the next frame is read at once. The venue's fault switches apply:
``server_errors`` answer 503 before the engine; ``lose_next_order_response`` places the order then drops
the connection; ``error_after_next_order`` places it then answers 503. The user stream's fault switches:
refuse the subscription, duplicate every event, deliver a fill before its acknowledgement (the NEW report
is held back until after the first trade), delay events; dropping the socket is the fake's
``drop_clients``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from autohedge.core.messages import OrderEventKind, OrderUpdate
from autohedge.core.types import OrderType, base_of, quote_of
from tests.fakes.binance_orders import cancel_order, f8, place_oco, place_order
from tests.fakes.sessions import OrderEventHub
from tests.fakes.venue_server import ArrivalStampedConnection, StreamClient

if TYPE_CHECKING:
    from tests.fakes.binance import FakeBinance

__all__ = ["BinanceUserHub"]

WS_API_PATH = "/ws-api/v3"
CONNECT_WEIGHT = 2
WEIGHTS = {
    "userDataStream.subscribe.signature": 2,
    "session.logon": 2,
    "userDataStream.subscribe": 2,
    "order.place": 1,
    "order.cancel": 1,
    "orderList.place.oco": 1,
}
"""The documented weight of each WebSocket API request the fake serves."""
TRADING = {"order.place": place_order, "order.cancel": cancel_order, "orderList.place.oco": place_oco}
"""Trading requests: weight 0 when they succeed, their ``WEIGHTS`` when they fail."""
PLACES_ORDER = frozenset({"order.place", "orderList.place.oco"})
_REJECTED_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
_NOT_LOGGED_ON = (-1002, "You are not authorized to execute this request.")
_X = {
    OrderEventKind.ACCEPTED: ("NEW", "NEW"),
    OrderEventKind.PARTIALLY_FILLED: ("TRADE", "PARTIALLY_FILLED"),
    OrderEventKind.FILLED: ("TRADE", "FILLED"),
    OrderEventKind.CANCELED: ("CANCELED", "CANCELED"),
    OrderEventKind.REJECTED: ("REJECTED", "REJECTED"),
    OrderEventKind.EXPIRED: ("EXPIRED", "EXPIRED"),
}


@dataclass(eq=False)
class _Session:
    connection: ServerConnection
    connected_ms: int
    """On the fake's server clock, as every time the WebSocket API reports."""
    subscription_id: int | None = None
    logged_on_key: str | None = None
    """The API key ``session.logon`` authenticated this connection with (Ed25519 only)."""
    logged_on_ms: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class BinanceUserHub(OrderEventHub[_Session, dict[str, Any]]):
    """Serves ``/ws-api/v3`` sessions for a ``FakeBinance`` and pushes its engine's order events."""

    _fake: FakeBinance

    def __init__(self, fake: FakeBinance) -> None:
        """The API keys and what verifies them are ``fake.keys``."""
        self._subscription_ids = itertools.count()
        self._cancel_ids = itertools.count(1)
        self._pushed_balances = {a: (b.free, b.locked) for a, b in fake.engine.balances().items()}
        """Per asset, the (free, locked) last pushed: a balance is pushed when it changes (engine thread)."""
        self.logons = 0
        self.refused_for_pushback = 0
        """Subscriptions refused with 429/418 because the client was rate limited or banned."""
        self.requests: list[tuple[float, str, int]] = []
        """(time.monotonic, method, weight) of every WebSocket API request and connection."""
        self.charged = 0
        self.dropped_after_accept = 0
        """Connections dropped right after an order was placed (the lost-response fault)."""
        """Weight charged for failed trading requests (a successful one weighs 0)."""
        self.arrivals: list[tuple[int, str, str]] = []
        """(time.monotonic_ns as the frame was read, method, venue symbol) of every order-placing request."""
        self._trading: queue.SimpleQueue[tuple[_Session, str | bytes, int]] = queue.SimpleQueue()
        self._idle_workers = 0
        """Trading workers waiting for a request (a request finding none starts one)."""
        super().__init__(fake, thread_name="fake-binance-user")

    # -- sessions -------------------------------------------------------------------------------------

    def serve(self, connection: ServerConnection, client: StreamClient) -> None:
        """One WebSocket API connection (the fake's websocket thread for it)."""
        self._record("connect", CONNECT_WEIGHT)
        self._serve(_Session(connection, self._fake.server_ms()), self._receive)

    def _receive(self, session: _Session, raw: str | bytes) -> None:
        """The connection's thread: stamp the arrival first; a trading request is served by a trading
        worker (the venue reads the next frame meanwhile), anything else here, in order."""
        connection = session.connection
        arrived_ns = (
            connection.arrived_ns()
            if isinstance(connection, ArrivalStampedConnection)
            else time.monotonic_ns()
        )
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        if '"order.' in text or '"orderList.' in text:
            # Handed to an idle worker without waiting: starting a thread per request waited for the new
            # thread to run, and the frames behind it (a burst written at once) were stamped that late.
            with self._lock:
                grow = self._idle_workers == 0
                if not grow:
                    self._idle_workers -= 1
            self._trading.put((session, raw, arrived_ns))
            if grow:
                threading.Thread(target=self._work, name="fake-binance-ws-api", daemon=True).start()
            return
        self._handle(session, raw, arrived_ns)

    def _work(self) -> None:
        """A trading worker: serves queued trading requests, one at a time, for as long as the fake runs."""
        while True:
            session, raw, arrived_ns = self._trading.get()
            self._handle(session, raw, arrived_ns)
            with self._lock:
                self._idle_workers += 1

    def _record(self, method: str, weight: int) -> None:
        with self._lock:
            self.requests.append((time.monotonic(), method, weight))
        with self._fake.state.lock:  # one weight per IP, shared with REST
            self._fake.weight.add(weight, time.time())

    def _pushback(self, method: str) -> tuple[int, int] | None:
        """A request under the fake's REST limit rules (the same weight, ban and 429 state):
        (status, retryAfter in epoch ms) when refused, else None (the request is counted; a trading
        request weighs nothing until it fails)."""
        weight = 0 if method in TRADING else WEIGHTS[method]
        with self._lock:
            self.requests.append((time.monotonic(), method, weight))
        now_s = time.time()
        with self._fake.state.lock:
            refused = self._fake.pushback(weight, method in PLACES_ORDER, now_s)
        if refused is None:
            return None
        self.refused_for_pushback += 1
        status, retry_after_s = refused
        return status, int((now_s + retry_after_s) * 1000)

    def _weight_used(self) -> int:
        with self._fake.state.lock:
            return self._fake.weight.current(time.time())

    def _reply(self, session: _Session, payload: dict[str, Any]) -> None:
        payload["rateLimits"] = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 1200,
                "count": self._weight_used(),
            }
        ]
        # A client gone before its answer misses it (a trading request is answered from its own thread,
        # after the connection may have ended).
        with session.lock, contextlib.suppress(ConnectionClosed, OSError):
            session.connection.send(json.dumps(payload))

    def _handle(self, session: _Session, raw: str | bytes, arrived_ns: int) -> None:
        try:
            request = json.loads(raw)
            request_id, method, params = request["id"], request["method"], request.get("params", {})
            if method in PLACES_ORDER:
                with self._lock:
                    self.arrivals.append((arrived_ns, method, str(params.get("symbol", ""))))
                with self._fake.state.lock:  # beside the REST routes' order posts, labelled by method
                    self._fake.posted_at.append((time.time(), method, {k: str(v) for k, v in params.items()}))
        except (ValueError, KeyError, TypeError, AttributeError):
            self._reply(
                session, {"id": None, "status": 400, "error": {"code": -1102, "msg": "Malformed request."}}
            )
            return
        if method not in WEIGHTS:
            self._reply(
                session, {"id": request_id, "status": 400, "error": {"code": -1100, "msg": "Unknown method."}}
            )
            return
        refusal = self._pushback(method)
        if refusal is not None:  # a ban or a rate limit covers the WebSocket API like REST
            status, retry_at_ms = refusal
            text = (
                "Way too much request weight used; IP banned until later."
                if status == 418
                else "Too much request weight used; current limit is 1200 request weight per 1 MINUTE."
            )
            error_body = {
                "code": -1003,
                "msg": text,
                "data": {"serverTime": self._fake.server_ms(), "retryAfter": retry_at_ms},
            }
            self._reply(session, {"id": request_id, "status": status, "error": error_body})
            return
        if method == "session.logon":
            self._logon(session, request_id, params)
            return
        if method in TRADING:
            self._trade(session, request_id, method, params)
            return
        if method == "userDataStream.subscribe":
            # Authorised by the session's log-on: no apiKey, no signature.
            error = None if session.logged_on_key is not None else _NOT_LOGGED_ON
        else:
            error = self._check_signature(params)
        if error is None and self.faults.refuse_subscription:
            error = _REJECTED_KEY
        if error is not None:
            self._refuse(session, request_id, error)
            return
        session.subscription_id = next(self._subscription_ids)
        self._count_subscription()
        self._reply(
            session, {"id": request_id, "status": 200, "result": {"subscriptionId": session.subscription_id}}
        )

    def _trade(self, session: _Session, request_id: Any, method: str, params: dict[str, Any]) -> None:
        """A trading request: authorised by the session's log-on or by its own signature, then served by
        the engine like its REST route; a failure is charged its weight."""
        if session.logged_on_key is not None and "signature" not in params:
            error = self._fake.timestamp_refusal(params.get("timestamp", 0), params.get("recvWindow"))
        else:
            error = self._check_signature(params)
        if error is not None:
            self._charge(method)
            self._refuse(session, request_id, error)
            return
        if self._fake.take_server_error():
            self._charge(method)
            self._internal_error(session, request_id)
            return
        answer = TRADING[method](self._fake, {k: str(v) for k, v in params.items()})
        if answer.status != 200:
            self._charge(method)
            self._reply(session, {"id": request_id, "status": answer.status, "error": answer.payload})
            return
        if answer.placed and self._fake.take_lost_response():
            with self._lock:
                self.dropped_after_accept += 1
            with contextlib.suppress(OSError):  # the order exists; the client hears nothing
                session.connection.socket.shutdown(socket.SHUT_RDWR)
            return
        if answer.placed and self._fake.take_error_after_order():
            self._internal_error(session, request_id)
            return
        self._reply(session, {"id": request_id, "status": 200, "result": answer.payload})

    def take_arrivals(self) -> list[tuple[int, str]]:
        """(time.monotonic_ns, venue symbol) of the order-placing requests since the last take."""
        with self._lock:
            taken, self.arrivals = self.arrivals, []
        return [(arrived_ns, symbol) for arrived_ns, _, symbol in taken]

    def _charge(self, method: str) -> None:
        with self._lock:
            self.charged += WEIGHTS[method]
        with self._fake.state.lock:
            self._fake.weight.add(WEIGHTS[method], time.time())

    def _internal_error(self, session: _Session, request_id: Any) -> None:
        error = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
        self._reply(session, {"id": request_id, "status": 503, "error": error})

    def _logon(self, session: _Session, request_id: Any, params: dict[str, Any]) -> None:
        """``session.logon``: Ed25519 keys only; the session is authenticated until it ends."""
        api_key = str(params.get("apiKey", ""))
        error = self._check_signature(params)
        if error is None and not self._fake.keys.is_ed25519(api_key):
            error = _REJECTED_KEY  # HMAC keys sign each request; they cannot log a session on
        if error is not None:
            self._refuse(session, request_id, error)
            return
        session.logged_on_key, session.logged_on_ms = api_key, self._fake.server_ms()
        self.logons += 1
        result = {
            "apiKey": api_key,
            "authorizedSince": session.logged_on_ms,
            "connectedSince": session.connected_ms,
            "returnRateLimits": True,
            "serverTime": session.logged_on_ms,
            "userDataStream": session.subscription_id is not None,
        }
        self._reply(session, {"id": request_id, "status": 200, "result": result})

    def _refuse(self, session: _Session, request_id: Any, error: tuple[int, str]) -> None:
        code, msg = error
        status = 401 if error in (_REJECTED_KEY, _NOT_LOGGED_ON) else 400
        self._reply(session, {"id": request_id, "status": status, "error": {"code": code, "msg": msg}})

    def _check_signature(self, params: dict[str, Any]) -> tuple[int, str] | None:
        api_key = str(params.get("apiKey", ""))
        keys = self._fake.keys
        if not keys.known(api_key) or self._fake.state.faults.reject_keys:
            return _REJECTED_KEY
        signature = str(params.get("signature", ""))
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
        if not keys.verify(api_key, payload, signature):
            return -1022, "Signature for this request is not valid."
        return self._fake.timestamp_refusal(params.get("timestamp", 0), params.get("recvWindow"))

    # -- events ---------------------------------------------------------------------------------------

    def _frames(self, update: OrderUpdate) -> list[dict[str, Any]]:
        return [self._execution_report(update, update.symbol.replace("/", ""))]

    def _account_frames(self, update: OrderUpdate) -> list[dict[str, Any]]:
        """An ``outboundAccountPosition`` whenever the event changed a balance of the order's assets,
        as the venue sends it: the lock when an order is placed, the release when it ends, each fill.
        It lists the assets that changed (engine thread, engine lock held)."""
        balances = self._fake.engine.balances()
        changed: list[dict[str, str]] = []
        for asset in (base_of(update.symbol), quote_of(update.symbol)):
            held = balances.get(asset)
            now = (held.free, held.locked) if held is not None else (Decimal(0), Decimal(0))
            if self._pushed_balances.get(asset, (Decimal(0), Decimal(0))) == now:
                continue
            self._pushed_balances[asset] = now
            changed.append({"a": asset, "f": f8(now[0]), "l": f8(now[1])})
        if not changed:
            return []
        return [
            {
                "e": "outboundAccountPosition",
                "E": int(time.time() * 1000),
                "u": update.ts_event // 1_000_000,
                "B": changed,
            }
        ]

    def _execution_report(self, update: OrderUpdate, venue_symbol: str) -> dict[str, Any]:
        x, status = _X[update.kind]
        canceled = update.kind is OrderEventKind.CANCELED
        if update.order_type is OrderType.STOP_LIMIT:
            order_type = "STOP_LOSS_LIMIT"
        else:
            order_type = "LIMIT_MAKER" if update.list_id else "LIMIT"
        cum_quote = (update.avg_fill_price or Decimal(0)) * update.cum_filled_qty
        return {
            "e": "executionReport",
            "E": int(time.time() * 1000),
            "s": venue_symbol,
            "c": f"x-cancel-{next(self._cancel_ids)}" if canceled else update.client_order_id,
            "S": update.side.value.upper(),
            "o": order_type,
            "f": "GTC",
            "q": f8(update.order_qty),
            "p": f8(update.price),
            "g": int(update.list_id[1:]) if update.list_id else -1,
            "C": update.client_order_id if canceled else "",
            "x": x,
            "X": status,
            "r": "NONE",
            "i": int(update.venue_order_id[1:]),
            "l": f8(update.last_qty),
            "z": f8(update.cum_filled_qty),
            "L": f8(update.last_price),
            "n": f8(update.fee),
            "N": update.fee_asset or None,
            "T": update.ts_event // 1_000_000,
            "t": int(update.trade_id) if update.trade_id else -1,
            "Z": f8(cum_quote),
        }

    def _push(self, frames: list[dict[str, Any]]) -> None:
        with self._lock:
            sessions = [s for s in self._sessions if s.subscription_id is not None]
        for session in sessions:
            for event in frames:
                self._send_copies(
                    session, json.dumps({"subscriptionId": session.subscription_id, "event": event})
                )

    def terminate_streams(self) -> None:
        """Tell every subscribed session its stream ended (``eventStreamTerminated``)."""
        self._push([{"e": "eventStreamTerminated", "E": int(time.time() * 1000)}])
