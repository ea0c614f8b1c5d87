"""One behaviour suite for every venue's private order stream (paper in-process, the fakes over
websockets): order events by push, keyed by the venue order id and our client order id."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from autohedge.core.messages import OrderEventKind
from autohedge.core.ports import UserStream
from autohedge.core.types import OrderStatus, Side, base_of
from tests.contract.conftest import VenueUnderTest
from tests.contract.test_exchange_contract import limit
from tests.fakes.order_sink import OrderQueueSink, streaming

D = Decimal


@pytest.fixture
def stream(venue: VenueUnderTest) -> Iterator[tuple[UserStream, OrderQueueSink]]:
    if venue.user_stream is None:
        pytest.skip(f"{venue.name} has no user stream")
    user_stream = venue.user_stream()
    with streaming(user_stream) as sink:
        yield user_stream, sink


def test_user_stream_contract_resting_order_is_accepted_then_canceled_by_its_own_id(
    venue: VenueUnderTest, stream: tuple[UserStream, OrderQueueSink]
) -> None:
    _, sink = stream
    venue.push_quote(venue.symbol, D(50000), D(50001))
    placed = venue.exchange.submit_order(limit(venue, "cs-rest", Side.BUY, D("0.01"), D(49000)))

    accepted = sink.next_update("cs-rest")
    venue.exchange.cancel_order(venue.symbol, client_order_id="cs-rest")
    canceled = sink.next_update("cs-rest")

    assert accepted.kind is OrderEventKind.ACCEPTED and accepted.venue_order_id == placed.venue_order_id
    assert accepted.symbol == venue.symbol and accepted.side is Side.BUY and accepted.order_qty == D("0.01")
    assert canceled.kind is OrderEventKind.CANCELED and canceled.venue_order_id == placed.venue_order_id


def test_user_stream_contract_fill_carries_last_qty_price_and_a_trade_id(
    venue: VenueUnderTest, stream: tuple[UserStream, OrderQueueSink]
) -> None:
    _, sink = stream
    venue.push_quote(venue.symbol, D(49999), D(50000))
    venue.exchange.submit_order(limit(venue, "cs-fill", Side.BUY, D("0.01"), D(50010)))
    venue.push_quote(venue.symbol, D(49999), D(50000))

    events = [sink.next_update("cs-fill")]
    while not events[-1].kind.is_terminal:
        events.append(sink.next_update("cs-fill"))

    fills = [e for e in events if e.kind.is_fill]
    assert events[-1].kind is OrderEventKind.FILLED and events[-1].cum_filled_qty == D("0.01")
    assert sum((f.last_qty for f in fills), D(0)) == D("0.01")
    assert all(f.last_price <= D(50010) and f.trade_id for f in fills)
    assert len({f.fill_key for f in fills}) == len(fills)
    record = venue.exchange.get_order(venue.symbol, client_order_id="cs-fill")
    assert record.status is OrderStatus.FILLED and record.venue_order_id == events[-1].venue_order_id
    if events[-1].fee > 0:
        assert events[-1].fee_asset in (base_of(venue.symbol), venue.symbol.split("/")[1])


def test_user_stream_contract_balances_are_pushed_on_the_lock_and_on_its_release(
    venue: VenueUnderTest, stream: tuple[UserStream, OrderQueueSink]
) -> None:
    """Binance pushes ``outboundAccountPosition`` on every balance change, not only after fills."""
    if venue.name != "binance":
        pytest.skip(f"{venue.name} pushes no balances on its order stream")
    _, sink = stream
    venue.push_quote(venue.symbol, D(50000), D(50001))
    venue.exchange.submit_order(limit(venue, "cs-lock", Side.BUY, D("0.01"), D(49000)))
    assert sink.next_update("cs-lock").kind is OrderEventKind.ACCEPTED
    placed = sink.balances.get(timeout=5)
    assert {b.asset: b.locked for b in placed.balances} == {"USDT": D(490)}

    venue.exchange.cancel_order(venue.symbol, client_order_id="cs-lock")
    assert sink.next_update("cs-lock").kind is OrderEventKind.CANCELED
    released = sink.balances.get(timeout=5)
    assert [(b.asset, b.free, b.locked) for b in released.balances] == [("USDT", D(100_000), D(0))]
    assert placed.ts_event <= released.ts_event
