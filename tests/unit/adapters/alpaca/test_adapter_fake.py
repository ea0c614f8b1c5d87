"""The Alpaca adapter and streams against the local fake venue (127.0.0.1)."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from autohedge.adapters.alpaca.adapter import AlpacaExchange, create_exchange, create_stream_factory
from autohedge.app import check_credentials
from autohedge.core.clock import RealClock
from autohedge.core.config import AppConfig, Secrets, parse_config
from autohedge.core.errors import AuthError, OrderRefused, OutcomeUnknown
from autohedge.core.messages import OrderRequest
from autohedge.core.types import OrderStatus, Side
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca
from tests.fakes.sink import QueueSink
from tests.ids import entry_id

D = Decimal


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(crypto=["BTC/USD"], stocks=["AAPL/USD"]) as server:
        server.push_quote("BTC/USD", D(60000), D("60000.5"))
        server.push_quote("AAPL/USD", D("173.01"), D("173.09"))
        yield server


def config(fake: FakeAlpaca, timeout_s: float = 5.0) -> AppConfig:
    return parse_config(
        {
            "exchange": {"venue": "alpaca", "market_data": "alpaca"},
            "symbols": ["BTC/USD", "AAPL/USD"],
            "venues": {
                "alpaca": {
                    "rest_url": fake.rest_url,
                    "data_rest_url": fake.rest_url,
                    "ws_url": fake.crypto_ws_url,
                    "stocks_ws_url": fake.stocks_ws_url,
                    "timeout_s": timeout_s,
                }
            },
        }
    )


def secrets(key: str = KEY_ID) -> Secrets:
    return Secrets(
        autohedge_alpaca_api_key_id=SecretStr(key), autohedge_alpaca_api_secret_key=SecretStr(SECRET_KEY)
    )


def exchange(fake: FakeAlpaca, *, key: str = KEY_ID, timeout_s: float = 5.0) -> AlpacaExchange:
    return create_exchange(config(fake, timeout_s), secrets(key), RealClock())


def buy(
    coid: str = entry_id(1),
    symbol: str = "BTC/USD",
    qty: str = "0.01",
    price: str = "59000",
) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol=symbol, side=Side.BUY, qty=D(qty), price=D(price))


def test_adapter_crypto_order_body_uses_slash_symbol_and_strings(fake: FakeAlpaca) -> None:
    exchange(fake).submit_order(buy(price="59000.10"))
    ((_, _, body),) = fake.requests("/v2/orders")
    assert body == {
        "symbol": "BTC/USD",
        "qty": "0.01",
        "side": "buy",
        "type": "limit",
        "time_in_force": "gtc",
        "limit_price": "59000.1",
        "client_order_id": entry_id(1),
    }


def test_adapter_open_orders_pass_over_another_clients_market_and_stop_orders(fake: FakeAlpaca) -> None:
    # Ours are limit or stop-limit orders; one without a limit price failed the whole listing (and the
    # reconciliation that read it).
    ex = exchange(fake)
    ours = OrderRequest(
        client_order_id=entry_id(7), symbol="BTC/USD", side=Side.BUY, qty=D("0.01"), price=D(59000)
    )
    ex.submit_order(ours)
    base = {"symbol": "BTC/USD", "asset_class": "crypto", "side": "sell", "qty": "0.5", "filled_qty": "0"}
    for n, kind in enumerate(("market", "stop")):
        fake.foreign_orders.append(
            base
            | {
                "id": f"00000000-0000-0000-0000-00000000000{n}",
                "client_order_id": f"manual-{n}",
                "type": kind,
            }
            | {"limit_price": None, "stop_price": "50000" if kind == "stop" else None, "status": "new"}
            | {"time_in_force": "gtc", "updated_at": "2026-12-02T00:00:00Z", "filled_avg_price": None}
        )

    assert [o.client_order_id for o in ex.open_orders()] == [entry_id(7)]


def test_adapter_stock_order_uses_the_ticker_and_positions_map_back(fake: FakeAlpaca) -> None:
    ex = exchange(fake)
    filled = ex.submit_order(buy(symbol="AAPL/USD", qty="1.5", price="173.10"))
    assert filled.status is OrderStatus.FILLED and fake.requests("/v2/orders")[0][2]["symbol"] == "AAPL"
    (position,) = ex.positions(["AAPL/USD", "BTC/USD"])
    assert (
        position.symbol == "AAPL/USD" and position.qty == D("1.5") and position.avg_entry_price == D("173.09")
    )


def test_adapter_crypto_position_from_btcusd(fake: FakeAlpaca) -> None:
    ex = exchange(fake)
    ex.submit_order(buy(price="60001"))
    (position,) = ex.positions(["BTC/USD"])
    assert position.symbol == "BTC/USD" and position.qty == D("0.01")


def test_adapter_cancel_is_204_then_read_back(fake: FakeAlpaca) -> None:
    ex = exchange(fake)
    placed = ex.submit_order(buy())
    assert ex.cancel_order("BTC/USD", client_order_id=entry_id(1)).status is OrderStatus.CANCELED
    assert placed.venue_order_id.count("-") == 4  # a uuid


def test_adapter_slow_submit_is_outcome_unknown(fake: FakeAlpaca) -> None:
    ex = exchange(fake, timeout_s=0.3)
    ex.symbol_rules("BTC/USD")
    fake.faults.delay_s = 1.0
    with pytest.raises(OutcomeUnknown):
        ex.submit_order(buy())


def test_adapter_refuses_off_increment_quantity_before_sending(fake: FakeAlpaca) -> None:
    ex = exchange(fake)
    with pytest.raises(OrderRefused, match="multiple"):
        ex.submit_order(buy(qty="0.0000001"))
    assert fake.requests("/v2/orders") == []


def test_adapter_bad_keys_name_the_variables(fake: FakeAlpaca) -> None:
    with pytest.raises(AuthError, match="AUTOHEDGE_ALPACA_API_KEY_ID"):
        exchange(fake, key="wrong").balances()


def test_credentials_check_spends_from_the_trading_exchanges_budget(fake: FakeAlpaca) -> None:
    # On a budget of its own, the start-up check was the 201st request of 200 the venue saw in 60 s once
    # the trading budget had spent all it has (e2e, fifty symbols under load).
    trading = exchange(fake)
    check_credentials(config(fake), clock=RealClock(), secrets=secrets(), exchange=trading)
    assert trading.request_budget.used_total == 1 and fake.requests_window.used == 1


def test_adapter_best_quote_from_data_api_is_exact(fake: FakeAlpaca) -> None:
    quote = exchange(fake).best_quote("BTC/USD")
    assert (quote.bid, quote.ask) == (D(60000), D("60000.5"))


def subscribed_stream(fake: FakeAlpaca, expected: set[str]) -> tuple[Any, QueueSink]:
    stream = create_stream_factory(config(fake), RealClock(), secrets())()
    sink = QueueSink()
    stream.start(["BTC/USD", "AAPL/USD"], sink)
    for _ in range(500):  # wait on the fake's state: both subscriptions registered
        if fake.subscribed() >= expected:
            break
        try:
            raise AssertionError(f"stream ended: {sink.disconnected.get(timeout=0.01)}")
        except queue.Empty:
            pass
    assert fake.subscribed() >= expected
    return stream, sink


def test_streams_authenticate_subscribe_and_deliver_crypto_and_stock_quotes(fake: FakeAlpaca) -> None:
    stream, sink = subscribed_stream(fake, {"BTC/USD", "AAPL"})
    fake.push_quote("BTC/USD", D("60001.25"), D("60002.5"))
    fake.push_quote("AAPL/USD", D("173.5"), D("173.55"))
    got = {q.symbol: q for q in (sink.quotes.get(timeout=5), sink.quotes.get(timeout=5))}
    stream.stop()
    assert got["BTC/USD"].bid == D("60001.25") and got["AAPL/USD"].ask == D("173.55")


def test_stream_malformed_then_quotes_continue(fake: FakeAlpaca) -> None:
    stream, sink = subscribed_stream(fake, {"BTC/USD", "AAPL"})
    fake.send_malformed()
    fake.push_quote("BTC/USD", D(60010), D(60011))
    assert sink.malformed.get(timeout=5).startswith("alpaca frame is not JSON")
    assert sink.quotes.get(timeout=5).bid == D(60010)
    stream.stop()


def test_stream_second_connection_gets_406_and_reports_it(fake: FakeAlpaca) -> None:
    first, _ = subscribed_stream(fake, {"BTC/USD", "AAPL"})
    second = create_stream_factory(config(fake), RealClock(), secrets())()
    sink = QueueSink()
    second.start(["BTC/USD", "AAPL/USD"], sink)
    assert "406" in sink.disconnected.get(timeout=5)
    second.stop()
    first.stop()
    assert fake.rejected_connections >= 1


def test_stream_dropped_socket_reports_disconnected(fake: FakeAlpaca) -> None:
    stream, sink = subscribed_stream(fake, {"BTC/USD", "AAPL"})
    fake.drop_clients()
    assert sink.disconnected.get(timeout=5)
    stream.stop()
