"""The Kraken user stream against the local fake: token, executions -> order events with exec ids and
fees, snapshots as state, faults on the private websocket."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from autohedge.adapters.kraken.auth import NonceSource, decode_secret, encode_form, sign
from autohedge.adapters.kraken.parse import unwrap
from autohedge.adapters.kraken.user_ws import KrakenUserStream
from autohedge.core.clock import RealClock
from autohedge.core.errors import RateLimited
from autohedge.core.messages import OrderEventKind
from tests.fakes.kraken import API_KEY, API_SECRET, FakeKraken
from tests.fakes.order_sink import first_disconnect, streaming

D = Decimal
NONCES = NonceSource(RealClock())


@contextmanager
def quoted_fake() -> Iterator[FakeKraken]:
    with FakeKraken(pairs=["BTC/USD"], rest_counter_max=1000) as server:
        server.push_quote("BTC/USD", D(50000), D("50000.5"))
        yield server


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with quoted_fake() as server:
        yield server


def private(fake: FakeKraken, endpoint: str, params: list[tuple[str, str]] | None = None) -> Any:
    path, nonce = f"/0/private/{endpoint}", str(NONCES.next())
    body = encode_form([("nonce", nonce), *(params or [])])
    headers = {"API-Key": API_KEY, "API-Sign": sign(path, nonce, body, decode_secret(SecretStr(API_SECRET)))}
    raw = requests.post(fake.rest_url + path, data=body, headers=headers, timeout=5).json()
    return unwrap(raw, mutates=True, auth_hint="", now_s=0)


def place(fake: FakeKraken, coid: str, price: str = "49000.0") -> str:
    params = [
        ("ordertype", "limit"),
        ("type", "buy"),
        ("volume", "0.01"),
        ("pair", "XBTUSD"),
        ("price", price),
    ]
    return str(private(fake, "AddOrder", [*params, ("cl_ord_id", coid)])["txid"][0])


def user_stream(fake: FakeKraken) -> KrakenUserStream:
    return KrakenUserStream(
        url=fake.user_ws_url,
        token=lambda: str(private(fake, "GetWebSocketsToken")["token"]),
        clock=RealClock(),
        symbols=["BTC/USD"],
    )


def test_user_stream_accepted_then_filled_with_exec_id_and_fee(fake: FakeKraken) -> None:
    with streaming(user_stream(fake)) as sink:
        txid = place(fake, "k-1")
        accepted = sink.next_update("k-1")
        fake.push_quote("BTC/USD", D(48990), D(49000))
        filled = sink.next_update("k-1")
    assert accepted.kind is OrderEventKind.ACCEPTED and accepted.venue_order_id == txid
    assert filled.kind is OrderEventKind.FILLED and filled.trade_id and filled.cum_filled_qty == D("0.01")
    assert (filled.last_qty, filled.last_price, filled.fee_asset) == (D("0.01"), D(49000), "USD")
    assert filled.fee == D("0.01") * D(49000) * D("0.0026")


def test_user_stream_cancel_is_an_event(fake: FakeKraken) -> None:
    with streaming(user_stream(fake)) as sink:
        txid = place(fake, "k-2")
        sink.next_update("k-2")
        private(fake, "CancelOrder", [("txid", txid)])
        assert sink.next_update("k-2").kind is OrderEventKind.CANCELED


def test_user_stream_duplicated_frame_is_one_event(fake: FakeKraken) -> None:
    with streaming(user_stream(fake)) as sink:
        fake.faults.duplicate_next_update = True
        place(fake, "k-4", price="50010.0")  # crosses at once: accepted and filled in one frame
        assert [sink.next_update("k-4").kind, sink.next_update("k-4").kind] == [
            OrderEventKind.ACCEPTED,
            OrderEventKind.FILLED,
        ]
        with pytest.raises(queue.Empty):
            sink.next_update("k-4", timeout_s=0.3)


def test_user_stream_refused_token_is_a_disconnect_not_a_crash() -> None:
    def refused() -> str:
        raise RateLimited("kraken: EAPI:Rate limit exceeded", venue="kraken", retry_after_s=3)

    stream = KrakenUserStream(url="ws://127.0.0.1:9", token=refused, clock=RealClock(), symbols=["BTC/USD"])
    error, _ = first_disconnect(stream)
    assert "token refused" in error
