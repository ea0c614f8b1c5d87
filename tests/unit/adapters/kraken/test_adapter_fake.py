"""The Kraken adapter against the local fake: what reaches the venue, and pushback as typed errors."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from autohedge.adapters.kraken.adapter import KrakenExchange, check_credentials, create_exchange
from autohedge.adapters.transport import HttpResponse
from autohedge.core.clock import RealClock
from autohedge.core.config import AppConfig, Secrets, parse_config
from autohedge.core.errors import AuthError, MalformedMessage, OrderRejected, OutcomeUnknown, RateLimited
from autohedge.core.messages import OrderRequest
from autohedge.core.types import OrderStatus, OrderType, Side
from tests.fakes.kraken import API_KEY, API_SECRET, FakeKraken
from tests.ids import entry_id

D = Decimal


ENTRY1 = entry_id(1)


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(pairs=["BTC/USD"], rest_counter_max=1000) as server:
        server.push_quote("BTC/USD", D(50000), D("50000.5"))
        yield server


def config(fake: FakeKraken, tier: str = "pro") -> AppConfig:
    endpoints = {"rest_url": fake.rest_url, "ws_url": fake.ws_url, "timeout_s": 2, "tier": tier}
    return parse_config(
        {
            "exchange": {"venue": "kraken", "market_data": "kraken"},
            "symbols": ["BTC/USD"],
            "venues": {"kraken": endpoints},
        }
    )


def secrets(secret: str = API_SECRET) -> Secrets:
    return Secrets(autohedge_kraken_api_key=SecretStr(API_KEY), autohedge_kraken_api_secret=SecretStr(secret))


def exchange(fake: FakeKraken, tier: str = "pro") -> KrakenExchange:
    return create_exchange(config(fake, tier), secrets(), RealClock())


def order(coid: str = ENTRY1, price: str = "49000.1", **extra: object) -> OrderRequest:
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


def test_adapter_order_reaches_the_venue_with_altname_and_client_id(fake: FakeKraken) -> None:
    placed = exchange(fake).submit_order(order())
    ((_, _, params),) = fake.requests("/0/private/AddOrder")
    assert (params["pair"], params["price"], params["volume"], params["cl_ord_id"]) == (
        "XBTUSD",
        "49000.1",
        "0.01",
        ENTRY1,
    )
    assert placed.status is OrderStatus.NEW and placed.venue_order_id


def test_adapter_stop_limit_sends_trigger_as_price_and_limit_as_price2(fake: FakeKraken) -> None:
    fake.hold("BTC", D(1))
    stop = order(price="47900").model_copy(
        update={"side": Side.SELL, "order_type": OrderType.STOP_LIMIT, "stop_price": D(48000)}
    )
    exchange(fake).submit_order(stop)
    ((_, _, params),) = fake.requests("/0/private/AddOrder")
    assert (params["ordertype"], params["price"], params["price2"]) == ("stop-loss-limit", "48000", "47900")


def test_adapter_starter_counter_refuses_before_the_venue_does(fake: FakeKraken) -> None:
    ex = exchange(fake, tier="starter")

    def read_balances(times: int) -> None:
        for _ in range(times):
            ex.balances()

    with pytest.raises(RateLimited, match="counter"):
        read_balances(20)
    assert len(fake.requests("/0/private/BalanceEx")) < 15  # the venue never had to refuse


def test_adapter_cancel_of_a_filled_order_is_rejected_not_unknown(fake: FakeKraken) -> None:
    ex = exchange(fake)
    ex.submit_order(order("ah-fill", price="50010.0"))
    with pytest.raises(OrderRejected, match="filled"):
        ex.cancel_order("BTC/USD", client_order_id="ah-fill")


def test_credentials_rejected_by_the_venue_name_the_variables(fake: FakeKraken) -> None:
    with pytest.raises(AuthError, match="AUTOHEDGE_KRAKEN_API_KEY"):
        check_credentials(config(fake), secrets(base64.b64encode(b"wrong").decode()), RealClock())


@pytest.mark.parametrize(
    "body", [b"<html>502 Bad Gateway</html>", b'{"error":[]}', b'{"error":[],"result":{}}']
)
def test_adapter_unreadable_answer_to_a_placed_order_is_outcome_unknown(
    fake: FakeKraken, body: bytes
) -> None:
    # The order reached the venue; its answer (HTTP 200) cannot be read. Like every other venue's
    # (Transport.decode), that is an unknown outcome resolved by client id, never a MalformedMessage
    # escaping the monitor's exit path.
    ex = exchange(fake)
    ex.symbol_rules("BTC/USD")  # pairs loaded before the answers are garbled
    send = ex._rest._transport.send

    def garbled(*args: object, **kwargs: object) -> HttpResponse:
        response = send(*args, **kwargs)  # type: ignore[arg-type]
        return dataclasses.replace(response, content=body)

    ex._rest._transport.send = garbled  # type: ignore[method-assign]
    with pytest.raises(OutcomeUnknown):
        ex.submit_order(order("ah-garbled"))
    ex._rest._transport.send = send  # type: ignore[method-assign]
    assert ex.get_order("BTC/USD", client_order_id="ah-garbled").status is OrderStatus.NEW


@pytest.mark.parametrize(
    ("level", "match"),
    [
        ({"a": ["NaN", "1", "1.000"]}, "kraken Ticker ask is not a finite decimal"),
        ({"b": ["50000", "1", "Infinity"]}, "kraken Ticker bid volume is not a finite decimal"),
        ({"b": ["50000"]}, "lacks a/b price levels"),
    ],
)
def test_adapter_best_quote_with_a_level_it_cannot_read_is_a_malformed_answer(
    fake: FakeKraken, monkeypatch: pytest.MonkeyPatch, level: dict[str, list[str]], match: str
) -> None:
    ex = exchange(fake)
    answer = {"a": ["50000.5", "1", "1.000"], "b": ["50000", "1", "1.000"]} | level
    monkeypatch.setattr(ex._rest, "ticker", lambda altname: answer)
    with pytest.raises(MalformedMessage, match=match):
        ex.best_quote("BTC/USD")
