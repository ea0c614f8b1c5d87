"""Binance order entry over the WebSocket API, against the fake's WebSocket API: orders, OCO exits and
cancels go through the order session while it is connected, with REST's meaning for every answer; weight
0 when a request succeeds and charged when it fails; in-band ``rateLimits``; 429/418 with ``retryAfter``
as the venue's state; a dropped connection, a 5xx or a timeout leave an order of unknown outcome that a
lookup by client order id resolves, never a second order."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from autohedge.adapters.binance.adapter import BinanceExchange, create_exchange
from autohedge.adapters.binance.auth import BinanceSigner, HmacSigner, load_signer
from autohedge.adapters.binance.rest import ServerClock
from autohedge.adapters.binance.wire import BINANCE_ORDER, BinanceOrder
from autohedge.adapters.binance.ws_api import ORDER_PLACE, RECONNECT_BACKOFF, BinanceOrderSession
from autohedge.core.backoff import Backoff
from autohedge.core.clock import Clock, ManualClock, RealClock
from autohedge.core.config import Secrets, parse_config
from autohedge.core.errors import (
    InsufficientFunds,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from autohedge.core.messages import OrderRequest, OrderSnapshot
from autohedge.core.order_session import OrderSessionState, OrderSessionStatus, session_reasons
from autohedge.core.ports import OrderPipe
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.types import OrderStatus, Side
from tests.actors.harness import wait_for
from tests.contract.conftest import VenueUnderTest, binance_venue
from tests.contract.test_exchange_contract import _TP, _oco, limit
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance
from tests.fakes.binance_keys import ED25519_API_KEY, ED25519_KEY, ED25519_PRIVATE_PEM
from tests.fakes.silent_ws import SilentWsServer
from tests.fakes.venue_server import endpoints_of

D = Decimal


@pytest.fixture
def venue() -> Iterator[VenueUnderTest]:
    # The order session comes back 60 s after a drop: within a test, a dropped session stays down.
    under_test = binance_venue(supervisor={"min_backoff_s": 60, "max_backoff_s": 60, "random_factor": 0})
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
    # The session is down and reconnects later: the next order goes by REST, not lost.
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
        exchange.open_order_session()
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


ORDER_PARAMS = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.01",
    "price": "49000",
}


def manual_session(
    fake: FakeBinance, clock: ManualClock, *, signer: BinanceSigner | None = None, api_key: str = API_KEY
) -> BinanceOrderSession:
    """An order session on the fake whose reconnects wait for ``clock`` (backoff 1, 2, 4, 8 s, no
    jitter), its server-time offset measured on that clock."""
    server_clock = ServerClock(clock, fake.server_ms)
    server_clock.sync()
    return BinanceOrderSession(
        url=fake.user_ws_url,
        api_key=SecretStr(api_key),
        signer=signer or HmacSigner(SecretStr(API_SECRET)),
        clock=clock,
        budget=RequestBudget(clock, venue="binance", capacity=1200, per_s=60.0),
        server_clock=server_clock,
        recv_window_ms=60_000,
        timeout_s=5.0,
        backoff=Backoff(min_backoff_s=1.0, max_backoff_s=8.0),
    )


def connections(fake: FakeBinance) -> int:
    return sum(1 for _, method, _ in fake.user.requests if method == "connect")


def drop_session(fake: FakeBinance, session: BinanceOrderSession) -> None:
    """Cut the session's socket once the fake serves it (the client may see the handshake first), and
    wait until the session has noticed."""
    wait_for(lambda: fake.user.sessions() == 1, what="the fake serving the session")
    fake.user.drop()
    assert session.wait_status(lambda s: s.state is OrderSessionState.DOWN, timeout_s=5)


def test_ws_session_dropped_comes_back_in_the_background_without_an_order() -> None:
    clock = ManualClock(start_wall_ns=time.time_ns())
    with FakeBinance(symbols=["BTC/USDT"]) as fake:
        session = manual_session(fake, clock)
        try:
            session.connect()
            assert session.wait_until(connected=True, timeout_s=5)
            drop_session(fake, session)
            down = session.status()
            assert down.drops == 1 and down.next_attempt_in_s == 1.0 and clock.pending_delays_s() == [1.0]
            assert session_reasons(down) and "orders go by REST" in session_reasons(down)[0]
            clock.advance(0.999)
            assert not session.connected and connections(fake) == 1  # the backoff is not over
            clock.advance(0.001)  # the timer opens the new connection: no order asked for it
            assert session.wait_until(connected=True, timeout_s=5)
            back = session.status()
            wait_for(lambda: connections(fake) == 2, what="the fake serving the new connection")
        finally:
            session.stop()
        assert fake.user.arrivals == []
        assert (back.connects, back.reconnects, back.drops, back.requests, back.fallbacks) == (2, 1, 1, 0, 0)
        assert back.next_attempt_in_s is None and session_reasons(back) == []
        assert clock.pending_delays_s() == []


def test_ws_session_down_sends_by_rest_counted_then_places_on_the_reconnected_session() -> None:
    clock = ManualClock(start_wall_ns=time.time_ns())
    with FakeBinance(symbols=["BTC/USDT"]) as fake:
        config = parse_config(
            {
                "exchange": {"venue": "binance", "market_data": "binance"},
                "symbols": ["BTC/USDT"],
                "venues": {"binance": endpoints_of(fake)},
                "supervisor": {"min_backoff_s": 1.0, "random_factor": 0},
            }
        )
        secrets = Secrets(
            autohedge_binance_api_key=SecretStr(API_KEY), autohedge_binance_api_secret=SecretStr(API_SECRET)
        )
        exchange = create_exchange(config, secrets, clock)
        exchange.open_order_session()
        try:
            fake.push_quote("BTC/USDT", D(50000), D(50001))
            exchange.symbol_rules("BTC/USDT")  # rules, and the server-time offset on the manual clock
            session = exchange.order_session
            assert session is not None and session.wait_status(lambda s: s.connected, timeout_s=5)

            def place(client_order_id: str) -> None:
                exchange.submit_order(
                    OrderRequest(
                        client_order_id=client_order_id,
                        symbol="BTC/USDT",
                        side=Side.BUY,
                        qty=D("0.01"),
                        price=D(49000),
                    )
                )

            place("ws-before")
            drop_session(fake, session)
            place("rest-while-down")
            clock.advance(1.0)
            assert session.wait_status(lambda s: s.connected, timeout_s=5)
            place("ws-after")
            status = exchange.order_session_status()
        finally:
            exchange.close()
        assert status is not None
        assert (status.requests, status.fallbacks, status.reconnects, status.drops, status.failures) == (
            2,
            1,
            1,
            1,
            0,
        )
        posted = [params["newClientOrderId"] for _, method, params in fake.posted_at]
        assert posted == ["ws-before", "rest-while-down", "ws-after"]
        assert [m for m, _, _ in fake.requests("/api/v3/order")] == ["POST"]  # only the one sent while down


def hmac_session(
    url: str, clock: Clock, *, timeout_s: float, backoff: Backoff = RECONNECT_BACKOFF
) -> BinanceOrderSession:
    """An order session with an HMAC key (usable as soon as it connects) on its own budget."""
    return BinanceOrderSession(
        url=url,
        api_key=SecretStr("key"),
        signer=HmacSigner(SecretStr("secret")),
        clock=clock,
        budget=RequestBudget(clock, venue="binance", capacity=1200, per_s=60.0),
        server_clock=ServerClock(clock, lambda: clock.wall_ns() // 1_000_000),
        recv_window_ms=5000,
        timeout_s=timeout_s,
        backoff=backoff,
    )


def test_ws_session_failed_attempts_back_off_and_count() -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        dead_url = f"ws://127.0.0.1:{closed.getsockname()[1]}/ws-api/v3"
    clock = ManualClock()
    session = hmac_session(
        dead_url, clock, timeout_s=1.0, backoff=Backoff(min_backoff_s=1.0, max_backoff_s=4.0)
    )
    delays: list[float] = []

    def failed(times: int) -> Callable[[OrderSessionStatus], bool]:
        return lambda status: status.connect_failures == times

    try:
        session.connect()
        for failures in (1, 2, 3, 4):
            assert session.wait_status(failed(failures), timeout_s=5)
            delays += clock.pending_delays_s()
            clock.advance(delays[-1])
        status = session.status()
    finally:
        session.stop()
    assert delays == [1.0, 2.0, 4.0, 4.0]  # doubled from the shortest, capped
    assert status.connects == 0 and status.state is not OrderSessionState.UP and status.last_error
    assert clock.pending_delays_s() == []  # stopping cancelled the scheduled attempt


def test_ws_session_ed25519_logs_on_again_after_a_drop() -> None:
    clock = ManualClock(start_wall_ns=time.time_ns())
    with FakeBinance(symbols=["BTC/USDT"]) as fake:
        fake.register_ed25519(ED25519_API_KEY, ED25519_KEY.public_key())
        signer = load_signer(SecretStr(ED25519_PRIVATE_PEM))
        session = manual_session(fake, clock, signer=signer, api_key=ED25519_API_KEY)
        fake.push_quote("BTC/USDT", D(50000), D(50001))
        try:
            session.connect()
            assert session.wait_until(connected=True, timeout_s=5) and fake.user.logons == 1
            drop_session(fake, session)
            clock.advance(1.0)
            assert session.wait_until(connected=True, timeout_s=5)
            order = {**ORDER_PARAMS, "newClientOrderId": "ws-logged-on"}
            placed = session.request(ORDER_PLACE, order, BINANCE_ORDER, places_order=True, priority=False)
        finally:
            session.stop()
        assert fake.user.logons == 2 and placed.clientOrderId == "ws-logged-on"
        assert session.status().reconnects == 1


class Answers:
    """What ``pipe_orders`` delivers on the session's reader thread, per client order id."""

    def __init__(self, expected: int) -> None:
        self._expected = expected
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.by_id: dict[str, list[OrderSnapshot | BaseException]] = {}

    def __call__(
        self, request: OrderRequest, snapshot: OrderSnapshot | None, error: BaseException | None
    ) -> None:
        with self._lock:
            answer = snapshot if snapshot is not None else error
            assert answer is not None
            self.by_id.setdefault(request.client_order_id, []).append(answer)
            if sum(len(a) for a in self.by_id.values()) >= self._expected:
                self.done.set()

    def wait(self) -> dict[str, OrderSnapshot | BaseException]:
        assert self.done.wait(5), f"answers so far: {self.by_id}"
        assert all(len(a) == 1 for a in self.by_id.values()), f"an order answered twice: {self.by_id}"
        return {coid: answers[0] for coid, answers in self.by_id.items()}


class SessionAnswers:
    """What ``BinanceOrderSession.pipeline`` delivers to one request's callback."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.got: list[tuple[BinanceOrder | None, BaseException | None]] = []

    def __call__(self, result: BinanceOrder | None, error: VenueError | None) -> None:
        self.got.append((result, error))
        self.done.set()


def silent_session(server: SilentWsServer, *, timeout_s: float) -> BinanceOrderSession:
    """An order session (HMAC key: usable once connected) on a server that never answers."""
    return hmac_session(server.url, RealClock(), timeout_s=timeout_s)


def pipe(exchange: object) -> OrderPipe:
    """The exchange as an order pipe, its order session connected (it connects in the background)."""
    assert isinstance(exchange, BinanceExchange) and exchange.order_session is not None
    assert exchange.order_session.wait_until(connected=True, timeout_s=5)
    assert isinstance(exchange, OrderPipe)
    return exchange


def test_ws_pipelined_orders_are_written_together_and_each_answered_once(venue: VenueUnderTest) -> None:
    fake = fake_of(venue)
    requests = [
        limit(venue, "ws-pipe-1", Side.BUY, D("0.01"), D(49000)),
        limit(venue, "ws-pipe-broke", Side.BUY, D(100), D(49000)),  # more than the balance
        limit(venue, "ws-pipe-2", Side.BUY, D("0.01"), D(49001)),
    ]
    answers = Answers(len(requests))

    assert pipe(venue.exchange).pipe_orders(requests, answers) == 3

    got = answers.wait()
    assert isinstance(got["ws-pipe-broke"], InsufficientFunds)  # the refusal REST would raise
    placed = [got["ws-pipe-1"], got["ws-pipe-2"]]
    assert all(isinstance(p, OrderSnapshot) and p.status is OrderStatus.NEW for p in placed)
    assert ws_methods(fake) == ["order.place"] * 3 and fake.requests("/api/v3/order") == []
    assert fake.user.charged == 1  # the two placed weigh nothing, the refused one is charged
    assert len(fake.engine.all_orders()) == 2


def test_ws_pipelined_order_whose_answer_is_lost_is_unknown_and_found_by_client_id(
    venue: VenueUnderTest,
) -> None:
    fake = fake_of(venue)
    fake.faults.lose_next_order_response = True
    answers = Answers(1)

    assert (
        pipe(venue.exchange).pipe_orders(
            [limit(venue, "ws-pipe-lost", Side.BUY, D("0.01"), D(49000))], answers
        )
        == 1
    )

    assert isinstance(answers.wait()["ws-pipe-lost"], OutcomeUnknown)
    assert venue.exchange.get_order(venue.symbol, client_order_id="ws-pipe-lost").status is OrderStatus.NEW
    assert ws_methods(fake) == ["order.place"] and len(fake.engine.all_orders()) == 1


def test_ws_pipelined_clock_skew_refuses_then_the_next_blocking_order_resyncs_and_places(
    venue: VenueUnderTest,
) -> None:
    fake = fake_of(venue)
    fake.faults.clock_skew_s = 30.0
    reads = len(fake.requests("/api/v3/time"))
    answers = Answers(1)

    assert (
        pipe(venue.exchange).pipe_orders(
            [limit(venue, "ws-pipe-skew", Side.BUY, D("0.01"), D(49000))], answers
        )
        == 1
    )
    assert isinstance(answers.wait()["ws-pipe-skew"], VenueUnavailable)  # refused, never placed
    later = [limit(venue, "ws-pipe-later", Side.BUY, D("0.01"), D(49000))]
    assert pipe(venue.exchange).pipe_orders(later, Answers(1)) == 0  # the clock is re-measured first

    placed = venue.exchange.submit_order(later[0])  # the blocking way re-measures, then places once
    assert placed.status is OrderStatus.NEW
    assert len(fake.requests("/api/v3/time")) == reads + 1
    assert [o.client_order_id for o in fake.engine.all_orders()] == ["ws-pipe-later"]


def test_ws_pipeline_on_a_session_not_connected_writes_nothing() -> None:
    with SilentWsServer() as server:
        session = silent_session(server, timeout_s=5.0)
        answers = SessionAnswers()
        try:
            written = session.pipeline(
                ORDER_PLACE, [({"symbol": "BTCUSDT"}, answers)], BINANCE_ORDER, priority=False
            )
            assert written == 0  # not connected yet: never waited for; the caller sends it the blocking way
            assert server.opened.wait(5)  # the attempt asked for the connection
        finally:
            session.stop()
        assert answers.got == []


def test_ws_pipelined_order_unanswered_past_the_timeout_is_unknown() -> None:
    with SilentWsServer() as server:
        session = silent_session(server, timeout_s=1e-6)  # past by the next call
        answers = SessionAnswers()
        try:
            session.connect()
            assert session.wait_until(connected=True, timeout_s=5)
            batch = [({"symbol": "BTCUSDT", "newClientOrderId": "x"}, answers)]
            assert session.pipeline(ORDER_PLACE, batch, BINANCE_ORDER, priority=False) == 1
            assert session.pipeline(ORDER_PLACE, [], BINANCE_ORDER, priority=False) == 0  # expires the first
            assert answers.done.wait(5)
        finally:
            session.stop()
        ((result, error),) = answers.got
        assert result is None and isinstance(error, OutcomeUnknown) and "no answer within" in str(error)
