"""FeedSink on a stream's reader thread: a malformed frame is counted and skipped, also a binary one."""

from __future__ import annotations

from autohedge.actors.directory import Directory
from autohedge.actors.feed import FeedSink
from autohedge.core.actor_names import feed_name
from autohedge.core.clock import ManualClock
from autohedge.core.conflate import LatestSlots, WatchedSlots
from autohedge.core.metrics import Metrics


def sink() -> tuple[FeedSink, Metrics]:
    metrics = Metrics()
    return (
        FeedSink(
            feed_name=feed_name("alpaca"),
            clock=ManualClock(),
            directory=Directory(metrics),
            metrics=metrics,
            strategy_slots=LatestSlots(),
            monitor_slots=WatchedSlots(),
        ),
        metrics,
    )


def test_feed_sink_malformed_binary_frame_is_counted_not_an_error() -> None:
    feed, metrics = sink()

    feed.on_malformed(b'[{"T":"q","S":"BTC/USD","bp":"oops"}]', "alpaca quote: bp invalid")
    feed.on_malformed('[{"T":"q"', "alpaca frame is not JSON")

    assert metrics.get("malformed_messages") == 2
