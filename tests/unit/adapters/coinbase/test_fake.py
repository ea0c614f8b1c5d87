"""The local Coinbase fake speaks the venue's protocol: checked with our own signer and parsers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from websockets.sync.client import ClientConnection, connect

from autohedge.adapters.coinbase.auth import CoinbaseSigner, jwt_uri
from autohedge.adapters.coinbase.parse import map_create_response, map_error, parse_rules
from autohedge.adapters.coinbase.wire import CoinbaseCreateResponse, CoinbaseProduct
from autohedge.adapters.coinbase.ws import DerivedFill, UserOrderTracker, parse_frame
from autohedge.core.errors import InsufficientFunds, RateLimited
from tests.fakes.coinbase import API_KEY, API_SECRET, FakeCoinbase

D = Decimal
NOW_S = 0


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase(products=["BTC/USD"]) as server:
        server.push_quote("BTC/USD", D(50000), D("50000.5"))
        yield server


def signer() -> CoinbaseSigner:
    return CoinbaseSigner(SecretStr(API_KEY), SecretStr(API_SECRET))


def call(
    fake: FakeCoinbase, method: str, path: str, body: Any = None, *, token: str | None = None
) -> requests.Response:
    uri = jwt_uri(method, fake.rest_url, path)
    bearer = token if token is not None else signer().rest_jwt(uri, now_s=int(time.time()))
    return requests.request(
        method, fake.rest_url + path, json=body, headers={"Authorization": f"Bearer {bearer}"}, timeout=5
    )


def limit_body(coid: str, size: str = "0.01", price: str = "49000") -> dict[str, Any]:
    return {
        "client_order_id": coid,
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {
            "limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": False}
        },
    }


def test_fake_accepts_a_signed_request_and_serves_product_rules(fake: FakeCoinbase) -> None:
    response = call(fake, "GET", "/products/BTC-USD")
    rules = parse_rules(CoinbaseProduct.model_validate(response.json()), symbol="BTC/USD")
    assert response.status_code == 200 and rules.tick_size == D("0.01")


def test_fake_refuses_a_missing_token(fake: FakeCoinbase) -> None:
    response = requests.get(fake.rest_url + "/accounts", timeout=5)
    assert response.status_code == 401 and fake.rejected_jwts == 1


def test_fake_refuses_a_token_for_another_path(fake: FakeCoinbase) -> None:
    token = signer().rest_jwt(jwt_uri("GET", fake.rest_url, "/products/BTC-USD"), now_s=int(time.time()))
    response = call(fake, "GET", "/accounts", token=token)
    assert response.status_code == 401 and "uri claim" in response.json()["message"]


def test_fake_refuses_a_replayed_nonce(fake: FakeCoinbase) -> None:
    token = signer().rest_jwt(jwt_uri("GET", fake.rest_url, "/accounts"), now_s=int(time.time()))
    assert call(fake, "GET", "/accounts", token=token).status_code == 200
    assert call(fake, "GET", "/accounts", token=token).status_code == 401


def test_fake_refuses_an_expired_token(fake: FakeCoinbase) -> None:
    token = signer().rest_jwt(jwt_uri("GET", fake.rest_url, "/accounts"), now_s=1_000)
    assert call(fake, "GET", "/accounts", token=token).status_code == 401


def test_fake_repeated_client_order_id_returns_the_existing_order(fake: FakeCoinbase) -> None:
    first = map_create_response(
        CoinbaseCreateResponse.model_validate(call(fake, "POST", "/orders", limit_body("a-1")).json())
    )
    again = map_create_response(
        CoinbaseCreateResponse.model_validate(call(fake, "POST", "/orders", limit_body("a-1")).json())
    )
    assert first == again and len(fake.engine.open_orders()) == 1


def test_fake_insufficient_fund_is_http_200_success_false(fake: FakeCoinbase) -> None:
    response = call(fake, "POST", "/orders", limit_body("a-2", size="1000"))
    assert response.status_code == 200 and response.json()["success"] is False
    with pytest.raises(InsufficientFunds):
        map_create_response(CoinbaseCreateResponse.model_validate(response.json()))


def test_fake_enforces_thirty_private_requests_per_second(fake: FakeCoinbase) -> None:
    fake.monotonic = lambda: 100.0  # every request lands in the same second
    statuses = [call(fake, "GET", "/accounts").status_code for _ in range(31)]
    assert statuses == [200] * 30 + [429]
    fake.monotonic = lambda: 101.0
    assert call(fake, "GET", "/accounts").status_code == 200


def test_fake_rate_limit_burst_answers_the_venue_body(fake: FakeCoinbase) -> None:
    fake.faults.rate_limit_after = 0
    response = call(fake, "GET", "/accounts")
    assert response.status_code == 429
    assert isinstance(
        map_error(429, response.text, response.headers, mutates=False, auth_hint="", now_s=0.0), RateLimited
    )


def test_fake_accounts_are_paginated(fake: FakeCoinbase) -> None:
    fake.hold("BTC", D("0.5"))
    fake.hold("ETH", D(2))
    first = call(fake, "GET", "/accounts").json()
    assert first["has_next"] and len(first["accounts"]) == 2
    second = call(fake, "GET", f"/accounts?cursor={first['cursor']}").json()
    assert not second["has_next"] and len(second["accounts"]) == 1


def bracket_body(coid: str, product: str = "BTC-USD") -> dict[str, Any]:
    return {
        "client_order_id": coid,
        "product_id": product,
        "side": "SELL",
        "order_configuration": {
            "trigger_bracket_gtc": {"base_size": "1", "limit_price": "51000", "stop_trigger_price": "49000"}
        },
    }


def test_fake_bracket_take_profit_executes_and_ends_the_stop(fake: FakeCoinbase) -> None:
    fake.hold("BTC", D(1))
    assert call(fake, "POST", "/orders/preview", bracket_body("b-1")).json()["errs"] == []
    created = call(fake, "POST", "/orders", bracket_body("b-1")).json()
    order = call(fake, "GET", f"/orders/historical/{created['order_id']}").json()["order"]
    assert order["status"] == "OPEN" and "trigger_bracket_gtc" in order["order_configuration"]
    assert order["trigger_status"] == "STOP_PENDING"
    fake.push_quote("BTC/USD", D(51000), D(51001))
    order = call(fake, "GET", f"/orders/historical/{created['order_id']}").json()["order"]
    assert order["status"] == "FILLED" and order["filled_size"] == "1"
    assert D(order["average_filled_price"]) >= D(51000) and order["trigger_status"] == "STOP_PENDING"


def test_fake_bracket_stop_triggers_on_the_price_falling_and_sells_as_a_limit(fake: FakeCoinbase) -> None:
    fake.hold("BTC", D(1))
    created = call(fake, "POST", "/orders", bracket_body("b-2")).json()
    fake.push_quote("BTC/USD", D(49500), D(49501))  # above the trigger: nothing
    order = call(fake, "GET", f"/orders/historical/{created['order_id']}").json()["order"]
    assert order["status"] == "OPEN" and order["filled_size"] == "0"
    fake.push_quote("BTC/USD", D(48990), D(48991))  # through the trigger, above its limit 5% below
    order = call(fake, "GET", f"/orders/historical/{created['order_id']}").json()["order"]
    assert order["status"] == "FILLED" and order["trigger_status"] == "STOP_TRIGGERED"
    assert D(order["average_filled_price"]) == D(48990)


def test_fake_bracket_is_refused_for_a_product_flagged_so_with_the_venue_body() -> None:
    with FakeCoinbase(products=["BTC/USD", "ETH/USD"], bracket_refused=["ETH/USD"]) as fake:
        fake.push_quote("ETH/USD", D(3000), D("3000.5"))
        fake.hold("ETH", D(1))
        preview = call(fake, "POST", "/orders/preview", bracket_body("b-3", "ETH-USD")).json()
        assert preview["errs"] == ["PREVIEW_INVALID_ORDER_CONFIG"]
        refused = call(fake, "POST", "/orders", bracket_body("b-3", "ETH-USD")).json()
        assert refused["success"] is False
        assert refused["error_response"]["error"] == "UNSUPPORTED_ORDER_CONFIGURATION"
        assert call(fake, "POST", "/orders/preview", bracket_body("b-4")).json()["errs"] == []
        assert fake.engine.all_orders() == ()


@contextmanager
def user_socket(fake: FakeCoinbase) -> Iterator[ClientConnection]:
    with connect(fake.user_ws_url) as socket:
        jwt = signer().ws_jwt(now_s=int(time.time()))
        socket.send(
            json.dumps({"type": "subscribe", "channel": "user", "product_ids": ["BTC-USD"], "jwt": jwt})
        )
        assert json.loads(socket.recv(timeout=5))["channel"] == "subscriptions"
        yield socket


def test_fake_user_channel_snapshot_then_cumulative_updates_derive_the_rest_fill(fake: FakeCoinbase) -> None:
    call(fake, "POST", "/orders", limit_body("u-1", price="49000"))
    tracker = UserOrderTracker({"BTC-USD": "BTC/USD"})
    with user_socket(fake) as socket:
        snapshot = tracker.apply(parse_frame(socket.recv(timeout=5)), ts_init=0)
        assert [o for o in snapshot if isinstance(o, DerivedFill)] == [] and tracker.snapshot_complete
        fake.push_quote("BTC/USD", D(48990), D(49000))
        derived = [
            o
            for o in tracker.apply(parse_frame(socket.recv(timeout=5)), ts_init=0)
            if isinstance(o, DerivedFill)
        ]
    (rest_fill,) = call(fake, "GET", "/orders/historical/fills").json()["fills"]
    (fill,) = derived
    assert (fill.qty, fill.price, fill.fee) == (
        D(rest_fill["size"]),
        D(rest_fill["price"]),
        D(rest_fill["commission"]),
    )


def test_fake_user_channel_without_jwt_is_refused(fake: FakeCoinbase) -> None:
    with connect(fake.user_ws_url) as socket:
        socket.send(json.dumps({"type": "subscribe", "channel": "user", "product_ids": ["BTC-USD"]}))
        assert "authentication failure" in json.loads(socket.recv(timeout=5))["message"]


def test_fake_user_duplicate_and_reorder_faults_shape_the_frames(fake: FakeCoinbase) -> None:
    with user_socket(fake) as socket:
        socket.recv(timeout=5)  # snapshot
        fake.faults.duplicate_next_update = True
        call(fake, "POST", "/orders", limit_body("u-2"))
        first, second = json.loads(socket.recv(timeout=5)), json.loads(socket.recv(timeout=5))
        assert first == second
        fake.faults.reorder_next_updates = True
        call(fake, "POST", "/orders", limit_body("u-3"))
        call(fake, "POST", "/orders", limit_body("u-4"))
        late, early = json.loads(socket.recv(timeout=5)), json.loads(socket.recv(timeout=5))
        assert late["sequence_num"] > early["sequence_num"]
