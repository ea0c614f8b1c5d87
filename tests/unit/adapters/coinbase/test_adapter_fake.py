"""The Coinbase adapter against the local fake: what reaches the venue, and pushback as typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from autohedge.adapters.coinbase.adapter import CoinbaseExchange, check_credentials, create_exchange
from autohedge.adapters.coinbase.constants import CAPABILITIES
from autohedge.core.clock import RealClock
from autohedge.core.config import AppConfig, Secrets, parse_config
from autohedge.core.errors import AuthError, OrderRefused, UnknownOrder
from autohedge.core.messages import OrderRequest
from autohedge.core.types import OrderStatus, OrderType, Side
from tests.fakes.coinbase import API_KEY, API_SECRET, FakeCoinbase
from tests.ids import entry_id

D = Decimal


ENTRY1 = entry_id(1)


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase(products=["BTC/USD"]) as server:
        server.push_quote("BTC/USD", D(50000), D("50000.5"))
        yield server


def config(fake: FakeCoinbase) -> AppConfig:
    return parse_config(
        {
            "exchange": {"venue": "coinbase", "market_data": "coinbase"},
            "symbols": ["BTC/USD"],
            "venues": {"coinbase": {"rest_url": fake.rest_url, "ws_url": fake.ws_url, "timeout_s": 2}},
        }
    )


def secrets(key: str = API_KEY, secret: str = API_SECRET) -> Secrets:
    return Secrets(autohedge_coinbase_api_key=SecretStr(key), autohedge_coinbase_api_secret=SecretStr(secret))


def exchange(fake: FakeCoinbase) -> CoinbaseExchange:
    return create_exchange(config(fake), secrets(), RealClock())


def order(coid: str = ENTRY1, price: str = "49000", **extra: object) -> OrderRequest:
    return OrderRequest.model_validate(
        {
            "client_order_id": coid,
            "symbol": "BTC/USD",
            "side": Side.BUY,
            "qty": D("0.01"),
            "price": D(price),
            **extra,
        }
    )


def test_adapter_limit_order_reaches_the_venue_as_decimal_strings(fake: FakeCoinbase) -> None:
    placed = exchange(fake).submit_order(order(price="49000.10"))
    ((_, _, body),) = fake.requests("/api/v3/brokerage/orders")
    assert body["order_configuration"] == {
        "limit_limit_gtc": {"base_size": "0.01", "limit_price": "49000.1", "post_only": False}
    }
    assert placed.status is OrderStatus.NEW and body["client_order_id"] == ENTRY1


def test_adapter_stop_limit_is_a_sell_stop_down(fake: FakeCoinbase) -> None:
    fake.hold("BTC", D(1))
    stop = order(price="47900").model_copy(
        update={"side": Side.SELL, "order_type": OrderType.STOP_LIMIT, "stop_price": D(48000)}
    )
    exchange(fake).submit_order(stop)
    ((_, _, body),) = fake.requests("/api/v3/brokerage/orders")
    assert (
        body["order_configuration"]["stop_limit_stop_limit_gtc"]["stop_direction"]
        == "STOP_DIRECTION_STOP_DOWN"
    )


def test_adapter_order_off_the_increment_is_refused_before_sending(fake: FakeCoinbase) -> None:
    with pytest.raises(OrderRefused, match="tick"):
        exchange(fake).submit_order(order(price="49000.001"))
    assert fake.requests("/api/v3/brokerage/orders") == []


def test_adapter_unknown_client_id_is_unknown_order(fake: FakeCoinbase) -> None:
    with pytest.raises(UnknownOrder):
        exchange(fake).cancel_order("BTC/USD", client_order_id="ah-nope")


def test_credentials_rejected_by_the_venue_name_the_variables(fake: FakeCoinbase) -> None:
    with pytest.raises(AuthError, match="AUTOHEDGE_COINBASE_API_KEY"):
        check_credentials(config(fake), secrets(key="organizations/x/apiKeys/other"), RealClock())


def test_credentials_missing_name_the_variables(fake: FakeCoinbase) -> None:
    with pytest.raises(AuthError, match="AUTOHEDGE_COINBASE_API_SECRET"):
        check_credentials(config(fake), Secrets(autohedge_coinbase_api_key=SecretStr(API_KEY)), RealClock())


@pytest.mark.parametrize("status", ["PENDING", "QUEUED", "CANCEL_QUEUED"])
def test_adapter_open_orders_lists_a_live_order_the_venue_reports_as_not_yet_open(
    fake: FakeCoinbase, status: str
) -> None:
    """An order the venue holds as PENDING, QUEUED or CANCEL_QUEUED is live: it may still fill (and an
    exit still holds what it sells). The venue's OPEN filter leaves it out, and the open orders are what
    start-up, every reconnect's reconciliation and the monitor's verification take as live."""
    ex = exchange(fake)
    resting = ex.submit_order(order(entry_id(1)))
    waiting = ex.submit_order(order(entry_id(2), price="48000"))
    fake.live_status[waiting.venue_order_id] = status
    listed = {o.client_order_id: o.status for o in ex.open_orders("BTC/USD")}
    assert listed == {resting.client_order_id: OrderStatus.NEW, waiting.client_order_id: OrderStatus.NEW}


def test_adapter_open_orders_pass_over_another_clients_orders_of_other_shapes(fake: FakeCoinbase) -> None:
    """Ours are limit, stop-limit or bracket orders sized in the base asset. Another client's order of any
    other shape (a TWAP, a limit order sized in the quote currency) failed the whole listing, and with
    it start-up adoption and every reconciliation that reads it."""
    ex = exchange(fake)
    ours = ex.submit_order(order(entry_id(1)))
    base = {"product_id": "BTC-USD", "side": "SELL", "status": "OPEN", "filled_size": "0"}
    base |= {"average_filled_price": "0", "total_fees": "0", "created_time": "2026-12-02T00:00:00Z"}
    shapes = [
        {"twap_limit_gtd": {"base_size": "0.5", "limit_price": "70000", "end_time": "2026-12-03T00:00:00Z"}},
        {"limit_limit_gtc": {"quote_size": "100", "limit_price": "70000"}},
    ]
    for n, shape in enumerate(shapes):
        fake.foreign_orders.append(
            base
            | {"order_id": f"foreign-{n}", "client_order_id": f"manual-{n}", "order_configuration": shape}
        )

    assert [o.client_order_id for o in ex.open_orders()] == [ours.client_order_id]
    assert [o.client_order_id for o in ex.open_orders("BTC/USD")] == [ours.client_order_id]


def test_adapter_open_orders_cost_what_the_read_planner_weighs_them(fake: FakeCoinbase) -> None:
    # The planner chooses between a listing and reads one by one by these weights (one request each).
    ex = exchange(fake)
    ex.submit_order(order(entry_id(1)))
    weights = CAPABILITIES.read_weights
    for symbol, weight in (("BTC/USD", weights.open_orders_symbol), (None, weights.open_orders_all)):
        before = len(fake.requests("/api/v3/brokerage/orders/historical/batch"))
        ex.open_orders(symbol)
        assert len(fake.requests("/api/v3/brokerage/orders/historical/batch")) - before == weight
