"""What the Coinbase and Kraken streams share, against each local fake: the user channel (Coinbase) and
the executions channel (Kraken) number their frames, so a snapshot of open orders reports nothing, a gap
in the sequence ends the connection, and a dropped socket is reported; both promise heartbeats, which
keep a quiet user stream from being taken for stalled; the market stream delivers tickers, counts a
malformed frame and reports a drop."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import pytest

from autohedge.adapters.coinbase.ws import CoinbaseMarketStream
from autohedge.adapters.kraken.ws import KrakenMarketStream
from autohedge.core.clock import RealClock
from autohedge.core.ports import MarketStream, UserStream
from tests.fakes.order_sink import streaming
from tests.fakes.sequenced import SequencedFaults
from tests.fakes.sink import QueueSink
from tests.ids import entry_id
from tests.unit.adapters.coinbase import test_user_stream as coinbase
from tests.unit.adapters.kraken import test_user_stream as kraken


class StreamFake(Protocol):
    """What these tests use of the Coinbase and Kraken fakes."""

    @property
    def faults(self) -> SequencedFaults: ...

    def push_quote(self, symbol: str, bid: Decimal, ask: Decimal) -> None: ...

    def send_malformed(self) -> None: ...

    def send_heartbeat(self) -> None: ...

    def drop_clients(self) -> None: ...

    def wait_for_subscribers(self, channel: str, count: int, timeout_s: float = 5.0) -> None: ...


@dataclass(frozen=True)
class Venue:
    name: str
    quoted_fake: Callable[[], AbstractContextManager[Any]]
    """The venue's fake, BTC/USD quoted, as a context manager."""
    user_stream: Callable[[Any], UserStream]
    place: Callable[[Any, str], str]
    """Place a resting buy with this client order id over REST; its venue order id."""
    market_stream: Callable[[Any], MarketStream]
    ticker_topic: str
    """What the fake lists a BTC/USD ticker subscriber under."""
    heartbeat_topic: str
    """What the fake lists the user stream's heartbeat subscriber under."""


VENUES = [
    Venue(
        "coinbase",
        coinbase.quoted_fake,
        coinbase.user_stream,
        coinbase.place,
        lambda fake: CoinbaseMarketStream(
            ws_url=fake.ws_url, clock=RealClock(), symbols={"BTC-USD": "BTC/USD"}
        ),
        "ticker",
        "heartbeats",
    ),
    Venue(
        "kraken",
        kraken.quoted_fake,
        kraken.user_stream,
        kraken.place,
        lambda fake: KrakenMarketStream(ws_url=fake.ws_url, clock=RealClock(), symbols=["BTC/USD"]),
        "BTC/USD",
        "executions",
    ),
]


@pytest.fixture(params=VENUES, ids=lambda v: v.name)
def venue(request: pytest.FixtureRequest) -> Venue:
    chosen: Venue = request.param
    return chosen


@pytest.fixture
def fake(venue: Venue) -> Iterator[StreamFake]:
    with venue.quoted_fake() as server:
        yield server


def test_user_stream_snapshot_of_open_orders_reports_nothing(venue: Venue, fake: StreamFake) -> None:
    venue.place(fake, entry_id(3))
    with streaming(venue.user_stream(fake)) as sink, pytest.raises(queue.Empty):
        sink.updates.get(timeout=0.3)


def test_user_stream_sequence_gap_ends_the_connection(venue: Venue, fake: StreamFake) -> None:
    with streaming(venue.user_stream(fake)) as sink:
        fake.faults.sequence_gap_next = True
        venue.place(fake, entry_id(8))
        assert "lost frames" in sink.disconnected.get(timeout=5)


def test_user_stream_heartbeat_tells_the_sink_the_stream_is_alive(venue: Venue, fake: StreamFake) -> None:
    """The venue beats about once a second: each beat reaches the sink, so a quiet but live stream is
    never taken for stalled, and the stream says how long a silence means it is."""
    stream = venue.user_stream(fake)
    with streaming(stream) as sink:
        fake.wait_for_subscribers(venue.heartbeat_topic, 1)
        fake.send_heartbeat()
        sink.heartbeats.get(timeout=5)
    assert stream.max_silence_s is not None and stream.max_silence_s >= 5


def test_user_stream_dropped_socket_is_reported(venue: Venue, fake: StreamFake) -> None:
    with streaming(venue.user_stream(fake)) as sink:
        fake.drop_clients()
        assert sink.disconnected.get(timeout=5)


def test_fake_market_stream_delivers_tickers_and_reports_a_drop(venue: Venue, fake: StreamFake) -> None:
    sink = QueueSink()
    stream = venue.market_stream(fake)
    stream.start(["BTC/USD"], sink)
    try:
        fake.wait_for_subscribers(venue.ticker_topic, 1)
        fake.push_quote("BTC/USD", Decimal("50001.1"), Decimal("50002.2"))
        quote = sink.quotes.get(timeout=5)
        assert (quote.bid, quote.ask) == (Decimal("50001.1"), Decimal("50002.2"))
        fake.send_malformed()
        assert "not JSON" in sink.malformed.get(timeout=5)
        fake.drop_clients()
        assert sink.disconnected.get(timeout=5)
    finally:
        stream.stop()
