"""A local OpenAI-compatible chat completions server for tests (127.0.0.1, ephemeral port).

Replies are scripted in order; when the script is empty, ``default`` answers. A reply can be content,
a refusal, an HTTP error status, malformed (non-JSON) content, a raw response body (e.g. not JSON at
all), or any of these after a delay. A request without ``response_format`` of type ``json_schema``
(with a schema) gets a 400, as a structured-output server would answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["FakeOpenAIServer", "Reply", "signal_json"]


def signal_json(
    action: str = "buy",
    confidence: float = 0.9,
    *,
    target_price: float | None = None,
    stop_loss: float | None = None,
    take_profit: float | None = None,
    reasoning: str = "test",
) -> str:
    return json.dumps(
        {
            "action": action,
            "confidence": confidence,
            "target_price": target_price,
            "stop_loss": stop_loss,
            "take_profit": take_profit,
            "reasoning": reasoning,
        }
    )


@dataclass
class Reply:
    content: str | None = None
    refusal: str | None = None
    status: int = 200
    delay_s: float = 0.0
    prompt_tokens: int = 100
    completion_tokens: int = 20
    raw_body: bytes | None = None
    """Sent as the whole 200 response body instead of a chat completion."""


@dataclass
class _State:
    script: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=lambda: Reply(content=signal_json()))
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def do_POST(self) -> None:
        if not self.path.endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        state = self.server.state
        with state.lock:
            state.requests.append(body)
            state.authorizations.append(self.headers.get("Authorization", ""))
            reply = state.script.popleft() if state.script else state.default
        if reply.delay_s:
            self.server.stopping.wait(reply.delay_s)  # the scripted model latency
        if not _asks_for_json_schema(body):
            self._send(
                400,
                {
                    "error": {
                        "message": "response_format json_schema required",
                        "type": "invalid_request_error",
                    }
                },
            )
            return
        if reply.raw_body is not None:
            self._send_bytes(200, reply.raw_body)
            return
        if reply.status != 200:
            self._send(
                reply.status, {"error": {"message": f"scripted {reply.status}", "type": "server_error"}}
            )
            return
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": reply.refusal}
        self._send(
            200,
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
                "usage": {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
            },
        )

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        self._send_bytes(status, json.dumps(payload).encode("utf-8"))

    def _send_bytes(self, status: int, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)


def _asks_for_json_schema(body: dict[str, Any]) -> bool:
    response_format = body.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return False
    json_schema = response_format.get("json_schema")
    return isinstance(json_schema, dict) and isinstance(json_schema.get("schema"), dict)


class _Server(ThreadingHTTPServer):
    # HTTP/1.0 handlers close each connection after one response; server_close joins the handler
    # threads (a delayed reply ends early through ``stopping``), so none outlives the context.
    daemon_threads = False
    block_on_close = True
    state: _State
    stopping: threading.Event


class FakeOpenAIServer:
    """Context manager: ``with FakeOpenAIServer() as fake: fake.base_url``."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self._server.stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._server.state.lock:
            return list(self._server.state.requests)

    @property
    def authorizations(self) -> list[str]:
        """The Authorization header of each request, in order (tests use made-up keys only)."""
        with self._server.state.lock:
            return list(self._server.state.authorizations)

    def script(self, *replies: Reply) -> None:
        with self._server.state.lock:
            self._server.state.script.extend(replies)

    def set_default(self, reply: Reply) -> None:
        with self._server.state.lock:
            self._server.state.default = reply

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
