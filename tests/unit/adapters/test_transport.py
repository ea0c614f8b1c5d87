"""The shared transport's one decision: was it sent, may it be retried, is the outcome unknown."""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from autohedge.adapters.transport import Transport
from autohedge.core.clock import RealClock
from autohedge.core.errors import (
    AuthError,
    MalformedMessage,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from autohedge.core.ratelimit import RequestBudget


class Answer(BaseModel):
    ok: bool


class Dialect:
    venue = "test"

    def map_error(self, status: int, body: str, headers: Mapping[str, str]) -> VenueError:
        if status in (429, 418):
            return RateLimited("limited", retry_after_s=float(headers["Retry-After"]), banned=status == 418)
        if status == 401:
            return AuthError("bad keys (set TEST_KEY)")
        if status >= 500:
            return OutcomeUnknown(f"HTTP {status}")
        return OrderRejected(f"HTTP {status}")

    def observe_usage(self, headers: Mapping[str, str], budget: RequestBudget) -> None:
        used = headers.get("X-Used")
        if used is not None:
            budget.observe_used(float(used))


class Script:
    """What the server does with each next request: ``(status, headers, body)``, "drop" or "hang"."""

    def __init__(self) -> None:
        self.steps: deque[Any] = deque()
        self.release = threading.Event()
        self.seen: list[tuple[str, str, str, bytes]] = []
        """Each request as the server read it: method, target, Content-Type, body."""


def _server(script: Script) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            script.seen.append((self.command, self.path, self.headers.get("Content-Type", ""), body))
            step = script.steps.popleft() if script.steps else (200, {}, '{"ok": true}')
            if step == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if step == "hang":
                script.release.wait(5)  # longer than the client's read timeout
                self.close_connection = True
                return
            status, headers, body = step
            data = body.encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._any()

        def do_POST(self) -> None:
            self._any()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


ANSWER_TIMEOUT_S = 5.0
"""Read timeout where the server answers: a loaded machine must not turn an answer into a timeout."""
HANG_TIMEOUT_S = 0.3
"""Read timeout where the server hangs (the "hang" step waits longer than this)."""


def _impatient(transport: Transport) -> Transport:
    """A transport on the same budget that gives up after ``HANG_TIMEOUT_S``."""
    return Transport(dialect=Dialect(), budget=transport.budget, timeout_s=HANG_TIMEOUT_S)


@pytest.fixture
def served() -> Iterator[tuple[Script, Transport, str]]:
    script = Script()
    server = _server(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    budget = RequestBudget(RealClock(), venue="test", capacity=1000, per_s=60)
    transport = Transport(dialect=Dialect(), budget=budget, timeout_s=ANSWER_TIMEOUT_S)
    try:
        yield script, transport, f"http://127.0.0.1:{server.server_address[1]}/x"
    finally:
        script.release.set()
        transport.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


ANSWER = TypeAdapter(Answer)


def test_transport_2xx_decodes_the_wire_model_and_reads_usage(served: tuple[Script, Transport, str]) -> None:
    script, transport, url = served
    script.steps.append((200, {"X-Used": "500"}, '{"ok": true}'))
    assert transport.decode(transport.send("GET", url), ANSWER) == Answer(ok=True)
    assert transport.budget.used_fraction == pytest.approx(0.5)


def test_transport_connection_refused_is_retryable_never_unknown() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    budget = RequestBudget(RealClock(), venue="test", capacity=10, per_s=60)
    transport = Transport(dialect=Dialect(), budget=budget, timeout_s=0.3)
    with pytest.raises(VenueUnavailable):
        transport.send("POST", f"http://127.0.0.1:{port}/order", places_order=True)


def test_transport_timeout_on_an_order_is_outcome_unknown(served: tuple[Script, Transport, str]) -> None:
    script, transport, url = served
    script.steps.append("hang")
    with pytest.raises(OutcomeUnknown):
        _impatient(transport).send("POST", url, places_order=True)


def test_transport_timeout_on_a_read_is_retryable(served: tuple[Script, Transport, str]) -> None:
    script, transport, url = served
    script.steps.append("hang")
    with pytest.raises(VenueUnavailable):
        _impatient(transport).send("GET", url)


def test_transport_dropped_connection_on_an_order_is_outcome_unknown(
    served: tuple[Script, Transport, str],
) -> None:
    script, transport, url = served
    script.steps.append("drop")
    with pytest.raises(OutcomeUnknown):
        transport.send("POST", url, places_order=True)


def test_transport_5xx_is_unknown_for_orders_retryable_for_reads(
    served: tuple[Script, Transport, str],
) -> None:
    script, transport, url = served
    script.steps.extend([(503, {}, "{}"), (503, {}, "{}"), (503, {}, "{}")])
    with pytest.raises(OutcomeUnknown):
        transport.send("POST", url, places_order=True)
    with pytest.raises(VenueUnavailable):
        transport.send("GET", url)
    with pytest.raises(VenueUnavailable):
        transport.send("GET", url)
    assert transport.budget.status().degraded is not None  # three failures in a row


def test_transport_429_pauses_the_venue_and_the_next_request_is_not_sent(
    served: tuple[Script, Transport, str],
) -> None:
    script, transport, url = served
    script.steps.append((429, {"Retry-After": "30"}, "{}"))
    with pytest.raises(RateLimited):
        transport.send("GET", url)
    assert transport.budget.status().rate_limited
    with pytest.raises(RateLimited):
        transport.send("POST", url, priority=True, places_order=True)
    assert not script.steps and transport.budget.used_total == 1  # the second never left


def test_transport_418_is_a_ban_in_the_venue_state(served: tuple[Script, Transport, str]) -> None:
    script, transport, url = served
    script.steps.append((418, {"Retry-After": "120"}, "{}"))
    with pytest.raises(RateLimited) as banned:
        transport.send("GET", url)
    assert banned.value.banned and transport.budget.status().banned


def test_transport_rejected_keys_mark_auth_failed_until_a_signed_success(
    served: tuple[Script, Transport, str],
) -> None:
    script, transport, url = served
    script.steps.append((401, {}, "{}"))
    with pytest.raises(AuthError):
        transport.send("GET", url, signed=True)
    assert transport.budget.auth_failure is not None
    transport.send("GET", url, signed=True)
    assert transport.budget.auth_failure is None


def test_transport_unreadable_order_answer_is_outcome_unknown(served: tuple[Script, Transport, str]) -> None:
    script, transport, url = served
    script.steps.extend([(200, {}, '{"unexpected": 1}'), (200, {}, '{"unexpected": 1}')])
    with pytest.raises(OutcomeUnknown):
        transport.decode(transport.send("POST", url, places_order=True), ANSWER, places_order=True)
    with pytest.raises(MalformedMessage):
        transport.decode(transport.send("GET", url), ANSWER)


def test_transport_definitive_answer_passes_through(served: tuple[Script, Transport, str]) -> None:
    script, transport, url = served
    script.steps.append((400, {}, json.dumps({"code": -1013})))
    with pytest.raises(OrderRejected):
        transport.send("POST", url, places_order=True)


def test_transport_reads_the_environments_proxies_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    budget = RequestBudget(RealClock(), venue="test", capacity=100, per_s=100)
    transport = Transport(dialect=Dialect(), budget=budget, timeout_s=0.3)

    venue = transport._proxies_for("https://api.venue.example/api/v3/order?symbol=X")
    local = transport._proxies_for("http://127.0.0.1:8080/api/v3/order")
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:3128")  # read once: a run keeps its proxies

    assert venue["https"] == "http://proxy.example:3128"
    assert local == {}
    assert transport._proxies_for("https://api.venue.example/api/v3/account")["https"] == venue["https"]


def test_transport_sends_params_and_json_bodies_as_given(served: tuple[Script, Transport, str]) -> None:
    script, transport, url = served
    transport.send("POST", f"{url}?a=1", params={"b": "x y"}, json_body={"qty": "0.1"})
    transport.send("POST", url, data="nonce=1&pair=XBTUSD", headers={"Content-Type": "text/plain"})

    assert script.seen == [
        ("POST", "/x?a=1&b=x+y", "application/json", b'{"qty": "0.1"}'),
        ("POST", "/x", "text/plain", b"nonce=1&pair=XBTUSD"),
    ]


def test_transport_sends_through_the_environments_proxy(
    served: tuple[Script, Transport, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script, _, url = served
    monkeypatch.setenv("HTTP_PROXY", url.removesuffix("/x"))  # the local server plays the proxy
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    budget = RequestBudget(RealClock(), venue="test", capacity=100, per_s=100)
    transport = Transport(dialect=Dialect(), budget=budget, timeout_s=ANSWER_TIMEOUT_S)
    try:
        answer = transport.decode(transport.send("GET", "http://venue.example/api/v3/time"), ANSWER)
    finally:
        transport.close()

    assert answer == Answer(ok=True)
    assert script.seen[0][:2] == ("GET", "http://venue.example/api/v3/time")


def test_transport_sends_again_after_closing_its_connections(served: tuple[Script, Transport, str]) -> None:
    script, transport, url = served
    transport.send("GET", url)
    transport.close()
    assert transport.decode(transport.send("GET", url), ANSWER) == Answer(ok=True)
    assert len(script.seen) == 2


@pytest.mark.parametrize(
    "value", ["FAKE-SECRET-VALUE\n", "FAKE-SECRET\r\nX-Injected: 1", "FAKE-SECRET-\u2026"]
)
def test_transport_key_header_that_cannot_be_sent_is_an_auth_error_without_the_key(
    served: tuple[Script, Transport, str], value: str
) -> None:
    # A key read with its line break (a secret mounted from a file): http.client's ValueError quoted the
    # header value, i.e. the secret, and it escaped the start-up's error handling as a traceback.
    script, transport, url = served
    with pytest.raises(AuthError) as info:
        transport.send("GET", url, headers={"APCA-API-SECRET-KEY": value}, signed=True)
    assert "FAKE-SECRET" not in str(info.value) and "APCA-API-SECRET-KEY" in str(info.value)
    assert script.seen == []
