"""The Binance adapter and stream against the local fake venue (127.0.0.1)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from autohedge.adapters.binance.adapter import (
    BinanceExchange,
    check_credentials,
    create_exchange,
    create_stream_factory,
)
from autohedge.core.clock import RealClock
from autohedge.core.config import AppConfig, Secrets, parse_config
from autohedge.core.errors import AuthError, OrderRefused, OutcomeUnknown, RateLimited
from autohedge.core.messages import OrderRequest
from autohedge.core.ports import MarketStream
from autohedge.core.types import OrderPurpose, OrderStatus, Side
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance
from tests.fakes.sink import QueueSink
from tests.ids import entry_id

D = Decimal


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(symbols=["BTC/USDT", "ETH/USDT"]) as server:
        server.push_quote("BTC/USDT", D(50000), D("50000.5"))
        yield server


def config(fake: FakeBinance, timeout_s: float = 5.0) -> AppConfig:
    return parse_config(
        {
            "exchange": {"venue": "binance", "market_data": "binance"},
            "symbols": ["BTC/USDT", "ETH/USDT"],
            # REST orders: the WebSocket API order session has tests of its own (tests/contract).
            "venues": {
                "binance": {
                    "rest_url": fake.rest_url,
                    "ws_url": fake.ws_url,
                    "timeout_s": timeout_s,
                    "order_entry": "rest",
                }
            },
        }
    )


def exchange(fake: FakeBinance, *, key: str = API_KEY, timeout_s: float = 5.0) -> BinanceExchange:
    secrets = Secrets(
        autohedge_binance_api_key=SecretStr(key), autohedge_binance_api_secret=SecretStr(API_SECRET)
    )
    return create_exchange(config(fake, timeout_s), secrets, RealClock())


def order(
    coid: str = entry_id(1),
    qty: str = "0.01",
    price: str = "49000",
    purpose: OrderPurpose = OrderPurpose.ENTRY,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid, symbol="BTC/USDT", side=Side.BUY, qty=D(qty), price=D(price), purpose=purpose
    )


def test_adapter_orders_arrive_signed_with_decimal_strings(fake: FakeBinance) -> None:
    ex = exchange(fake)
    ex.submit_order(order(price="49000.10"))
    ((_, _, params),) = fake.requests("/api/v3/order")
    assert (
        params["price"] == "49000.1"
        and params["quantity"] == "0.01"
        and params["newClientOrderId"] == entry_id(1)
    )
    assert params["type"] == "LIMIT" and params["timeInForce"] == "GTC" and "signature" in params


def test_adapter_429_is_rate_limited_for_the_venue_s_retry_after(fake: FakeBinance) -> None:
    ex = exchange(fake)
    ex.symbol_rules("BTC/USDT")
    fake.faults.rate_limit_after = len(fake.requests())
    with pytest.raises(RateLimited) as info:
        ex.open_orders()
    assert info.value.retry_after_s == 7 and not info.value.banned  # the budget's pause: the contract suite


def test_adapter_418_is_a_ban(fake: FakeBinance) -> None:
    ex = exchange(fake)
    ex.symbol_rules("BTC/USDT")
    fake.faults.rate_limit_after = len(fake.requests())
    fake.faults.rate_limit_status = 418
    with pytest.raises(RateLimited) as info:
        ex.balances()
    assert info.value.banned


def test_adapter_slow_response_on_submit_is_outcome_unknown(fake: FakeBinance) -> None:
    ex = exchange(fake, timeout_s=0.3)
    ex.symbol_rules("BTC/USDT")
    fake.faults.delay_s = 1.0
    with pytest.raises(OutcomeUnknown):
        ex.submit_order(order())


def test_adapter_refuses_below_min_notional_before_sending(fake: FakeBinance) -> None:
    ex = exchange(fake)
    ex.symbol_rules("BTC/USDT")
    with pytest.raises(OrderRefused, match="minimum notional"):
        ex.submit_order(order(qty="0.000001", price="100"))
    assert fake.requests("/api/v3/order") == []


def test_adapter_bad_key_names_the_variable(fake: FakeBinance) -> None:
    ex = exchange(fake, key="wrong")
    with pytest.raises(AuthError, match="AUTOHEDGE_BINANCE_API_KEY"):
        ex.balances()


def test_adapter_skewed_server_clock_is_resynced_once_and_the_signed_call_goes_through(
    fake: FakeBinance,
) -> None:
    fake.faults.clock_skew_s = 6.0  # our clock is 6 s behind the venue's: outside the 5 s recvWindow
    ex = exchange(fake)
    assert ex.balances()["USDT"].free > 0  # -1021, one time read, signed again with the offset
    assert ex.server_clock.syncs == 1 and abs(ex.server_clock.offset_ms - 6000) < 1000
    ex.balances()
    assert [r[1] for r in fake.requests()] == [
        "/api/v3/account",
        "/api/v3/time",
        "/api/v3/account",
        "/api/v3/account",
    ]


def test_adapter_credentials_check_passes_on_a_skewed_clock(fake: FakeBinance) -> None:
    fake.faults.clock_skew_s = -3.0  # our clock ahead of the venue's: timestamps from the future
    secrets = Secrets(
        autohedge_binance_api_key=SecretStr(API_KEY), autohedge_binance_api_secret=SecretStr(API_SECRET)
    )
    check_credentials(config(fake), secrets, RealClock())
    assert [r[1] for r in fake.requests()] == ["/api/v3/account", "/api/v3/time", "/api/v3/account"]


def test_adapter_exit_fill_reports_base_fee_from_trades(fake: FakeBinance) -> None:
    ex = exchange(fake)
    filled = ex.submit_order(order(price="50010"))
    assert filled.status is OrderStatus.FILLED and filled.fee == D("0.00001") and filled.fee_asset == "BTC"


def connected_stream(fake: FakeBinance) -> tuple[MarketStream, QueueSink]:
    stream = create_stream_factory(config(fake), RealClock())()
    sink = QueueSink()
    stream.start(["BTC/USDT", "ETH/USDT"], sink)
    deadline_hits = 0
    while fake.clients() == 0 and deadline_hits < 500:  # wait on the fake's state: the client connected
        deadline_hits += 1
        try:
            sink.disconnected.get(timeout=0.01)
            raise AssertionError("stream closed while connecting")
        except queue.Empty:
            pass
    assert fake.clients() == 1
    return stream, sink


def test_stream_book_tickers_become_quotes(fake: FakeBinance) -> None:
    stream, sink = connected_stream(fake)
    fake.push_quote("ETH/USDT", D("3000.1"), D("3000.2"))
    quote = sink.quotes.get(timeout=5)
    stream.stop()
    assert (quote.symbol, quote.bid, quote.ask, quote.venue) == (
        "ETH/USDT",
        D("3000.1"),
        D("3000.2"),
        "binance",
    )


def test_stream_malformed_frame_is_counted_then_quotes_keep_flowing(fake: FakeBinance) -> None:
    stream, sink = connected_stream(fake)
    fake.send_malformed()
    fake.push_quote("BTC/USDT", D(50001), D(50002))
    assert sink.malformed.get(timeout=5).startswith("binance frame is not JSON")
    assert sink.quotes.get(timeout=5).bid == D(50001)
    stream.stop()


def test_stream_dropped_socket_reports_disconnected(fake: FakeBinance) -> None:
    stream, sink = connected_stream(fake)
    fake.drop_clients()
    assert "closed" in sink.disconnected.get(timeout=5)
    stream.stop()


def test_stream_reconnect_during_a_ban_spends_no_rest_and_streams_again(fake: FakeBinance) -> None:
    factory = create_stream_factory(config(fake), RealClock())
    first, _ = connected_stream_from(factory, fake)
    first.stop()
    wait_until(lambda: fake.clients() == 0)
    fake.ban(60)  # any REST call in a feed's start-up would now be refused
    requests_before = len(fake.requests())

    second, sink = connected_stream_from(factory, fake)
    fake.push_quote("BTC/USDT", D(50001), D(50002))
    quote = sink.quotes.get(timeout=5)
    second.stop()
    assert quote.bid == D(50001) and len(fake.requests()) == requests_before


def wait_until(predicate: Callable[[], bool]) -> None:
    """Wait on the fake's state (bounded)."""
    idle = threading.Event()
    for _ in range(500):
        if predicate():
            return
        idle.wait(0.01)
    raise AssertionError("the fake never reached the expected state")


def connected_stream_from(
    factory: Callable[[], MarketStream], fake: FakeBinance
) -> tuple[MarketStream, QueueSink]:
    stream, sink = factory(), QueueSink()
    stream.start(["BTC/USDT", "ETH/USDT"], sink)
    wait_until(lambda: fake.clients() == 1)
    return stream, sink


def test_adapter_open_orders_pass_over_another_clients_orders_of_types_never_ours(fake: FakeBinance) -> None:
    # Ours are LIMIT (LIMIT_MAKER as an OCO's leg) or STOP_LOSS_LIMIT orders. Another client's stop-market
    # or take-profit order on a traded symbol failed the whole listing ("unknown value"), and with it the
    # start-up adoption and every reconciliation that reads it.
    ex = exchange(fake)
    ex.submit_order(order(coid=entry_id(7)))
    base = {"symbol": "BTCUSDT", "orderListId": -1, "price": "0.00000000", "origQty": "0.50000000"}
    for n, kind in enumerate(("STOP_LOSS", "TAKE_PROFIT_LIMIT", "TRAILING_SOMETHING_NEW")):
        fake.foreign_orders.append(
            base
            | {"orderId": 900 + n, "clientOrderId": f"manual-{n}", "type": kind, "side": "SELL"}
            | {"executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000", "status": "NEW"}
            | {"timeInForce": "GTC", "stopPrice": "50000.00000000", "time": 1, "updateTime": 1}
        )

    assert [o.client_order_id for o in ex.open_orders()] == [entry_id(7)]
    assert [o.client_order_id for o in ex.open_orders("BTC/USDT")] == [entry_id(7)]
