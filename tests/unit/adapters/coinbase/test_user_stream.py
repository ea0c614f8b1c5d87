"""The Coinbase user stream against the local fake: cumulative state -> order events, fills confirmed
from REST fills, snapshots never turned into fills, faults on the private websocket."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from autohedge.adapters.coinbase.auth import CoinbaseSigner, jwt_uri
from autohedge.adapters.coinbase.user_ws import CoinbaseUserStream, confirmed_trades
from autohedge.adapters.coinbase.wire import CoinbaseFill
from autohedge.adapters.coinbase.ws import DerivedFill
from autohedge.core.clock import RealClock
from autohedge.core.errors import AuthError
from autohedge.core.messages import OrderEventKind
from tests.fakes.coinbase import API_KEY, API_SECRET, FakeCoinbase
from tests.fakes.order_sink import OrderQueueSink, streaming
from tests.ids import entry_id
from tests.unit.adapters.coinbase.test_ws import user_frame

D = Decimal
SIGNER = CoinbaseSigner(SecretStr(API_KEY), SecretStr(API_SECRET))


@contextmanager
def quoted_fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase(products=["BTC/USD"]) as server:
        server.push_quote("BTC/USD", D(50000), D("50000.5"))
        yield server


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with quoted_fake() as server:
        yield server


def call(fake: FakeCoinbase, method: str, path: str, body: Any = None) -> Any:
    token = SIGNER.rest_jwt(jwt_uri(method, fake.rest_url, path), now_s=int(time.time()))
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, fake.rest_url + path, json=body, headers=headers, timeout=5).json()


def place(fake: FakeCoinbase, coid: str, price: str = "49000") -> str:
    body = {
        "client_order_id": coid,
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {
            "limit_limit_gtc": {"base_size": "0.01", "limit_price": price, "post_only": False}
        },
    }
    return str(call(fake, "POST", "/orders", body)["order_id"])


def rest_fills(fake: FakeCoinbase) -> Any:
    def confirm(order_id: str) -> Sequence[CoinbaseFill]:
        raw = call(fake, "GET", f"/orders/historical/fills?order_ids={order_id}")
        return [CoinbaseFill.model_validate(f) for f in raw["fills"]]

    return confirm


def user_stream(fake: FakeCoinbase, *, confirm: Any = None) -> CoinbaseUserStream:
    return CoinbaseUserStream(
        url=fake.user_ws_url,
        signer=SIGNER,
        clock=RealClock(),
        symbols={"BTC-USD": "BTC/USD"},
        confirm=confirm,
    )


def test_user_stream_accepted_then_filled_with_the_rest_trade_id(fake: FakeCoinbase) -> None:
    with streaming(user_stream(fake, confirm=rest_fills(fake))) as sink:
        order_id = place(fake, "u-1")
        accepted = sink.next_update("u-1")
        fake.push_quote("BTC/USD", D(48990), D(49000))
        filled = sink.next_update("u-1")
    assert accepted.kind is OrderEventKind.ACCEPTED and accepted.venue_order_id == order_id
    (trade,) = call(fake, "GET", "/orders/historical/fills")["fills"]
    assert filled.kind is OrderEventKind.FILLED and filled.trade_id == trade["trade_id"]
    assert (filled.last_qty, filled.last_price, filled.fee) == (D("0.01"), D(49000), D(trade["commission"]))
    assert filled.cum_filled_qty == D("0.01") and filled.fee_asset == "USD"


def test_user_stream_without_confirmation_reports_the_derived_fill(fake: FakeCoinbase) -> None:
    with streaming(user_stream(fake)) as sink:
        place(fake, "u-2", price="50010")  # crosses on arrival
        filled = sink.next_update("u-2")
        while filled.kind is OrderEventKind.ACCEPTED:
            filled = sink.next_update("u-2")
    assert filled.kind is OrderEventKind.FILLED and filled.trade_id is None
    assert filled.fill_key == f"{filled.venue_order_id}:u-2:c:0.01" and filled.last_price == D("50000.5")


def test_user_stream_duplicated_update_is_one_event(fake: FakeCoinbase) -> None:
    with streaming(user_stream(fake)) as sink:
        fake.faults.duplicate_next_update = True
        place(fake, "u-4")
        assert sink.next_update("u-4").kind is OrderEventKind.ACCEPTED
        place(fake, "u-5")
        assert sink.next_update("u-5").kind is OrderEventKind.ACCEPTED  # nothing of u-4 in between


def test_user_stream_out_of_order_frames_reconnect_instead_of_guessing(fake: FakeCoinbase) -> None:
    with streaming(user_stream(fake)) as sink:
        place(fake, "u-6")
        sink.next_update("u-6")
        fake.faults.reorder_next_updates = True
        fake.push_quote("BTC/USD", D(48990), D(49000))  # u-6 fills: that frame is held back
        place(fake, "u-7")  # sent first: a jump in sequence, then the late frame
        assert "lost frames" in sink.disconnected.get(timeout=5)
        with pytest.raises(queue.Empty):
            sink.updates.get(timeout=0.3)  # neither frame became an event: REST reconciles after reconnect


def test_user_stream_without_keys_names_the_variables(fake: FakeCoinbase) -> None:
    stream = CoinbaseUserStream(url=fake.user_ws_url, signer=None, clock=RealClock(), symbols={})
    with pytest.raises(AuthError, match="AUTOHEDGE_COINBASE_API_KEY"):
        stream.start(OrderQueueSink())


def _trade(trade_id: str, size: str, stamp: str) -> CoinbaseFill:
    return CoinbaseFill(
        trade_id=trade_id, order_id="o", price="10", size=size, product_id="BTC-USD", sequence_timestamp=stamp
    )


def _derived(qty: str, cum: str) -> DerivedFill:
    return DerivedFill(
        fill_id="o:x",
        venue_order_id="o",
        client_order_id="c",
        symbol="BTC/USD",
        side="buy",
        qty=D(qty),
        price=D(10),
        fee=D(0),
        fee_asset="USD",
        cumulative_qty=D(cum),
        ts_event=0,
    )


def test_confirmed_trades_cover_exactly_the_rise() -> None:
    trades = [_trade("t1", "1", "a"), _trade("t2", "2", "b"), _trade("t3", "1", "c")]
    picked = confirmed_trades(_derived("3", "4"), trades)
    assert [(t.trade_id, cum) for t, cum in picked] == [("t2", D(3)), ("t3", D(4))]


def test_confirmed_trades_not_caught_up_is_empty() -> None:
    assert confirmed_trades(_derived("3", "4"), [_trade("t1", "1", "a")]) == []


def test_user_stream_order_in_an_unknown_status_skips_only_itself() -> None:
    """One update carries our entry's fill beside another order in a status we do not know. That order is
    counted as malformed and skipped; the fill is still reported. Skipped with the whole frame, it was
    lost for good: the tracker had already taken the entry's cumulative quantity in, so no later update
    derives it again, and the fill waited for the slow safety poll without its exits."""
    sink = OrderQueueSink()
    stream = user_stream_without_venue()
    stream._sink = sink  # the reader thread's state once started; frames are handed in directly
    stream._on_message(None, user_frame("update", 0))  # type: ignore[arg-type]
    filled = {
        "status": "FILLED",
        "cumulative_quantity": "0.01",
        "leaves_quantity": "0",
        "avg_price": "50000",
        "filled_value": "500",
        "total_fees": "2",
    }
    odd = {"order_id": "o-10", "client_order_id": "x-1", "status": "UNKNOWN_ORDER_STATUS"}
    stream._on_message(None, user_frame("update", 1, odd, **filled))  # type: ignore[arg-type]

    assert sink.next_update(entry_id(1), timeout_s=0).kind is OrderEventKind.ACCEPTED
    fill = sink.next_update(entry_id(1), timeout_s=0)
    assert (fill.kind, fill.last_qty, fill.last_price) == (OrderEventKind.FILLED, D("0.01"), D(50000))
    assert "UNKNOWN_ORDER_STATUS" in sink.malformed.get_nowait()


def user_stream_without_venue() -> CoinbaseUserStream:
    return CoinbaseUserStream(
        url="ws://127.0.0.1:1", signer=SIGNER, clock=RealClock(), symbols={"BTC-USD": "BTC/USD"}
    )
