"""The local Kraken fake speaks the venue's protocol: checked with our own signer and parsers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from websockets.sync.client import connect

from autohedge.adapters.kraken.auth import NonceSource, decode_secret, encode_form, sign
from autohedge.adapters.kraken.parse import PairMap, map_errors, parse_balances, parse_order, unwrap
from autohedge.adapters.kraken.wire import KrakenAssetPair, KrakenOrderInfo
from autohedge.adapters.kraken.ws import (
    ExecutionFill,
    ExecutionsTracker,
    executions_subscribe,
    parse_frame,
)
from autohedge.core.clock import ManualClock, RealClock
from autohedge.core.errors import AuthError, InsufficientFunds, RateLimited, UnknownOrder, VenueUnavailable
from autohedge.core.types import OrderStatus
from tests.fakes.kraken import API_KEY, API_SECRET, FakeKraken

D = Decimal
NONCES = NonceSource(RealClock())


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(pairs=["BTC/USD"], rest_counter_max=1000) as server:
        server.push_quote("BTC/USD", D(50000), D("50000.5"))
        yield server


def private(
    fake: FakeKraken,
    endpoint: str,
    params: list[tuple[str, str]] | None = None,
    *,
    nonce: int | None = None,
    key: str = API_KEY,
) -> Any:
    path = f"/0/private/{endpoint}"
    n = str(nonce if nonce is not None else NONCES.next())
    body = encode_form([("nonce", n), *(params or [])])
    headers = {
        "API-Key": key,
        "API-Sign": sign(path, n, body, decode_secret(SecretStr(API_SECRET))),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return requests.post(fake.rest_url + path, data=body, headers=headers, timeout=5).json()


def add(fake: FakeKraken, coid: str, volume: str = "0.01", price: str = "49000.0", side: str = "buy") -> Any:
    return private(
        fake,
        "AddOrder",
        [
            ("ordertype", "limit"),
            ("type", side),
            ("volume", volume),
            ("pair", "XBTUSD"),
            ("price", price),
            ("cl_ord_id", coid),
        ],
    )


def result(raw: Any) -> Any:
    return unwrap(raw, mutates=True, auth_hint="keys", now_s=0)


def test_fake_asset_pairs_build_the_pair_map(fake: FakeKraken) -> None:
    raw = requests.get(fake.rest_url + "/0/public/AssetPairs?pair=XBTUSD", timeout=5).json()
    pairs = PairMap({k: KrakenAssetPair.model_validate(v) for k, v in result(raw).items()})
    assert pairs.altname("BTC/USD") == "XBTUSD" and pairs.ours("XXBTZUSD") == "BTC/USD"


def test_fake_signed_order_is_placed_and_queried(fake: FakeKraken) -> None:
    (txid,) = result(add(fake, "k-1"))["txid"]
    info = result(private(fake, "QueryOrders", [("txid", txid)]))[txid]
    order = parse_order(txid, KrakenOrderInfo.model_validate(info), symbol="BTC/USD")
    assert order.status is OrderStatus.NEW and order.client_order_id == "k-1"


def test_fake_refuses_a_wrong_key_as_invalid_key(fake: FakeKraken) -> None:
    with pytest.raises(AuthError):
        result(private(fake, "BalanceEx", key="someone-else"))


def test_fake_refuses_a_nonce_not_above_the_last(fake: FakeKraken) -> None:
    first = NONCES.next()
    result(private(fake, "BalanceEx", nonce=first))
    raw = private(fake, "BalanceEx", nonce=first)
    assert raw["error"] == ["EAPI:Invalid nonce"]
    assert isinstance(map_errors(raw["error"], mutates=False, auth_hint="", now_s=0), VenueUnavailable)


def test_fake_insufficient_funds_and_unknown_cancel_use_kraken_strings(fake: FakeKraken) -> None:
    with pytest.raises(InsufficientFunds):
        result(add(fake, "k-2", volume="1000"))
    with pytest.raises(UnknownOrder):
        result(private(fake, "CancelOrder", [("txid", "ONOPE-NOPE-NOPE")]))


def test_fake_rest_counter_is_the_venues_and_drains() -> None:
    clock = ManualClock()
    with FakeKraken(pairs=["BTC/USD"], clock=clock) as fake:
        answers = [private(fake, "BalanceEx")["error"] for _ in range(16)]
        assert answers[:15] == [[]] * 15 and answers[15] == ["EAPI:Rate limit exceeded"]
        clock.advance(3.1)  # one call drains in 1 / 0.33 s
        assert private(fake, "BalanceEx")["error"] == []


def test_fake_young_cancels_hit_the_pair_counter() -> None:
    with FakeKraken(pairs=["BTC/USD"], clock=ManualClock(), rest_counter_max=1000) as fake:
        fake.push_quote("BTC/USD", D(50000), D("50000.5"))
        errors = []
        for i in range(10):
            (txid,) = result(add(fake, f"c-{i}"))["txid"]
            errors.append(private(fake, "CancelOrder", [("txid", txid)])["error"])
        assert ["EOrder:Rate limit exceeded"] in errors
        assert isinstance(
            map_errors(["EOrder:Rate limit exceeded"], mutates=True, auth_hint="", now_s=0), RateLimited
        )


def test_fake_balances_use_kraken_asset_codes(fake: FakeKraken) -> None:
    fake.hold("BTC", D("0.5"))
    raw = result(private(fake, "BalanceEx"))
    assert "XXBT" in raw and "ZUSD" in raw
    assert parse_balances(raw)["BTC"].total == D("0.5")


def test_fake_executions_snapshot_then_trade_with_fee(fake: FakeKraken) -> None:
    result(add(fake, "x-1"))
    token = result(private(fake, "GetWebSocketsToken"))["token"]
    tracker = ExecutionsTracker(frozenset({"BTC/USD"}))
    with connect(fake.user_ws_url) as socket:
        assert json.loads(socket.recv(timeout=5))["channel"] == "status"
        socket.send(json.dumps(executions_subscribe(token, 1)))
        assert json.loads(socket.recv(timeout=5))["success"] is True
        snapshot = tracker.apply(parse_frame(socket.recv(timeout=5)), ts_init=0)
        assert [o for o in snapshot if isinstance(o, ExecutionFill)] == [] and len(snapshot) == 1
        fake.push_quote("BTC/USD", D(48990), D(49000))
        out = tracker.apply(parse_frame(socket.recv(timeout=5)), ts_init=0)
    (fill,) = [o for o in out if isinstance(o, ExecutionFill)]
    assert (fill.qty, fill.price, fill.client_order_id, fill.fee_asset) == (D("0.01"), D(49000), "x-1", "USD")
    assert fill.fee == D("0.01") * D(49000) * D("0.0026")
    assert out[-1].status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_fake_executions_without_a_token_are_refused(fake: FakeKraken) -> None:
    with connect(fake.user_ws_url) as socket:
        socket.recv(timeout=5)
        socket.send(json.dumps(executions_subscribe("made-up", 1)))
        assert json.loads(socket.recv(timeout=5))["success"] is False


def test_fake_duplicate_execution_is_deduplicated_by_the_tracker(fake: FakeKraken) -> None:
    token = result(private(fake, "GetWebSocketsToken"))["token"]
    tracker = ExecutionsTracker(frozenset({"BTC/USD"}))
    with connect(fake.user_ws_url) as socket:
        socket.recv(timeout=5)
        socket.send(json.dumps(executions_subscribe(token, 1)))
        socket.recv(timeout=5)
        tracker.apply(parse_frame(socket.recv(timeout=5)), ts_init=0)
        fake.faults.duplicate_next_update = True
        result(add(fake, "d-1", price="50010.0"))  # crosses at once: pending_new, new, trade, filled
        first = tracker.apply(parse_frame(socket.recv(timeout=5)), ts_init=0)
        second = tracker.apply(parse_frame(socket.recv(timeout=5)), ts_init=0)
    assert len([o for o in first if isinstance(o, ExecutionFill)]) == 1 and second == []
    assert tracker.sequence.stale == 1
