"""Ed25519 keys against the fake Binance (127.0.0.1): the fake verifies REST and ``session.logon``
signatures as the venue does and tracks the logged-on session; the adapter signs REST with the key and
the user stream logs on, subscribes, logs on again on a new connection, and turns a refused log-on into
the venue's state."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import requests
import websocket
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from autohedge.adapters.binance.adapter import (
    BinanceExchange,
    check_credentials,
    create_exchange,
    create_user_stream,
)
from autohedge.adapters.binance.user_ws import BinanceUserStream
from autohedge.core.clock import ManualClock, RealClock
from autohedge.core.config import AppConfig, Secrets, parse_config
from autohedge.core.errors import AuthError
from autohedge.core.messages import OrderEventKind, OrderRequest, OrderSnapshot
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.types import Side
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance
from tests.fakes.binance_keys import (
    ED25519_API_KEY,
    ED25519_KEY,
    ED25519_PRIVATE_PEM,
    ed25519_private_pem,
    pkcs8_pem,
)
from tests.fakes.order_sink import OrderQueueSink
from tests.ids import entry_id

D = Decimal
KEY = ED25519_KEY
OTHER_PEM = ed25519_private_pem(bytes(range(32)))
"""A well-formed Ed25519 key that is not the one registered for ``ED25519_API_KEY``."""


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(symbols=["BTC/USDT"]) as server:
        server.register_ed25519(ED25519_API_KEY, KEY.public_key())
        server.push_quote("BTC/USDT", D(50000), D("50000.5"))
        yield server


def config(fake: FakeBinance, order_entry: str = "ws") -> AppConfig:
    endpoints = {"rest_url": fake.rest_url, "ws_url": fake.ws_url, "user_ws_url": fake.user_ws_url}
    return parse_config(
        {
            "exchange": {"venue": "binance", "market_data": "binance"},
            "symbols": ["BTC/USDT"],
            "venues": {"binance": {**endpoints, "order_entry": order_entry}},
        }
    )


def secrets(pem: str = ED25519_PRIVATE_PEM, key: str = ED25519_API_KEY) -> Secrets:
    return Secrets(autohedge_binance_api_key=SecretStr(key), autohedge_binance_api_secret=SecretStr(pem))


def user_stream(
    fake: FakeBinance, *, pem: str = ED25519_PRIVATE_PEM, budget: RequestBudget | None = None
) -> BinanceUserStream:
    return create_user_stream(config(fake), secrets(pem), RealClock(), budget=budget)


def now_ms() -> int:
    return int(time.time() * 1000)


def signed(payload: str, key: Ed25519PrivateKey = KEY) -> str:
    return base64.b64encode(key.sign(payload.encode())).decode()


# -- the fake's REST verification ---------------------------------------------------------------------


def account(fake: FakeBinance, query: str, signature: str) -> requests.Response:
    url = f"{fake.rest_url}/api/v3/account?{query}&signature={quote(signature, safe='')}"
    return requests.get(url, headers={"X-MBX-APIKEY": ED25519_API_KEY}, timeout=5)


def test_ed25519_fake_rest_accepts_the_registered_keys_signature(fake: FakeBinance) -> None:
    query = f"omitZeroBalances=true&timestamp={now_ms()}"
    response = account(fake, query, signed(query))
    assert response.status_code == 200, response.text


def test_ed25519_fake_rest_refuses_another_keys_signature_as_the_venue_does(fake: FakeBinance) -> None:
    query = f"omitZeroBalances=true&timestamp={now_ms()}"
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    response = account(fake, query, signed(query, other))
    assert response.status_code == 400
    assert response.json() == {"code": -1022, "msg": "Signature for this request is not valid."}


def test_ed25519_fake_rest_refuses_a_signature_over_other_parameters(fake: FakeBinance) -> None:
    query = f"omitZeroBalances=true&timestamp={now_ms()}"
    response = account(fake, query, signed(query.replace("true", "false")))
    assert response.status_code == 400 and response.json()["code"] == -1022


# -- the fake's WebSocket API: log-on and the logged-on session -----------------------------------------


@pytest.fixture
def ws(fake: FakeBinance) -> Iterator[websocket.WebSocket]:
    connection = websocket.create_connection(fake.user_ws_url, timeout=5)
    yield connection
    connection.close()


def ask(ws: websocket.WebSocket, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"id": method, "method": method}
    if params is not None:
        request["params"] = params
    ws.send(json.dumps(request))
    answer: dict[str, Any] = json.loads(ws.recv())
    assert answer["id"] == method
    return answer


def logon_params(api_key: str = ED25519_API_KEY, key: Ed25519PrivateKey = KEY) -> dict[str, Any]:
    timestamp = now_ms()
    return {
        "apiKey": api_key,
        "timestamp": timestamp,
        "signature": signed(f"apiKey={api_key}&timestamp={timestamp}", key),
    }


def test_ed25519_fake_logon_then_subscribe_without_a_signature(
    fake: FakeBinance, ws: websocket.WebSocket
) -> None:
    logon = ask(ws, "session.logon", logon_params())
    subscribed = ask(ws, "userDataStream.subscribe")
    assert logon["status"] == 200 and logon["result"]["apiKey"] == ED25519_API_KEY
    assert logon["result"]["userDataStream"] is False and logon["rateLimits"][0]["count"] >= 4
    assert subscribed["status"] == 200 and subscribed["result"] == {"subscriptionId": 0}
    assert (fake.user.logons, fake.user.subscriptions) == (1, 1)


def test_ed25519_fake_refuses_a_subscription_before_logon(fake: FakeBinance, ws: websocket.WebSocket) -> None:
    answer = ask(ws, "userDataStream.subscribe")
    assert answer["status"] == 401 and answer["error"]["code"] == -1002 and fake.user.subscriptions == 0


def test_ed25519_fake_refuses_a_bad_logon_signature(fake: FakeBinance, ws: websocket.WebSocket) -> None:
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    answer = ask(ws, "session.logon", logon_params(key=other))
    after = ask(ws, "userDataStream.subscribe")
    assert answer["status"] == 400
    assert answer["error"] == {"code": -1022, "msg": "Signature for this request is not valid."}
    assert after["error"]["code"] == -1002 and fake.user.logons == 0  # the session stayed anonymous


def test_ed25519_fake_refuses_logon_with_an_hmac_key(fake: FakeBinance, ws: websocket.WebSocket) -> None:
    timestamp = now_ms()
    payload = f"apiKey={API_KEY}&timestamp={timestamp}"
    signature = hmac.new(API_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    answer = ask(ws, "session.logon", {"apiKey": API_KEY, "timestamp": timestamp, "signature": signature})
    assert answer["status"] == 401 and answer["error"]["code"] == -2015


def test_ed25519_fake_signed_subscription_verifies_an_ed25519_signature_too(
    fake: FakeBinance, ws: websocket.WebSocket
) -> None:
    answer = ask(ws, "userDataStream.subscribe.signature", logon_params())
    assert answer["status"] == 200 and fake.user.logons == 0 and fake.user.subscriptions == 1


# -- the adapter with an Ed25519 key ------------------------------------------------------------------


def place_one(exchange: BinanceExchange) -> OrderSnapshot:
    """One resting buy, then the adapter closed."""
    try:
        return exchange.submit_order(
            OrderRequest(
                client_order_id=entry_id(1), symbol="BTC/USDT", side=Side.BUY, qty=D("0.01"), price=D(49000)
            )
        )
    finally:
        exchange.close()


def test_ed25519_adapter_signs_rest_with_the_key(fake: FakeBinance) -> None:
    check_credentials(config(fake), secrets(), RealClock())
    placed = place_one(create_exchange(config(fake, order_entry="rest"), secrets(), RealClock()))
    ((_, _, params),) = fake.requests("/api/v3/order")
    assert placed.client_order_id == entry_id(1) and len(params["signature"]) == 88


def test_ed25519_adapter_places_over_a_logged_on_order_session(fake: FakeBinance) -> None:
    placed = place_one(create_exchange(config(fake), secrets(), RealClock()))
    assert placed.client_order_id == entry_id(1)
    assert fake.user.logons == 1 and [m for _, m, _ in fake.user.arrivals] == ["order.place"]
    assert fake.requests("/api/v3/order") == []


def test_ed25519_adapter_credentials_check_refuses_a_key_the_venue_does_not_hold(fake: FakeBinance) -> None:
    with pytest.raises(AuthError, match="AUTOHEDGE_BINANCE_API_KEY"):
        check_credentials(config(fake), secrets(OTHER_PEM), RealClock())


def test_ed25519_adapter_an_rsa_pem_is_a_credentials_error_naming_the_variable(fake: FakeBinance) -> None:
    rsa_pem = pkcs8_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(AuthError, match="AUTOHEDGE_BINANCE_API_SECRET"):
        check_credentials(config(fake), secrets(rsa_pem), RealClock())
    assert fake.requests() == []  # refused before anything was sent


# -- the user stream with an Ed25519 key ----------------------------------------------------------------


def test_ed25519_user_stream_logs_on_subscribes_and_counts_the_weights(fake: FakeBinance) -> None:
    budget = RequestBudget(ManualClock(), venue="binance", capacity=1200, per_s=60.0)
    stream, sink = user_stream(fake, budget=budget), OrderQueueSink()
    stream.start(sink)
    try:
        assert sink.connected.wait(5)
        fake.engine.submit_order(
            OrderRequest(
                client_order_id=entry_id(2), symbol="BTC/USDT", side=Side.BUY, qty=D("0.01"), price=D(50010)
            )
        )
        kinds = [sink.next_update(entry_id(2)).kind, sink.next_update(entry_id(2)).kind]
    finally:
        stream.stop()
    assert kinds == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
    assert [method for _, method, _ in fake.user.requests] == [
        "connect",
        "session.logon",
        "userDataStream.subscribe",
    ]
    assert budget.used_fraction == pytest.approx(6 / 1200)  # connect, log-on, subscribe: 2 each


def test_ed25519_user_stream_logs_on_again_on_a_new_connection(fake: FakeBinance) -> None:
    first, first_sink = user_stream(fake), OrderQueueSink()
    first.start(first_sink)
    assert first_sink.connected.wait(5)
    fake.user.drop()
    assert first_sink.disconnected.get(timeout=5).startswith("binance user stream")
    first.stop()
    second, second_sink = user_stream(fake), OrderQueueSink()
    second.start(second_sink)
    try:
        assert second_sink.connected.wait(5)
    finally:
        second.stop()
    assert (fake.user.logons, fake.user.subscriptions) == (2, 2)


def test_ed25519_user_stream_refused_logon_is_the_venues_auth_state(fake: FakeBinance) -> None:
    budget = RequestBudget(ManualClock(), venue="binance", capacity=1200, per_s=60.0)
    stream, sink = user_stream(fake, pem=OTHER_PEM, budget=budget), OrderQueueSink()
    stream.start(sink)
    error = sink.disconnected.get(timeout=5)
    stream.stop()
    assert "log-on" in error and "-1022" in error and not sink.connected.is_set()
    assert budget.auth_failure is not None and "-1022" in budget.auth_failure
    assert fake.user.subscriptions == 0


def test_ed25519_user_stream_logon_during_a_ban_pauses_the_budget(fake: FakeBinance) -> None:
    clock = ManualClock()
    budget = RequestBudget(clock, venue="binance", capacity=1200, per_s=60.0)
    fake.ban(20)
    stream, sink = user_stream(fake, budget=budget), OrderQueueSink()
    stream.start(sink)
    error = sink.disconnected.get(timeout=5)
    stream.stop()
    status = budget.status()
    assert "log-on" in error and "418" in error and not sink.connected.is_set()
    assert status.banned and status.auth_failed is None and fake.user.logons == 0


def test_ed25519_user_stream_skewed_logon_is_resynced_then_logs_on(fake: FakeBinance) -> None:
    fake.faults.clock_skew_s = 6.0  # the venue's clock 6 s ahead: outside the 5 s recvWindow
    # REST order entry: the exchange's order session would log on with the skewed clock too.
    server_clock = create_exchange(config(fake, order_entry="rest"), secrets(), RealClock()).server_clock
    first, refused = (
        create_user_stream(config(fake), secrets(), RealClock(), server_clock=server_clock),
        OrderQueueSink(),
    )
    first.start(refused)
    error = refused.disconnected.get(timeout=5)
    first.stop()
    assert "log-on" in error and "-1021" in error and server_clock.syncs == 1

    second, sink = (
        create_user_stream(config(fake), secrets(), RealClock(), server_clock=server_clock),
        OrderQueueSink(),
    )
    second.start(sink)
    assert sink.connected.wait(5)
    second.stop()
    assert fake.user.logons == 1 and fake.user.subscriptions == 1 and server_clock.syncs == 1
