"""Endpoints, authentication, metrics and the OpenAPI schema (in-process client; no sockets)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from autohedge.api.app import create_app
from autohedge.core.actor_names import EXECUTOR
from autohedge.core.child_states import ChildState
from tests.api.fake_control import FakeEngineControl

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def control() -> FakeEngineControl:
    return FakeEngineControl()


@pytest.fixture
def client(control: FakeEngineControl) -> TestClient:
    return TestClient(create_app(control, token=SecretStr(TOKEN), token_env="AUTOHEDGE_API_TOKEN"))


def test_api_health_is_open_and_reports_actor_states(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body == {
        "status": "degraded",
        "reasons": ["symbol parked: ETH/USDT"],
        "actors": {EXECUTOR: ChildState.RUNNING},
        "order_sessions": {},
    }


@pytest.mark.parametrize(
    "path", ["/status", "/positions", "/orders", "/actors", "/events", "/metrics", "/trades", "/pnl"]
)
def test_api_reads_need_the_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    "path", ["/trading/stop", "/trading/start", "/positions/sync", "/orders/cancel-entries"]
)
def test_api_mutation_without_token_is_401_and_changes_nothing(
    client: TestClient, control: FakeEngineControl, path: str
) -> None:
    response = client.post(path, headers={"Authorization": "Basic abc"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert control.mutations == []


def test_api_positions_decimals_are_strings_with_tp_sl(client: TestClient) -> None:
    (position,) = client.get("/positions", headers=AUTH).json()
    assert position["qty"] == "0.5" and position["take_profit"] == "101" and position["protected"] is True


def test_api_stop_with_flatten_then_start(client: TestClient, control: FakeEngineControl) -> None:
    stopped = client.post("/trading/stop?flatten=true", headers=AUTH).json()
    assert stopped["ok"] and stopped["count"] == 1
    assert client.get("/status", headers=AUTH).json()["trading_enabled"] is False
    client.post("/trading/start", headers=AUTH)
    assert control.mutations == ["stop flatten=True", "start"]


def test_api_sync_and_cancel_entries_report_counts(client: TestClient) -> None:
    assert client.post("/positions/sync", headers=AUTH).json()["count"] == 1
    assert client.post("/orders/cancel-entries", headers=AUTH).json()["count"] == 3


def test_api_metrics_prometheus_text(client: TestClient) -> None:
    text = client.get("/metrics", headers=AUTH).text
    assert "autohedge_quotes_total 10.0" in text
    assert f'autohedge_actor_restarts_total{{actor="{EXECUTOR}"}} 1.0' in text
    assert 'autohedge_request_budget_used_ratio{venue="binance"} 0.25' in text
    assert 'autohedge_tick_to_order_seconds_bucket{le="0.00025"} 1.0' in text
    assert "autohedge_tick_to_order_seconds_count 2.0" in text


def test_api_no_token_configured_every_protected_endpoint_is_401(control: FakeEngineControl) -> None:
    client = TestClient(create_app(control, token=None, token_env="AUTOHEDGE_API_TOKEN"))
    response = client.get("/status", headers=AUTH)
    assert response.status_code == 401 and "AUTOHEDGE_API_TOKEN" in response.json()["detail"]
    assert client.get("/health").status_code == 200


def test_api_openapi_schema_and_page_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/health", "/positions", "/trading/stop", "/metrics"} <= set(schema["paths"])
    assert "autohedge" in client.get("/").text
    assert client.get("/static/app.js").status_code == 200


def test_api_trades_and_pnl_from_the_journal_keep_decimal_precision(client: TestClient) -> None:
    (trade,) = client.get("/trades?limit=5", headers=AUTH).json()
    pnl = client.get("/pnl", headers=AUTH).json()

    assert trade["entry_price"] == "100.00" and trade["realized_pnl"] == "0.3995"
    assert trade["reason"] == "take_profit"
    assert pnl["realized_pnl"] == "0.3995" and pnl["equity"][0]["realized_pnl"] == "0.3995"
    assert client.get("/trades?limit=0", headers=AUTH).status_code == 422


def test_api_bad_query_values_are_422_naming_the_parameter(client: TestClient) -> None:
    response = client.post("/trading/stop?flatten=maybe", headers=AUTH)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "flatten"]
    assert client.get("/events?limit=many", headers=AUTH).status_code == 422
    assert client.get("/events?limit=500", headers=AUTH).status_code == 200


def test_api_answers_without_the_schema_framework_until_the_schema_is_asked() -> None:
    # A process of its own: this one has imported the framework for other tests already.
    script = """
import sys
from pydantic import SecretStr
from starlette.testclient import TestClient
from autohedge.api.app import create_app
from tests.api.fake_control import FakeEngineControl
client = TestClient(create_app(FakeEngineControl(), token=SecretStr("t"), token_env="X"))
auth = {"Authorization": "Bearer t"}
assert client.get("/health").status_code == 200 and client.get("/positions", headers=auth).status_code == 200
assert client.post("/trading/start", headers=auth).status_code == 200
print("fastapi" in sys.modules)
assert "/positions" in client.get("/openapi.json").json()["paths"]
print("fastapi" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


@pytest.mark.parametrize(
    ("path", "query", "loc"),
    [
        ("/trading/stop", "flaten=true", ["query", "flaten"]),
        ("/trading/stop", "flatten=true&flatten=false", ["query", "flatten"]),
        ("/positions/sync", "symbol=BTC-USD", ["query", "symbol"]),
    ],
)
def test_api_unknown_or_repeated_query_parameter_is_422_and_changes_nothing(
    client: TestClient, control: FakeEngineControl, path: str, query: str, loc: list[str]
) -> None:
    response = client.post(f"{path}?{query}", headers=AUTH)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == loc and loc[1] in error["msg"]
    assert control.mutations == []


def test_api_mutation_with_a_json_body_is_422_and_changes_nothing(
    client: TestClient, control: FakeEngineControl
) -> None:
    # A script sending the option as JSON must not get a stop that closes nothing.
    response = client.post("/trading/stop", headers=AUTH, json={"flatten": True})

    assert response.status_code == 422
    assert "flatten=" in response.json()["detail"][0]["msg"]
    assert control.mutations == []
    assert client.post("/trading/stop?flatten=true", headers=AUTH).json()["count"] == 1
