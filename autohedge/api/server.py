"""Runs the API with uvicorn on a thread of its own; ``start`` returns once it listens."""

from __future__ import annotations

import threading

import uvicorn
from fastapi import FastAPI

from core.errors import ConfigError

__all__ = ["ApiServer"]


class ApiServer:
    def __init__(self, app: FastAPI, *, host: str, port: int) -> None:
        self._config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                      lifespan="off", ws="none")
        self._server = uvicorn.Server(self._config)
        # uvicorn installs signal handlers only on the main thread; on this thread the CLI keeps them.
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = port

    def start(self, timeout_s: float = 10.0) -> None:
        """Start serving; raises ConfigError (api.port) when the port cannot be bound."""
        self._thread = threading.Thread(target=self._server.run, name="api-server", daemon=True)
        self._thread.start()
        deadline = threading.Event()
        timer = threading.Timer(timeout_s, deadline.set)
        timer.start()
        try:
            while not self._server.started:
                if not self._thread.is_alive() or deadline.is_set():
                    raise ConfigError("api.port", f"cannot serve on {self.host}:{self.port} (in use or not allowed)")
                self._thread.join(timeout=0.01)
        finally:
            timer.cancel()
        sockets = [s for server in (self._server.servers or []) for s in server.sockets]
        if sockets:
            self.port = sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
