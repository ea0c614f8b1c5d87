"""What every fake venue shares: an HTTP server and a websocket server on 127.0.0.1 around a paper
engine, the request log, stream clients with their subscriptions, broadcast, and dropped sockets."""

from __future__ import annotations

import abc
import collections
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed
from websockets.frames import DATA_OPCODES, Frame
from websockets.sync.server import ServerConnection, serve

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.messages import Quote

__all__ = [
    "Admission",
    "FakeVenue",
    "KernelStampedSocket",
    "StreamClient",
    "VenueFaults",
    "VenueHandler",
    "VenueState",
    "WindowCounter",
    "endpoints_of",
]


_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Linux: the kernel stamps each received segment (``CLOCK_REALTIME``, ns) and hands the newest read's
stamp to ``recvmsg`` as a control message of this type."""
_STAMP_SPACE = socket.CMSG_SPACE(16)


def stamp_arrivals(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what ``sock`` receives (``kernel_arrival_ns``); False where it cannot."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def kernel_arrival_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The ``time.monotonic_ns`` at which the kernel received the newest bytes a ``recvmsg`` returned (0
    without its stamp): when they reached this venue, however long its process then took to read them
    (a venue on another machine does not wait for a CPU the client is using)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanos = struct.unpack("qq", data[:16])
            return int(seconds) * 1_000_000_000 + int(nanos) - (time.time_ns() - time.monotonic_ns())
    return 0


class KernelStampedSocket:
    """A connection's socket that remembers when the bytes of its newest read reached it (the kernel's
    stamp where there is one, else when the read returned). Reading thread only."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._stamped = stamp_arrivals(sock)
        self.read_ns = 0

    def recv(self, bufsize: int) -> bytes:
        if not self._stamped:
            data = self._sock.recv(bufsize)
            self.read_ns = time.monotonic_ns()
            return data
        data, ancillary, _, _ = self._sock.recvmsg(bufsize, _STAMP_SPACE)
        self.read_ns = kernel_arrival_ns(ancillary) or time.monotonic_ns()
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        if not self._stamped:
            n = self._sock.recv_into(buffer, nbytes)
            self.read_ns = time.monotonic_ns()
            return n
        n, ancillary, _, _ = self._sock.recvmsg_into([memoryview(buffer)[: nbytes or None]], _STAMP_SPACE)
        self.read_ns = kernel_arrival_ns(ancillary) or time.monotonic_ns()
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class ArrivalStampedConnection(ServerConnection):
    """A server connection that stamps each message (``time.monotonic_ns``) with when its last byte
    reached the venue (``KernelStampedSocket``): a venue receives a burst of frames written together at
    once, however long it then takes to parse and serve them one by one (this fake's own speed is not
    the client's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: collections.deque[int] = collections.deque()
        self.socket = KernelStampedSocket(self.socket)  # type: ignore[assignment]

    def process_event(self, event: Any) -> None:
        """The connection's reading thread, right after the read that completed ``event``."""
        if isinstance(event, Frame) and event.fin and event.opcode in DATA_OPCODES:
            sock = self.socket
            read_ns = sock.read_ns if isinstance(sock, KernelStampedSocket) else 0
            self.arrivals.append(read_ns or time.monotonic_ns())
        super().process_event(event)

    def arrived_ns(self) -> int:
        """The handler's thread, once per message in order: when it came off the socket."""
        try:
            return self.arrivals.popleft()
        except IndexError:  # not read through this connection's frames (never for a data message)
            return time.monotonic_ns()


class _Endpoints(Protocol):
    @property
    def rest_url(self) -> str: ...

    @property
    def ws_url(self) -> str: ...

    @property
    def user_ws_url(self) -> str: ...


def endpoints_of(fake: _Endpoints) -> dict[str, str]:
    """A fake's REST, market stream and user stream URLs, as ``venues.<venue>`` in a config takes them
    (the Alpaca fake, with its data API and two market streams, has ``endpoints`` of its own)."""
    return {"rest_url": fake.rest_url, "ws_url": fake.ws_url, "user_ws_url": fake.user_ws_url}


_SHUTDOWN_POLL_S = 0.05
"""How often the HTTP server's loop looks for ``shutdown``: the default 0.5 s is spent by every test's
teardown."""


@dataclass
class VenueFaults:
    """Fault switches every fake venue honours (a venue's fake may add its own)."""

    rate_limit_after: int | None = None
    """Refuse every request after this many with the venue's rate-limit answer."""
    server_errors: int = 0
    """Answer this many requests with the venue's server error."""
    delay_s: float = 0.0
    """Hold every response this long (ends early at shutdown)."""
    lose_next_order_response: bool = False
    """Place the next order, then cut the connection before answering."""
    error_after_next_order: bool = False
    """Place the next order, then answer with the venue's server error (the order exists)."""
    reject_keys: bool = False
    """Refuse every authenticated request as if the keys had been revoked."""


@dataclass
class WindowCounter:
    """Usage in windows aligned to wall time, as venues count it (a minute window resets on the
    minute). Callers hold the venue state's lock."""

    interval_s: int
    limit: int
    used: int = 0
    window: int = -1

    def _roll(self, now_s: float) -> None:
        window = int(now_s // self.interval_s)
        if window != self.window:
            self.window, self.used = window, 0

    def add(self, amount: int, now_s: float) -> int:
        """Count ``amount``; returns the window's usage including it."""
        self._roll(now_s)
        self.used += amount
        return self.used

    def current(self, now_s: float) -> int:
        self._roll(now_s)
        return self.used

    def resets_at_s(self, now_s: float) -> int:
        """Wall time (s) at which the current window ends."""
        return (int(now_s // self.interval_s) + 1) * self.interval_s


@dataclass
class VenueState:
    engine: PaperEngine
    faults: Any
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Admission:
    """What the faults decided for one request."""

    rate_limited: bool
    server_error: bool


class VenueHandler(BaseHTTPRequestHandler, abc.ABC):
    """HTTP plumbing of a fake venue: one thread per request; subclasses answer in ``_handle``."""

    server: Any
    protocol_version = "HTTP/1.1"
    # Answers go out at once: headers and body are written separately, and Nagle's algorithm would hold
    # the body until the client's delayed ACK (up to 40 ms per request on a kept-alive connection). The
    # client side (urllib3) sets TCP_NODELAY by default.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    @abc.abstractmethod
    def _handle(self, method: str) -> None:
        """Answer one request (on the server's thread for this connection)."""

    def read_body(self) -> bytes:
        """The request's body as sent (empty without one)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def write_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        """Answer ``payload`` as JSON with ``headers``; ``None`` answers an empty body without a type."""
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def lose_response_if_asked(self) -> bool:
        """Take the lost-response switch: when it was set, cut the connection without an answer (the
        order exists; the client never hears so)."""
        state: VenueState = self.server.state
        with state.lock:
            lose, state.faults.lose_next_order_response = state.faults.lose_next_order_response, False
        if lose:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        return bool(lose)

    def error_after_order_asked(self) -> bool:
        """Take the error-after-order switch: when it was set, the caller answers the venue's server
        error although the order exists."""
        state: VenueState = self.server.state
        with state.lock:
            fail, state.faults.error_after_next_order = state.faults.error_after_next_order, False
        return bool(fail)

    def _admit(self, method: str, path: str, logged: Any) -> Admission:
        """Record the request, apply the delay fault and decide the refusal faults."""
        state: VenueState = self.server.state
        with state.lock:
            state.requests.append((method, path, logged))
            faults: VenueFaults = state.faults
            limited = faults.rate_limit_after is not None and len(state.requests) > faults.rate_limit_after
            server_error = faults.server_errors > 0
            if server_error:
                faults.server_errors -= 1
            delay = faults.delay_s
        if delay:
            self.server.fake.stopping.wait(delay)  # the "slow response" fault
        return Admission(rate_limited=limited, server_error=server_error)


@dataclass(eq=False)
class StreamClient:
    connection: ServerConnection
    path: str
    topics: set[str] = field(default_factory=set)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    state: VenueState
    fake: Any


class FakeVenue:
    """Subclasses give the HTTP handler class and implement ``_ws_handler``. A context manager."""

    def __init__(
        self, *, name: str, handler: type[BaseHTTPRequestHandler], engine: PaperEngine, faults: Any
    ) -> None:
        self.name = name
        self.state = VenueState(engine=engine, faults=faults)
        self.stopping = threading.Event()
        """Set at shutdown: a deliberately slow response ends early instead of holding the server."""
        self._http = _HttpServer(("127.0.0.1", 0), handler)
        self._http.state = self.state
        self._http.fake = self
        self._http_thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_S},
            name=f"fake-{name}-http",
            daemon=True,
        )
        self._clients: list[StreamClient] = []
        self._clients_lock = threading.Lock()
        self._ws = serve(self._ws_handler, "127.0.0.1", 0, create_connection=ArrivalStampedConnection)
        self._ws_thread = threading.Thread(target=self._ws.serve_forever, name=f"fake-{name}-ws", daemon=True)

    def _ws_handler(self, connection: ServerConnection) -> None:
        raise TypeError(f"{type(self).__name__} must define its stream protocol")

    # -- lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> Any:
        self._http_thread.start()
        self._ws_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.drop_clients()
        self._ws.shutdown()
        self._http.shutdown()
        self._http.server_close()
        self._ws_thread.join(timeout=5)
        self._http_thread.join(timeout=5)

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def ws_base_url(self) -> str:
        return f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}"

    @property
    def engine(self) -> PaperEngine:
        return self.state.engine

    @property
    def faults(self) -> Any:
        return self.state.faults

    def hold(self, asset: str, qty: Decimal) -> None:
        """Give the account a holding it did not trade here (adoption drills)."""
        self.engine.fund(asset, qty)

    def quote_engine(self, symbol: str, bid: Decimal, ask: Decimal, size: Decimal = Decimal(1)) -> int:
        """Move the paper market (the engine matches resting orders); returns the quote's time (ns)."""
        now_ns = time.time_ns()
        self.engine.on_quote(
            Quote(
                venue=self.name,
                symbol=symbol,
                bid=bid,
                ask=ask,
                bid_size=size,
                ask_size=size,
                ts_event=now_ns,
                ts_init=now_ns,
            )
        )
        return now_ns

    def requests(self, path: str | None = None) -> list[tuple[str, str, Any]]:
        with self.state.lock:
            return [r for r in self.state.requests if path is None or r[1] == path]

    # -- stream clients -------------------------------------------------------------------------------

    def _serve_client(
        self,
        client: StreamClient,
        on_message: Callable[[str | bytes], None] | None,
        *,
        greeting: str | None = None,
    ) -> None:
        """Keep ``client`` subscribed until it goes away, handing each message it sends to ``on_message``.

        Runs on the websocket server's thread for this connection.
        """
        self._add_client(client)
        try:
            if greeting is not None:
                client.connection.send(greeting)
            for raw in client.connection:
                if on_message is not None:
                    on_message(raw)
        except (ConnectionClosed, OSError):
            pass  # an abrupt close (a dropped-socket drill or a client gone) ends this client, nothing more
        finally:
            self._remove_client(client)

    def _add_client(self, client: StreamClient) -> None:
        with self._clients_lock:
            self._clients.append(client)

    def _remove_client(self, client: StreamClient) -> None:
        with self._clients_lock:
            if client in self._clients:
                self._clients.remove(client)

    def _has_client_on(self, path: str) -> bool:
        with self._clients_lock:
            return any(c.path == path for c in self._clients)

    def clients(self) -> int:
        with self._clients_lock:
            return len(self._clients)

    def subscribed(self) -> set[str]:
        with self._clients_lock:
            return set().union(*(c.topics for c in self._clients)) if self._clients else set()

    def broadcast(self, frame: str, topic: str | None = None) -> None:
        """Send ``frame`` to every client subscribed to ``topic`` (all clients when None)."""
        with self._clients_lock:
            targets = [c.connection for c in self._clients if topic is None or topic in c.topics]
        for connection in targets:
            # A client that is going away misses the frame.
            with contextlib.suppress(ConnectionClosed, OSError):
                connection.send(frame)

    def drop_clients(self) -> None:
        """Cut every websocket without a close handshake (a dropped socket)."""
        with self._clients_lock:
            targets = [c.connection for c in self._clients]
        for connection in targets:
            with contextlib.suppress(OSError):  # already closed
                connection.socket.shutdown(socket.SHUT_RDWR)
