"""What the fakes' private order streams share: their sessions, served until they go away, the
dropped-socket drill that cuts them without touching the venue's other streams, and the delivery of the
paper engine's order events through the stream's fault switches."""

from __future__ import annotations

import abc
import contextlib
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from autohedge.core.messages import OrderEventKind, OrderUpdate

if TYPE_CHECKING:
    from tests.fakes.venue_server import FakeVenue

__all__ = ["OrderEventHub", "OrderStreamFaults", "SessionHub"]


class _HasConnection(Protocol):
    connection: ServerConnection
    lock: threading.Lock
    """Held while a frame is sent to this session."""


SessionT = TypeVar("SessionT", bound=_HasConnection)
FrameT = TypeVar("FrameT")


class SessionHub(Generic[SessionT]):
    """``_lock`` guards ``_sessions`` (subclasses may guard their own state with it too)."""

    def __init__(self) -> None:
        self._sessions: list[SessionT] = []
        self._lock = threading.Lock()

    def _serve(self, session: SessionT, handle: Callable[[SessionT, str | bytes], None]) -> None:
        """Hand each message of ``session`` to ``handle`` until it goes away (the fake's websocket
        thread for this connection)."""
        with self._lock:
            self._sessions.append(session)
        try:
            for raw in session.connection:
                handle(session, raw)
        except (ConnectionClosed, OSError):
            pass  # a dropped socket or a client gone: this session ends, nothing more
        finally:
            with self._lock:
                if session in self._sessions:
                    self._sessions.remove(session)

    def sessions(self) -> int:
        """The sessions being served now (a client counts once the server's handler has it)."""
        with self._lock:
            return len(self._sessions)

    def drop(self) -> None:
        """Cut every session of this stream without a close handshake (a dropped socket); other
        streams of the fake stay up."""
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            with contextlib.suppress(OSError):  # already gone
                session.connection.socket.shutdown(socket.SHUT_RDWR)


@dataclass
class OrderStreamFaults:
    refuse_subscription: bool = False
    duplicate_events: bool = False
    """Send every frame twice."""
    fill_before_ack: bool = False
    """Hold an order's acknowledgement back until after its first fill."""
    delay_s: float = 0.0
    """Hold every event this long before sending it."""


class OrderEventHub(SessionHub[SessionT], Generic[SessionT, FrameT], abc.ABC):
    """A private order stream fed by ``fake``'s paper engine: each engine event becomes frames on the
    engine thread (the state as of that event) and leaves from one sender thread, through the delay
    and ordering faults."""

    def __init__(self, fake: FakeVenue, *, thread_name: str) -> None:
        super().__init__()
        self._fake = fake
        self.faults = OrderStreamFaults()
        self._events: queue.Queue[tuple[str, OrderEventKind | None, list[FrameT]]] = queue.Queue()
        """(venue order id, event kind or None for account frames, frames), in the engine's order."""
        self._held: dict[str, list[FrameT]] = {}
        self.subscriptions = 0
        self.subscribed_at: list[int] = []
        """For each subscription, how many REST requests the fake had served before it."""
        fake.engine.add_listener(self._on_engine_event)
        self._sender = threading.Thread(target=self._send_loop, name=thread_name, daemon=True)
        self._sender.start()

    def _count_subscription(self) -> None:
        self.subscriptions += 1
        self.subscribed_at.append(len(self._fake.requests()))

    @abc.abstractmethod
    def _frames(self, update: OrderUpdate) -> list[FrameT]:
        """The frames of one engine event (engine thread, engine lock held)."""

    def _account_frames(self, update: OrderUpdate) -> list[FrameT]:
        """The account frames (balances) one engine event changed (engine thread, engine lock held).
        They leave in the engine's order, never held back with an acknowledgement: the venue reports an
        account update when it happens, whatever it does with the order's own report."""
        return []

    @abc.abstractmethod
    def _push(self, frames: list[FrameT]) -> None:
        """Send ``frames`` to every subscribed session (the sender thread)."""

    def _on_engine_event(self, update: OrderUpdate) -> None:
        """Engine thread, engine lock held: build the frames now, send later."""
        self._events.put((update.venue_order_id, update.kind, self._frames(update)))
        account = self._account_frames(update)
        if account:
            self._events.put((update.venue_order_id, None, account))

    def _send_loop(self) -> None:
        """Sender thread: apply the delay and ordering faults, then push to every subscribed session."""
        while not self._fake.stopping.is_set():
            try:
                order, kind, frames = self._events.get(timeout=0.1)
            except queue.Empty:
                continue
            if self.faults.delay_s:
                self._fake.stopping.wait(self.faults.delay_s)
            if self.faults.fill_before_ack and kind is OrderEventKind.ACCEPTED:
                self._held[order] = frames  # the acknowledgement follows the first fill
                continue
            self._push(frames)
            if kind is None:
                continue  # an account update: the held acknowledgement waits for the order's next report
            held = self._held.pop(order, None)
            if held is not None:
                self._push(held)

    def _send_copies(self, session: SessionT, data: str | bytes) -> None:
        """Send ``data`` to ``session`` (twice under the duplicate fault); a session going away
        misses it."""
        for _ in range(2 if self.faults.duplicate_events else 1):
            try:
                with session.lock:
                    session.connection.send(data)
            except (ConnectionClosed, OSError):
                return
