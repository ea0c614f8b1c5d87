"""The one owner of the Binance server-time offset: measured against the read's midpoint, applied to
every signed timestamp, kept when a read is refused."""

from __future__ import annotations

import pytest

from autohedge.adapters.binance.rest import ServerClock
from autohedge.core.clock import ManualClock
from autohedge.core.errors import RateLimited

NS_PER_MS = 1_000_000


def test_sync_measures_the_offset_against_the_middle_of_the_round_trip() -> None:
    clock = ManualClock()
    local_ms = clock.wall_ns() // NS_PER_MS

    def read_server_ms() -> int:
        clock.advance(0.2)  # a 200 ms round trip: the server answered half-way through it
        return local_ms + 100 + 5000

    server = ServerClock(clock, read_server_ms)
    assert server.sync() == 5000
    assert server.offset_ms == 5000 and server.syncs == 1
    assert server.timestamp_ms() == clock.wall_ns() // NS_PER_MS + 5000


def test_timestamp_follows_the_local_clock_with_the_offset() -> None:
    clock = ManualClock()
    server = ServerClock(clock, lambda: clock.wall_ns() // NS_PER_MS - 1500)
    server.sync()
    clock.advance(3.0)
    assert server.timestamp_ms() == clock.wall_ns() // NS_PER_MS - 1500


def test_a_refused_read_keeps_the_offset_and_is_not_counted_as_a_sync() -> None:
    clock = ManualClock()
    answers: list[int | None] = [clock.wall_ns() // NS_PER_MS + 700, None]

    def read_server_ms() -> int:
        answer = answers.pop(0)
        if answer is None:
            raise RateLimited("binance: sending paused by the venue", venue="binance", retry_after_s=30.0)
        return answer

    server = ServerClock(clock, read_server_ms)
    server.sync()
    with pytest.raises(RateLimited):
        server.sync()
    assert server.offset_ms == 700 and server.syncs == 1
