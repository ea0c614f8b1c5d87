"""A websocket server on 127.0.0.1 that completes the opening handshake and then never reads again:
a venue that does not answer a close frame (or anything else). For shutdown tests."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import threading

__all__ = ["SilentWsServer"]

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _GUID).encode("ascii")).digest()).decode("ascii")


class SilentWsServer:
    """``with SilentWsServer() as server:`` connect to ``server.url``; ``server.opened`` is set once a
    client's handshake is answered."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._connections: list[socket.socket] = []
        self.opened = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="silent-ws", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/"

    def __enter__(self) -> SilentWsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        for connection in self._connections:
            connection.close()

    def _serve(self) -> None:
        """Server thread: answer each handshake, then hold the connection without reading it."""
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed at exit
            self._connections.append(connection)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                request += chunk
            headers = dict(
                line.split(": ", 1) for line in request.decode("latin-1").split("\r\n")[1:] if ": " in line
            )
            key = next((v for k, v in headers.items() if k.lower() == "sec-websocket-key"), "")
            connection.sendall(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {_accept_key(key)}\r\n\r\n"
                ).encode("ascii")
            )
            self.opened.set()
