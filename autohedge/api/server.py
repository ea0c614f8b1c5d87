"""Runs the API with uvicorn on a thread of its own; ``start`` returns once it listens."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import uvicorn

from autohedge.core.errors import ConfigError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ApiServer", "BuiltOnFirstRequest"]


class BuiltOnFirstRequest:
    """An ASGI application built when the first request arrives: the web framework (about 2.5 MiB; the
    schema machinery waits for a schema request, ``autohedge.api.app``) is imported only once someone
    uses the API. Serving, routes, authentication and answers are those of the built application."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Runs on the server's event-loop thread (one thread: the application is built once)."""
        if self._app is None:
            self._app = self._build()
        await self._app(scope, receive, send)


class ApiServer:
    """One uvicorn server on a daemon thread. ``start`` and ``stop`` are called from the owning thread."""

    def __init__(self, app: ASGIApp, *, host: str, port: int) -> None:
        self._config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off", ws="none"
        )
        self._server = uvicorn.Server(self._config)
        # uvicorn installs signal handlers only on the main thread; on this thread the CLI keeps them.
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = port
        """The bound port: the configured one, or the ephemeral one after ``start`` with port 0."""

    def start(self, timeout_s: float = 10.0) -> None:
        """Start serving and return once the socket listens; raises ConfigError (api.port) when it cannot
        bind."""
        self._thread = threading.Thread(target=self._serve, name="api-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() >= deadline:
                self.stop()
                raise ConfigError(
                    "api.port", f"cannot serve on {self.host}:{self.port} (in use or not allowed)"
                )
            # Waiting on the thread doubles as the poll interval and ends early if the server gives up.
            self._thread.join(timeout=0.01)
        sockets = [s for server in (self._server.servers or []) for s in server.sockets]
        if sockets:
            self.port = sockets[0].getsockname()[1]

    def _serve(self) -> None:
        """The server thread. uvicorn logs a bind failure and leaves with SystemExit; ``start`` reports it."""
        with contextlib.suppress(SystemExit):
            self._server.run()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit, close the listening socket and join its thread; raises if it does not end."""
        self._server.should_exit = True
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=timeout_s)
            if thread.is_alive():
                raise RuntimeError(f"the API server on {self.url} did not stop within {timeout_s}s")
