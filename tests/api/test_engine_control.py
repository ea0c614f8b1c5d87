"""The API over a real engine (in-process client): what the operator is told matches what the engine did."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from autohedge import control
from autohedge.api.app import create_app
from autohedge.control import EngineController
from autohedge.core.actor_names import EXECUTOR, MONITOR, SUPERVISOR, ActorName
from autohedge.core.child_states import ChildState
from autohedge.core.gates import KILL_SWITCH, STOPPED
from autohedge.core.messages import SetEntryGate
from tests.actors.harness import Harness, hold_the_monitor, make_config, wait_for
from tests.actors.test_pushback import banned_by_venue

TOKEN = "engine-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def client_of(h: Harness) -> TestClient:
    app = create_app(EngineController(h.engine), token=SecretStr(TOKEN), token_env="X")
    return TestClient(app, raise_server_exceptions=False)


def trip_kill_switch(h: Harness) -> None:
    supervisor = h.directory.get(SUPERVISOR)
    assert supervisor is not None
    supervisor.ask(SetEntryGate(gate=KILL_SWITCH, closed=True, reason="executor crash loop: boom"), timeout=5)


def test_start_with_the_kill_switch_on_is_409_naming_it_and_opens_nothing(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    client = client_of(h)
    assert client.post("/trading/stop", headers=AUTH).status_code == 200
    trip_kill_switch(h)

    response = client.post("/trading/start", headers=AUTH)

    assert response.status_code == 409
    assert "kill switch" in response.json()["detail"] and "crash loop: boom" in response.json()["detail"]
    view = h.engine.view()
    assert STOPPED in view.gates and KILL_SWITCH in view.gates
    feeds = [c for c in view.children if c.name.startswith("feed:")]
    assert feeds and all(c.state is ChildState.STOPPED for c in feeds)
    assert client.get("/status", headers=AUTH).json()["trading_enabled"] is False


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health"),
        ("GET", "/status"),
        ("GET", "/positions"),
        ("POST", "/trading/start"),
        ("POST", "/positions/sync"),
        ("POST", "/orders/cancel-entries"),
    ],
)
def test_requests_to_a_stopped_engine_are_503_saying_so(
    make_harness: Callable[..., Harness], method: str, path: str
) -> None:
    h = make_harness().start()
    client = client_of(h)
    h.stop()

    response = client.request(method, path, headers=AUTH)

    assert response.status_code == 503 and "not running" in response.json()["detail"]


@contextlib.contextmanager
def absent(h: Harness, name: ActorName) -> Iterator[None]:
    """``name`` out of the directory, as between a crash and its restart."""
    ref = h.directory.get(name)
    assert ref is not None
    h.directory.unregister(name, ref)
    try:
        yield
    finally:
        h.directory.register(name, ref)


def test_flatten_while_the_monitor_restarts_is_503_not_zero_positions_closed(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    h.buy_protected("BTC/USDT")
    client = client_of(h)

    with absent(h, MONITOR):
        flatten = client.post("/trading/stop?flatten=true", headers=AUTH)
        sync = client.post("/positions/sync", headers=AUTH)
        positions = client.get("/positions", headers=AUTH)

    assert flatten.status_code == 503 and "no position was closed" in flatten.json()["detail"]
    assert sync.status_code == 503 and "nothing was adopted" in sync.json()["detail"]
    assert positions.status_code == 503 and MONITOR in positions.json()["detail"]
    assert h.is_protected("BTC/USDT")  # still held and protected: a retry can close it
    assert client.post("/trading/stop?flatten=true", headers=AUTH).json()["count"] == 1


def test_cancel_entries_while_the_executor_restarts_is_503_not_zero_cancelled(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    client = client_of(h)

    with absent(h, EXECUTOR):
        response = client.post("/orders/cancel-entries", headers=AUTH)

    assert response.status_code == 503 and "no entry order was cancelled" in response.json()["detail"]


def test_a_monitor_that_does_not_answer_in_time_is_503_naming_it(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness().start()
    client = client_of(h)
    monkeypatch.setattr(control, "ASK_TIMEOUT_S", 0.2)
    held = hold_the_monitor(h)
    try:
        response = client.get("/positions", headers=AUTH)
    finally:
        held.release.set()

    assert response.status_code == 503 and f"{MONITOR} did not answer" in response.json()["detail"]


def test_flatten_before_start_up_reconciliation_is_503_not_zero_positions_closed(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(make_config(feed={"stale_after_s": 1000}))
    h.paper_engine.fund("BTC", Decimal("0.5"))  # held on the venue, not yet known to the monitor
    h.exchange.fail("positions", banned_by_venue(h, 5.0), thread_prefix="PositionMonitor")
    h.start(reconciled=False)
    h.settle()
    client = client_of(h)

    response = client.post("/trading/stop?flatten=true", headers=AUTH)

    detail = response.json()["detail"]
    assert response.status_code == 503
    assert "reconciliation" in detail and "no position was closed" in detail
    h.advance(5.0)
    wait_for(lambda: h.engine.view().reconciled, what="reconciled after the ban")
    assert client.post("/trading/stop?flatten=true", headers=AUTH).json()["count"] == 1
