"""The fake Alpaca's trading stream (``/stream``): ``trade_updates`` backed by the paper engine.

As on paper, frames are binary. A client authenticates (``auth`` with key and secret, or the legacy
``authenticate``), then listens to ``trade_updates``; every engine order event is then pushed as a
trade update whose ``order`` is the REST order object. Fault switches: refuse the subscription,
duplicate every event, deliver a fill before its acknowledgement, delay events; dropping the socket
is the fake's ``drop_clients``.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from websockets.sync.server import ServerConnection

from autohedge.core.messages import OrderEventKind, OrderUpdate
from tests.fakes.sessions import OrderEventHub

if TYPE_CHECKING:
    from tests.fakes.alpaca import FakeAlpaca

__all__ = ["TRADING_STREAM_PATH", "AlpacaTradeHub"]

TRADING_STREAM_PATH = "/stream"
_EVENT = {
    OrderEventKind.ACCEPTED: "new",
    OrderEventKind.PARTIALLY_FILLED: "partial_fill",
    OrderEventKind.FILLED: "fill",
    OrderEventKind.CANCELED: "canceled",
    OrderEventKind.REJECTED: "rejected",
    OrderEventKind.EXPIRED: "expired",
}


@dataclass(eq=False)
class _Session:
    connection: ServerConnection
    listening: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class AlpacaTradeHub(OrderEventHub[_Session, bytes]):
    """Serves trading-stream sessions for a ``FakeAlpaca`` and pushes its engine's order events."""

    _fake: FakeAlpaca

    def __init__(self, fake: FakeAlpaca, *, key_id: str, secret_key: str) -> None:
        self._key_id = key_id
        self._secret_key = secret_key
        self._executions = itertools.count(1)
        super().__init__(fake, thread_name="fake-alpaca-trades")

    def serve(self, connection: ServerConnection) -> None:
        """One trading-stream connection (the fake's websocket thread for it)."""
        self._serve(_Session(connection), self._handle)

    def _send(self, session: _Session, payload: dict[str, Any]) -> None:
        with session.lock:
            session.connection.send(json.dumps(payload).encode("utf-8"))  # binary, as on paper

    def _handle(self, session: _Session, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
            action = message["action"]
        except (ValueError, KeyError, TypeError):
            self._send(session, {"action": "error", "data": {"error_message": "invalid syntax"}})
            return
        if action in ("auth", "authenticate"):
            data = message.get("data") or {}
            key = message.get("key", data.get("key_id"))
            secret = message.get("secret", data.get("secret_key"))
            ok = key == self._key_id and secret == self._secret_key and not self.faults.refuse_subscription
            status = {"status": "authorized", "action": "authenticate"}
            if not ok:
                status = {
                    "status": "unauthorized",
                    "action": "authenticate",
                    "message": "access key verification failed",
                }
            self._send(session, {"stream": "authorization", "data": status})
            if not ok:
                session.connection.close()
        elif action == "listen":
            streams = [s for s in (message.get("data") or {}).get("streams", []) if s == "trade_updates"]
            session.listening = bool(streams)
            if session.listening:
                self._count_subscription()
            self._send(session, {"stream": "listening", "data": {"streams": streams}})

    def _frames(self, update: OrderUpdate) -> list[bytes]:
        data: dict[str, Any] = {
            "event": _EVENT[update.kind],
            "execution_id": str(uuid.UUID(int=next(self._executions))),
            "order": self._fake.order_json(update.snapshot()),
            "timestamp": self._fake.iso(update.ts_event),
        }
        if update.kind.is_fill:
            held = sum((p.qty for p in self._fake.engine.positions([update.symbol])), Decimal(0))
            data.update(
                {"price": str(update.last_price), "qty": str(update.last_qty), "position_qty": str(held)}
            )
        return [json.dumps({"stream": "trade_updates", "data": data}).encode("utf-8")]

    def _push(self, frames: list[bytes]) -> None:
        with self._lock:
            sessions = [s for s in self._sessions if s.listening]
        for session in sessions:
            for frame in frames:
                self._send_copies(session, frame)
