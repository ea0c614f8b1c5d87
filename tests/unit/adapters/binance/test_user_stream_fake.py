"""The Binance user data stream against the fake's WebSocket API (127.0.0.1): signed subscription,
events by push, and the fault switches (refused subscription, duplicates, fill before ack, drop)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from autohedge.adapters.binance.adapter import create_exchange, create_user_stream
from autohedge.adapters.binance.rest import ServerClock
from autohedge.adapters.binance.user_ws import BinanceUserStream
from autohedge.core.clock import ManualClock, RealClock
from autohedge.core.config import AppConfig, Secrets, parse_config
from autohedge.core.errors import RateLimited
from autohedge.core.messages import OrderEventKind, OrderRequest
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.types import Side
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance
from tests.fakes.order_sink import OrderQueueSink, first_disconnect, streaming
from tests.fakes.venue_server import endpoints_of
from tests.ids import entry_id

D = Decimal


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(symbols=["BTC/USDT"]) as server:
        server.push_quote("BTC/USDT", D(50000), D("50000.5"))
        yield server


def config(fake: FakeBinance, *, recv_window_ms: int = 5000, order_entry: str = "ws") -> AppConfig:
    endpoints = {**endpoints_of(fake), "recv_window_ms": recv_window_ms, "order_entry": order_entry}
    return parse_config(
        {
            "exchange": {"venue": "binance", "market_data": "binance"},
            "symbols": ["BTC/USDT"],
            "venues": {"binance": endpoints},
        }
    )


def server_clock_of(fake: FakeBinance) -> ServerClock:
    """The trading adapter's server-time offset (REST only: no order session left open behind it)."""
    return create_exchange(config(fake, order_entry="rest"), secrets(), RealClock()).server_clock


def secrets(secret: str = API_SECRET) -> Secrets:
    return Secrets(
        autohedge_binance_api_key=SecretStr(API_KEY), autohedge_binance_api_secret=SecretStr(secret)
    )


def user_stream(
    fake: FakeBinance,
    *,
    secret: str = API_SECRET,
    budget: RequestBudget | None = None,
    server_clock: ServerClock | None = None,
    recv_window_ms: int = 5000,
) -> BinanceUserStream:
    return create_user_stream(
        config(fake, recv_window_ms=recv_window_ms),
        secrets(secret),
        RealClock(),
        budget=budget,
        server_clock=server_clock,
    )


def buy(fake: FakeBinance, coid: str, price: str) -> None:
    fake.engine.submit_order(
        OrderRequest(client_order_id=coid, symbol="BTC/USDT", side=Side.BUY, qty=D("0.01"), price=D(price))
    )


@pytest.fixture
def connected(fake: FakeBinance) -> Iterator[OrderQueueSink]:
    with streaming(user_stream(fake)) as sink:
        yield sink


def test_user_stream_fake_placement_and_fill_each_arrive_with_a_balance_push(
    fake: FakeBinance, connected: OrderQueueSink
) -> None:
    buy(fake, entry_id(1), "50010")
    kinds = [connected.next_update(entry_id(1)).kind, connected.next_update(entry_id(1)).kind]
    locked, filled = connected.balances.get(timeout=5), connected.balances.get(timeout=5)
    assert kinds == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
    # As the venue: the lock when the order is placed (only the asset it changed), then the fill.
    assert [(b.asset, b.locked > 0) for b in locked.balances] == [("USDT", True)]
    assert {b.asset for b in filled.balances} == {"BTC", "USDT"}
    assert fake.user.subscriptions == 1


def test_user_stream_fake_bad_signature_is_refused_and_reported(fake: FakeBinance) -> None:
    error, sink = first_disconnect(user_stream(fake, secret="not-the-secret"))
    assert "refused" in error and "-1022" in error and not sink.connected.is_set()


def test_user_stream_fake_refused_subscription_is_reported(fake: FakeBinance) -> None:
    fake.user.faults.refuse_subscription = True
    error, sink = first_disconnect(user_stream(fake))
    assert "refused" in error and not sink.connected.is_set()


def test_user_stream_fake_duplicate_events_are_delivered_twice(
    fake: FakeBinance, connected: OrderQueueSink
) -> None:
    fake.user.faults.duplicate_events = True
    buy(fake, entry_id(2), "50010")
    updates = [connected.next_update(entry_id(2)) for _ in range(4)]
    fills = [u for u in updates if u.kind.is_fill]
    assert len(fills) == 2 and fills[0].fill_key == fills[1].fill_key


def test_user_stream_fake_fill_before_its_acknowledgement(
    fake: FakeBinance, connected: OrderQueueSink
) -> None:
    fake.user.faults.fill_before_ack = True
    buy(fake, entry_id(3), "50010")
    kinds = [connected.next_update(entry_id(3)).kind, connected.next_update(entry_id(3)).kind]
    assert kinds == [OrderEventKind.FILLED, OrderEventKind.ACCEPTED]


def test_user_stream_fake_dropped_socket_is_reported(fake: FakeBinance, connected: OrderQueueSink) -> None:
    fake.drop_clients()
    assert connected.disconnected.get(timeout=5).startswith("binance user stream")


def test_user_stream_fake_rate_limits_align_the_budget(fake: FakeBinance) -> None:
    budget = RequestBudget(ManualClock(), venue="binance", capacity=1200, per_s=60.0)
    with streaming(user_stream(fake, budget=budget)):
        pass  # connected, then stopped: what the venue counted for it is in the budget
    assert budget.used_fraction == pytest.approx(
        4 / 1200
    )  # connect (2) + subscribe (2), as the venue counted them


def test_user_stream_fake_skewed_clock_is_refused_then_resynced_and_the_next_connection_subscribes(
    fake: FakeBinance,
) -> None:
    fake.faults.clock_skew_s = 6.0  # the venue's clock 6 s ahead: outside the 5 s recvWindow
    server_clock = server_clock_of(fake)
    first, refused = user_stream(fake, server_clock=server_clock), OrderQueueSink()
    first.start(refused)
    error = refused.disconnected.get(timeout=5)
    first.stop()
    assert "-1021" in error and not refused.connected.is_set()
    assert server_clock.syncs == 1 and abs(server_clock.offset_ms - 6000) < 1000
    assert [r[1] for r in fake.requests()] == ["/api/v3/time"]  # the shared REST read, once

    second, sink = user_stream(fake, server_clock=server_clock), OrderQueueSink()
    second.start(sink)
    assert sink.connected.wait(5)
    buy(fake, entry_id(4), "50010")
    assert sink.next_update(entry_id(4)).kind is OrderEventKind.ACCEPTED
    second.stop()
    assert fake.user.subscriptions == 1 and server_clock.syncs == 1


def test_user_stream_fake_signs_with_the_offset_rest_already_measured(fake: FakeBinance) -> None:
    fake.faults.clock_skew_s = -4.0  # our clock ahead: timestamps from the venue's future
    server_clock = server_clock_of(fake)
    server_clock.sync()
    stream, sink = user_stream(fake, server_clock=server_clock), OrderQueueSink()
    stream.start(sink)
    assert sink.connected.wait(5)
    stream.stop()
    assert server_clock.syncs == 1 and fake.user.subscriptions == 1


def test_user_stream_fake_recv_window_is_sent_as_for_rest(fake: FakeBinance) -> None:
    fake.faults.clock_skew_s = 6.0  # within a 10 s recvWindow: the venue accepts without a resync
    stream, sink = user_stream(fake, recv_window_ms=10_000), OrderQueueSink()
    stream.start(sink)
    assert sink.connected.wait(5)
    stream.stop()


def test_user_stream_fake_refused_resync_is_reported_as_the_refusal(fake: FakeBinance) -> None:
    def paused() -> int:
        raise RateLimited("binance: sending paused by the venue for 30.0s more", venue="binance")

    fake.faults.clock_skew_s = 6.0
    server_clock = ServerClock(RealClock(), paused)
    stream, sink = user_stream(fake, server_clock=server_clock), OrderQueueSink()
    stream.start(sink)
    error = sink.disconnected.get(timeout=5)
    stream.stop()
    assert error.startswith("binance refused the user data subscription (400 -1021")
    assert server_clock.syncs == 0 and server_clock.offset_ms == 0
