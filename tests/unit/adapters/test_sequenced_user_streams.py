"""What the Coinbase user channel and the Kraken executions channel share, against each local fake:
their frames are numbered, so a snapshot of open orders reports nothing, a gap in the sequence ends the
connection, and a dropped socket is reported."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pytest

from autohedge.core.ports import UserStream
from tests.fakes.order_sink import streaming
from tests.fakes.sequenced import SequencedVenue
from tests.ids import entry_id
from tests.unit.adapters.coinbase import test_user_stream as coinbase
from tests.unit.adapters.kraken import test_user_stream as kraken


@dataclass(frozen=True)
class Venue:
    name: str
    quoted_fake: Callable[[], AbstractContextManager[Any]]
    """The venue's fake, BTC/USD quoted, as a context manager."""
    user_stream: Callable[[Any], UserStream]
    place: Callable[[Any, str], str]
    """Place a resting buy with this client order id over REST; its venue order id."""


VENUES = [
    Venue("coinbase", coinbase.quoted_fake, coinbase.user_stream, coinbase.place),
    Venue("kraken", kraken.quoted_fake, kraken.user_stream, kraken.place),
]


@pytest.fixture(params=VENUES, ids=lambda v: v.name)
def venue(request: pytest.FixtureRequest) -> Venue:
    chosen: Venue = request.param
    return chosen


@pytest.fixture
def fake(venue: Venue) -> Iterator[SequencedVenue]:
    with venue.quoted_fake() as server:
        yield server


def test_user_stream_snapshot_of_open_orders_reports_nothing(venue: Venue, fake: SequencedVenue) -> None:
    venue.place(fake, entry_id(3))
    with streaming(venue.user_stream(fake)) as sink, pytest.raises(queue.Empty):
        sink.updates.get(timeout=0.3)


def test_user_stream_sequence_gap_ends_the_connection(venue: Venue, fake: SequencedVenue) -> None:
    with streaming(venue.user_stream(fake)) as sink:
        fake.faults.sequence_gap_next = True
        venue.place(fake, entry_id(8))
        assert "lost frames" in sink.disconnected.get(timeout=5)


def test_user_stream_dropped_socket_is_reported(venue: Venue, fake: SequencedVenue) -> None:
    with streaming(venue.user_stream(fake)) as sink:
        fake.drop_clients()
        assert sink.disconnected.get(timeout=5)
