"""Binance order entry over the WebSocket API, against the fake's WebSocket API: orders, OCO exits and
cancels go through the order session while it is connected, with REST's meaning for every answer; weight
0 when a request succeeds and charged when it fails; in-band ``rateLimits``; 429/418 with ``retryAfter``
as the venue's state; a dropped connection, a 5xx or a timeout leave an order of unknown outcome that a
lookup by client order id resolves, never a second order."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from autohedge.adapters.binance.adapter import create_exchange
from autohedge.adapters.binance.auth import HmacSigner
from autohedge.adapters.binance.rest import ServerClock
from autohedge.adapters.binance.wire import BINANCE_ORDER, BinanceOrder
from autohedge.adapters.binance.ws_api import ORDER_PLACE, BinanceOrderSession
from autohedge.core.clock import RealClock
from autohedge.core.config import Secrets, parse_config
from autohedge.core.errors import InsufficientFunds, OutcomeUnknown, RateLimited, VenueUnavailable
from autohedge.core.messages import OrderRequest
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.types import OrderStatus, Side
from tests.contract.conftest import VenueUnderTest, binance_venue
from tests.contract.test_exchange_contract import _TP, _oco, limit
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance
from tests.fakes.silent_ws import SilentWsServer

D = Decimal


@pytest.fixture
def venue() -> Iterator[VenueUnderTest]:
    under_test = binance_venue()
    try:
        under_test.push_quote(under_test.symbol, D(50000), D(50001))
        under_test.exchange.symbol_rules(under_test.symbol)  # rules and time are read before the tests
        yield under_test
    finally:
        under_test.close()


def fake_of(venue: VenueUnderTest) -> FakeBinance:
    assert isinstance(venue.fake, FakeBinance)
    return venue.fake


def ws_methods(fake: FakeBinance) -> list[str]:
    return [method for _, method, _ in fake.user.arrivals]


def test_ws_orders_place_fill_protect_and_cancel_over_the_session_not_rest(venue: VenueUnderTest) -> None:
    fake = fake_of(venue)
    entry = venue.exchange.submit_order(limit(venue, "ws-entry", Side.BUY, D("0.01"), D(50001)))
    assert entry.status is OrderStatus.FILLED and entry.fee > 0  # the FULL answer carries the fee
    (held,) = venue.exchange.positions([venue.symbol])
    oco = venue.exchange.submit_oco(_oco(venue, held.qty))
    assert len(oco.orders) == 2 and all(o.list_id == oco.list_id for o in oco.orders)
    cancelled = venue.exchange.cancel_order(venue.symbol, client_order_id=_TP)
    assert cancelled.status is OrderStatus.CANCELED
    assert venue.exchange.open_orders(venue.symbol) == ()  # the list went with its leg
    assert ws_methods(fake) == ["order.place", "orderList.place.oco"]
    assert [m for _, m, _ in fake.user.requests if m.startswith(("order", "orderList"))] == [
        "order.place",
        "orderList.place.oco",
        "order.cancel",
    ]
    assert fake.requests("/api/v3/orderList/oco") == []
    assert [m for m, _, _ in fake.requests("/api/v3/order") if m in ("POST", "DELETE")] == []


def test_ws_success_weighs_nothing_and_a_failure_is_charged(venue: VenueUnderTest) -> None:
    fake = fake_of(venue)
    venue.exchange.submit_order(limit(venue, "ws-free", Side.BUY, D("0.01"), D(49000)))
    assert fake.user.charged == 0
    with pytest.raises(InsufficientFunds):  # -2010
        venue.exchange.submit_order(limit(venue, "ws-broke", Side.BUY, D(100), D(49000)))
    assert fake.user.charged == 1


def test_ws_429_with_retry_after_pauses_the_shared_budget(venue: VenueUnderTest) -> None:
    fake = fake_of(venue)
    with fake.state.lock:
        fake.weight.add(fake.weight.limit, time.time())  # the IP's weight is spent
    with pytest.raises(RateLimited) as refused:
        venue.exchange.submit_order(limit(venue, "ws-429", Side.BUY, D("0.01"), D(49000)))
    assert not refused.value.banned and 0 < refused.value.retry_after_s <= 61
    assert venue.exchange.request_budget.wait_s(priority=True) > 0
    assert fake.user.refused_for_pushback == 1 and fake.engine.all_orders() == ()
    sent = len(fake.user.requests)
    with pytest.raises(RateLimited):  # refused at our door: nothing more reaches the venue
        venue.exchange.submit_order(limit(venue, "ws-429b", Side.BUY, D("0.01"), D(49000)))
    assert len(fake.user.requests) == sent


def test_ws_418_ban_is_the_venue_state_until_retry_after(venue: VenueUnderTest) -> None:
    fake = fake_of(venue)
    fake.ban(20)
    with pytest.raises(RateLimited) as refused:
        venue.exchange.submit_order(limit(venue, "ws-418", Side.BUY, D("0.01"), D(49000)))
    assert refused.value.banned and 15 < refused.value.retry_after_s <= 21
    status = venue.exchange.request_budget.status()
    assert status.rate_limited and status.banned and status.rate_limited_until_ns is not None


def test_ws_dropped_mid_request_is_unknown_found_by_client_id_and_never_duplicated(
    venue: VenueUnderTest,
) -> None:
    fake = fake_of(venue)
    fake.faults.lose_next_order_response = True
    with pytest.raises(OutcomeUnknown):
        venue.exchange.submit_order(limit(venue, "ws-lost", Side.BUY, D("0.01"), D(49000)))
    assert ws_methods(fake) == ["order.place"]
    found = venue.exchange.get_order(venue.symbol, client_order_id="ws-lost")
    assert found.status is OrderStatus.NEW and len(fake.engine.all_orders()) == 1
    # The session is down and may not reconnect yet: the next order goes by REST, not lost.
    venue.exchange.submit_order(limit(venue, "ws-after", Side.BUY, D("0.01"), D(49000)))
    posted = [method for method, _, _ in fake.requests("/api/v3/order") if method == "POST"]
    assert posted == ["POST"] and len(fake.engine.all_orders()) == 2


def test_ws_server_error_after_accepting_is_unknown_and_the_order_exists(venue: VenueUnderTest) -> None:
    fake = fake_of(venue)
    fake.faults.error_after_next_order = True
    with pytest.raises(OutcomeUnknown):
        venue.exchange.submit_order(limit(venue, "ws-503", Side.BUY, D("0.01"), D(49000)))
    assert venue.exchange.get_order(venue.symbol, client_order_id="ws-503").status is OrderStatus.NEW


def test_ws_clock_skew_resyncs_the_shared_offset_and_places_once(venue: VenueUnderTest) -> None:
    fake = fake_of(venue)
    fake.faults.clock_skew_s = 30.0
    reads = len(fake.requests("/api/v3/time"))
    placed = venue.exchange.submit_order(limit(venue, "ws-skew", Side.BUY, D("0.01"), D(49000)))
    assert placed.status is OrderStatus.NEW
    assert len(fake.requests("/api/v3/time")) == reads + 1  # -1021 re-measured the offset once
    assert ws_methods(fake) == ["order.place", "order.place"] and len(fake.engine.all_orders()) == 1


def test_ws_no_answer_within_the_timeout_is_unknown_for_an_order_unavailable_for_a_cancel() -> None:
    clock = RealClock()
    budget = RequestBudget(clock, venue="binance", capacity=1200, per_s=60.0)
    with SilentWsServer() as server:
        session = BinanceOrderSession(
            url=server.url,
            api_key=SecretStr("key"),
            signer=HmacSigner(SecretStr("secret")),
            clock=clock,
            budget=budget,
            server_clock=ServerClock(clock, lambda: clock.wall_ns() // 1_000_000),
            recv_window_ms=5000,
            timeout_s=0.2,
        )
        try:
            with pytest.raises(OutcomeUnknown, match="no answer within"):
                session.request(
                    ORDER_PLACE, {"symbol": "BTCUSDT"}, BINANCE_ORDER, places_order=True, priority=False
                )
            with pytest.raises(VenueUnavailable, match="no answer within"):
                session.request(
                    "order.cancel", {"symbol": "BTCUSDT"}, BINANCE_ORDER, places_order=False, priority=True
                )
        finally:
            session.stop()


def test_ws_session_that_cannot_connect_leaves_orders_to_rest() -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        dead_url = f"ws://127.0.0.1:{closed.getsockname()[1]}/ws-api/v3"
    with FakeBinance(symbols=["BTC/USDT"]) as fake:
        endpoints = {"rest_url": fake.rest_url, "ws_url": fake.ws_url, "user_ws_url": dead_url}
        config = parse_config(
            {
                "exchange": {"venue": "binance", "market_data": "binance"},
                "symbols": ["BTC/USDT"],
                "venues": {"binance": endpoints},
            }
        )
        secrets = Secrets(
            autohedge_binance_api_key=SecretStr(API_KEY), autohedge_binance_api_secret=SecretStr(API_SECRET)
        )
        exchange = create_exchange(config, secrets, RealClock())
        try:
            fake.push_quote("BTC/USDT", D(50000), D(50001))
            placed = exchange.submit_order(
                OrderRequest(
                    client_order_id="ws-dead", symbol="BTC/USDT", side=Side.BUY, qty=D("0.01"), price=D(49000)
                )
            )
        finally:
            exchange.close()
        assert placed.status is OrderStatus.NEW
        assert [m for m, _, _ in fake.requests("/api/v3/order")] == ["POST"] and fake.user.arrivals == []


def test_ws_session_dropped_reconnects_on_the_next_order_once_the_interval_passed() -> None:
    clock = RealClock()
    with FakeBinance(symbols=["BTC/USDT"]) as fake:
        budget = RequestBudget(clock, venue="binance", capacity=1200, per_s=60.0)
        session = BinanceOrderSession(
            url=fake.user_ws_url,
            api_key=SecretStr(API_KEY),
            signer=HmacSigner(SecretStr(API_SECRET)),
            clock=clock,
            budget=budget,
            server_clock=ServerClock(clock, fake.server_ms),
            recv_window_ms=5000,
            timeout_s=5.0,
            retry_interval_s=0.0,
        )
        fake.push_quote("BTC/USDT", D(50000), D(50001))
        params = {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.01",
            "price": "49000",
        }

        def place(client_order_id: str) -> BinanceOrder:
            order = {**params, "newClientOrderId": client_order_id}
            return session.request(ORDER_PLACE, order, BINANCE_ORDER, places_order=True, priority=False)

        try:
            session.connect()
            assert session.wait_until(connected=True, timeout_s=5)
            place("ws-1")
            fake.user.drop()
            assert session.wait_until(connected=False, timeout_s=5) and session.drops == 1
            session.wait_usable()  # reopens the connection; this order would go by REST meanwhile
            assert session.wait_until(connected=True, timeout_s=5) and session.connects == 2
            placed = place("ws-2")
        finally:
            session.stop()
        assert placed.clientOrderId == "ws-2" and ws_methods(fake) == ["order.place", "order.place"]
        assert len(fake.engine.all_orders()) == 2
