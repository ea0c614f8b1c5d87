"""The Binance user data stream against the fake's WebSocket API (127.0.0.1): signed subscription,
events by push, and the fault switches (refused subscription, duplicates, fill before ack, drop)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from autohedge.adapters.binance.adapter import create_user_stream
from autohedge.adapters.binance.user_ws import BinanceUserStream
from autohedge.core.clock import ManualClock, RealClock
from autohedge.core.config import Secrets, parse_config
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


def user_stream(
    fake: FakeBinance, *, secret: str = API_SECRET, budget: RequestBudget | None = None
) -> BinanceUserStream:
    config = parse_config(
        {
            "exchange": {"venue": "binance", "market_data": "binance"},
            "symbols": ["BTC/USDT"],
            "venues": {"binance": endpoints_of(fake)},
        }
    )
    secrets = Secrets(
        autohedge_binance_api_key=SecretStr(API_KEY), autohedge_binance_api_secret=SecretStr(secret)
    )
    return create_user_stream(config, secrets, RealClock(), budget=budget)


def buy(fake: FakeBinance, coid: str, price: str) -> None:
    fake.engine.submit_order(
        OrderRequest(client_order_id=coid, symbol="BTC/USDT", side=Side.BUY, qty=D("0.01"), price=D(price))
    )


@pytest.fixture
def connected(fake: FakeBinance) -> Iterator[OrderQueueSink]:
    with streaming(user_stream(fake)) as sink:
        yield sink


def test_user_stream_fake_fill_arrives_with_a_balance_push(
    fake: FakeBinance, connected: OrderQueueSink
) -> None:
    buy(fake, entry_id(1), "50010")
    kinds = [connected.next_update(entry_id(1)).kind, connected.next_update(entry_id(1)).kind]
    balances = connected.balances.get(timeout=5)
    assert kinds == [OrderEventKind.ACCEPTED, OrderEventKind.FILLED]
    assert {b.asset for b in balances.balances} == {"BTC", "USDT"}
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
