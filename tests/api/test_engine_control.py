"""The API over a real engine (in-process client): what the operator is told matches what the engine did."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr
from starlette.testclient import TestClient

from autohedge.api.app import create_app
from autohedge.control import EngineController
from autohedge.core.actor_names import SUPERVISOR
from autohedge.core.child_states import ChildState
from autohedge.core.gates import KILL_SWITCH, STOPPED
from autohedge.core.messages import SetEntryGate
from tests.actors.harness import Harness

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
