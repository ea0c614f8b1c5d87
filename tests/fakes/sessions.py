"""What the fakes' private order streams share: their sessions, served until they go away, and the
dropped-socket drill that cuts them without touching the venue's other streams."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

__all__ = ["SessionHub"]


class _HasConnection(Protocol):
    connection: ServerConnection


SessionT = TypeVar("SessionT", bound=_HasConnection)


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

    def drop(self) -> None:
        """Cut every session of this stream without a close handshake (a dropped socket); other
        streams of the fake stay up."""
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            with contextlib.suppress(OSError):  # already gone
                session.connection.socket.shutdown(socket.SHUT_RDWR)
