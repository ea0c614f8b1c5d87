"""The real server on 127.0.0.1 with the real engine: repeated stop/start, no leaked threads or sockets."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import psutil
import pytest
from pydantic import SecretStr

from autohedge.api.app import create_app
from autohedge.api.server import ApiServer
from autohedge.app import Engine
from autohedge.control import EngineController
from autohedge.core.child_states import ChildState
from tests.actors.harness import make_config, wait_for

TOKEN = "server-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def running() -> Iterator[tuple[Engine, ApiServer]]:
    engine = Engine(make_config(synthetic={"quotes_per_second": 100}))
    engine.start()
    wait_for(lambda: engine.view().reconciled, what="reconciled")
    server = ApiServer(
        create_app(EngineController(engine), token=SecretStr(TOKEN), token_env="X"), host="127.0.0.1", port=0
    )
    server.start()
    yield engine, server
    server.stop()
    engine.stop()


def listening_ports() -> set[int]:
    return {
        c.laddr.port for c in psutil.Process().net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN
    }


def test_server_stop_start_trading_repeatedly_leaks_no_threads(running: tuple[Engine, ApiServer]) -> None:
    engine, server = running
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as http:
        http.post("/trading/stop")
        http.post("/trading/start")
        wait_for(lambda: engine.view().children[0].state is ChildState.RUNNING)
        baseline = threading.active_count()
        for _ in range(5):
            assert http.post("/trading/stop").json()["ok"]
            assert http.get("/status").json()["trading_enabled"] is False
            assert http.post("/trading/start").json()["ok"]
            wait_for(
                lambda: all(c.state is ChildState.RUNNING for c in engine.view().children), what="all running"
            )
        wait_for(lambda: threading.active_count() == baseline, what="thread count back to baseline")
        assert http.get("/health").json()["status"] == "ok"


def test_server_start_stop_frees_the_port_and_threads() -> None:
    from tests.api.fake_control import FakeEngineControl

    before_threads = threading.active_count()
    for _ in range(3):
        server = ApiServer(
            create_app(FakeEngineControl(), token=SecretStr(TOKEN), token_env="X"), host="127.0.0.1", port=0
        )
        server.start()
        port = server.port
        assert port in listening_ports()
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        server.stop()
        assert port not in listening_ports()
    wait_for(lambda: threading.active_count() <= before_threads, what="server threads gone")


def test_server_positions_show_real_protected_position(running: tuple[Engine, ApiServer]) -> None:
    engine, server = running
    wait_for(lambda: any(p.protected for p in engine.positions()), timeout_s=60, what="a protected position")
    positions = httpx.get(f"{server.url}/positions", headers=AUTH, timeout=5).json()
    assert any(p["protected"] and p["exit_order_ids"] and p["take_profit"] for p in positions)
    orders = httpx.get(f"{server.url}/orders", headers=AUTH, timeout=5).json()
    assert {o["purpose"] for o in orders} >= {"take_profit", "stop_loss"}
