"""The fake Binance's WebSocket API (``/ws-api/v3``): the user data stream, backed by the paper engine.

It checks what Binance checks on ``userDataStream.subscribe.signature`` — the API key, the HMAC over
the parameters sorted by name, the timestamp within recvWindow — answers with ``rateLimits``, then
pushes every engine order event as an ``executionReport`` (and an ``outboundAccountPosition`` after each
fill) to the subscribed sessions. Fault switches: refuse the subscription, duplicate every event,
deliver a fill before its acknowledgement (the NEW report is held back until after the first trade),
delay events; dropping the socket is the fake's ``drop_clients``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from autohedge.core.messages import OrderEventKind, OrderUpdate
from autohedge.core.types import OrderType, base_of, quote_of
from tests.fakes.sessions import SessionHub
from tests.fakes.venue_server import StreamClient

if TYPE_CHECKING:
    from tests.fakes.binance import FakeBinance

__all__ = ["BinanceUserHub", "UserStreamFaults"]

WS_API_PATH = "/ws-api/v3"
SUBSCRIBE_WEIGHT = 2
CONNECT_WEIGHT = 2
_X = {
    OrderEventKind.ACCEPTED: ("NEW", "NEW"),
    OrderEventKind.PARTIALLY_FILLED: ("TRADE", "PARTIALLY_FILLED"),
    OrderEventKind.FILLED: ("TRADE", "FILLED"),
    OrderEventKind.CANCELED: ("CANCELED", "CANCELED"),
    OrderEventKind.REJECTED: ("REJECTED", "REJECTED"),
    OrderEventKind.EXPIRED: ("EXPIRED", "EXPIRED"),
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _f8(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):.8f}"


@dataclass
class UserStreamFaults:
    refuse_subscription: bool = False
    duplicate_events: bool = False
    fill_before_ack: bool = False
    delay_s: float = 0.0


@dataclass(eq=False)
class _Session:
    connection: ServerConnection
    subscription_id: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class BinanceUserHub(SessionHub[_Session]):
    """Serves ``/ws-api/v3`` sessions for a ``FakeBinance`` and pushes its engine's order events."""

    def __init__(self, fake: FakeBinance, *, api_key: str, api_secret: str) -> None:
        super().__init__()
        self._fake = fake
        self._api_key = api_key
        self._api_secret = api_secret
        self.faults = UserStreamFaults()
        self._events: queue.Queue[tuple[dict[str, Any], ...]] = queue.Queue()
        self._held: dict[str, dict[str, Any]] = {}
        self._subscription_ids = itertools.count()
        self._cancel_ids = itertools.count(1)
        self.subscriptions = 0
        self.refused_for_pushback = 0
        """Subscriptions refused with 429/418 because the client was rate limited or banned."""
        self.subscribed_at: list[int] = []
        """For each subscription, how many REST requests the fake had served before it."""
        self.requests: list[tuple[float, str, int]] = []
        """(time.monotonic, method, weight) of every WebSocket API request and connection."""
        fake.engine.add_listener(self._on_engine_event)
        self._sender = threading.Thread(target=self._send_loop, name="fake-binance-user", daemon=True)
        self._sender.start()

    # -- sessions -------------------------------------------------------------------------------------

    def serve(self, connection: ServerConnection, client: StreamClient) -> None:
        """One WebSocket API connection (the fake's websocket thread for it)."""
        self._record("connect", CONNECT_WEIGHT)
        self._serve(_Session(connection), self._handle)

    def _record(self, method: str, weight: int) -> None:
        with self._lock:
            self.requests.append((time.monotonic(), method, weight))
        with self._fake.state.lock:  # one weight per IP, shared with REST
            self._fake.weight.add(weight, time.time())

    def _pushback(self) -> tuple[int, int] | None:
        """The subscription under the fake's REST limit rules (the same weight, ban and 429 state):
        (status, retryAfter in epoch ms) when refused, else None (the request is counted)."""
        with self._lock:
            self.requests.append((time.monotonic(), "userDataStream.subscribe.signature", SUBSCRIBE_WEIGHT))
        now_s = time.time()
        with self._fake.state.lock:
            refused = self._fake.pushback(SUBSCRIBE_WEIGHT, False, now_s)
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
        with session.lock:
            session.connection.send(json.dumps(payload))

    def _handle(self, session: _Session, raw: str | bytes) -> None:
        try:
            request = json.loads(raw)
            request_id, method, params = request["id"], request["method"], request.get("params", {})
        except (ValueError, KeyError, TypeError):
            self._reply(
                session, {"id": None, "status": 400, "error": {"code": -1102, "msg": "Malformed request."}}
            )
            return
        if method != "userDataStream.subscribe.signature":
            self._reply(
                session, {"id": request_id, "status": 400, "error": {"code": -1100, "msg": "Unknown method."}}
            )
            return
        refusal = self._pushback()
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
                "data": {"serverTime": _now_ms(), "retryAfter": retry_at_ms},
            }
            self._reply(session, {"id": request_id, "status": status, "error": error_body})
            return
        error = self._check_signature(params)
        if error is None and self.faults.refuse_subscription:
            error = (-2015, "Invalid API-key, IP, or permissions for action.")
        if error is not None:
            code, msg = error
            self._reply(session, {"id": request_id, "status": 400, "error": {"code": code, "msg": msg}})
            return
        session.subscription_id = next(self._subscription_ids)
        self.subscriptions += 1
        self.subscribed_at.append(len(self._fake.requests()))
        self._reply(
            session, {"id": request_id, "status": 200, "result": {"subscriptionId": session.subscription_id}}
        )

    def _check_signature(self, params: dict[str, Any]) -> tuple[int, str] | None:
        if params.get("apiKey") != self._api_key:
            return -2015, "Invalid API-key, IP, or permissions for action."
        signature = params.get("signature", "")
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
        expected = hmac.new(self._api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(str(signature), expected):
            return -1022, "Signature for this request is not valid."
        now_ms = int(time.time() * 1000)
        timestamp, recv_window = int(params.get("timestamp", 0)), int(params.get("recvWindow", 5000))
        if timestamp >= now_ms + 1000 or now_ms - timestamp > recv_window:
            return -1021, "Timestamp for this request is outside of the recvWindow."
        return None

    # -- events ---------------------------------------------------------------------------------------

    def _on_engine_event(self, update: OrderUpdate) -> None:
        """Engine thread, engine lock held: build the frames now (state as of this event), send later."""
        venue_symbol = update.symbol.replace("/", "")
        frames: list[dict[str, Any]] = [self._execution_report(update, venue_symbol)]
        if update.kind.is_fill:
            balances = self._fake.engine.balances()
            assets = [base_of(update.symbol), quote_of(update.symbol)]
            frames.append(
                {
                    "e": "outboundAccountPosition",
                    "E": int(time.time() * 1000),
                    "u": update.ts_event // 1_000_000,
                    "B": [
                        {
                            "a": a,
                            "f": _f8(balances[a].free if a in balances else Decimal(0)),
                            "l": _f8(balances[a].locked if a in balances else Decimal(0)),
                        }
                        for a in assets
                    ],
                }
            )
        self._events.put((*frames, {"_order": update.venue_order_id, "_kind": update.kind.value}))

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
            "q": _f8(update.order_qty),
            "p": _f8(update.price),
            "g": int(update.list_id[1:]) if update.list_id else -1,
            "C": update.client_order_id if canceled else "",
            "x": x,
            "X": status,
            "r": "NONE",
            "i": int(update.venue_order_id[1:]),
            "l": _f8(update.last_qty),
            "z": _f8(update.cum_filled_qty),
            "L": _f8(update.last_price),
            "n": _f8(update.fee),
            "N": update.fee_asset or None,
            "T": update.ts_event // 1_000_000,
            "t": int(update.trade_id) if update.trade_id else -1,
            "Z": _f8(cum_quote),
        }

    def _send_loop(self) -> None:
        """Sender thread: apply the delay and ordering faults, then push to every subscribed session."""
        while not self._fake.stopping.is_set():
            try:
                item = self._events.get(timeout=0.1)
            except queue.Empty:
                continue
            *frames, meta = item
            if self.faults.delay_s:
                self._fake.stopping.wait(self.faults.delay_s)
            order, kind = meta["_order"], meta["_kind"]
            if self.faults.fill_before_ack and kind == OrderEventKind.ACCEPTED.value:
                self._held[order] = frames[0]  # the acknowledgement follows the first trade
                continue
            self._push(frames)
            held = self._held.pop(order, None)
            if held is not None:
                self._push([held])

    def _push(self, frames: list[dict[str, Any]]) -> None:
        with self._lock:
            sessions = [s for s in self._sessions if s.subscription_id is not None]
        copies = 2 if self.faults.duplicate_events else 1
        for session in sessions:
            for event in frames:
                text = json.dumps({"subscriptionId": session.subscription_id, "event": event})
                for _ in range(copies):
                    try:
                        with session.lock:
                            session.connection.send(text)
                    except (ConnectionClosed, OSError):
                        break  # the session is going away

    def terminate_streams(self) -> None:
        """Tell every subscribed session its stream ended (``eventStreamTerminated``)."""
        self._push([{"e": "eventStreamTerminated", "E": int(time.time() * 1000)}])
