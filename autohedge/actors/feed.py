"""FeedActor: owns one market stream (connection, subscriptions) and its data-liveness watchdog.

Quotes do not pass through this actor's inbox: the stream's reader thread hands each batch of quotes
(what it drained from its socket at once) to a ``FeedSink``, which conflates per symbol and tells the
strategies (or the one strategy runner) and the monitor directly, each at most once per batch. The actor
handles only lifecycle: start the stream, crash on disconnect (the supervisor restarts it with
backoff) and on silence (the watchdog), report staleness so entries on the venue pause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from loguru import logger

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.actors.directory import Directory
from autohedge.actors.protocol import CheckLiveness, MarketDataGap, QuotesPending, StreamDisconnected
from autohedge.core.actor_names import EXECUTOR, MONITOR, STRATEGY_RUNNER, ActorName, strategy_name
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.conflate import LatestSlots, WatchedSlots
from autohedge.core.messages import Quote, VenueDataResumed, VenueDataStale
from autohedge.core.metrics import Metrics
from autohedge.core.ports import MarketStream

__all__ = ["FeedActor", "FeedSink", "StaleFeedError", "StreamDisconnectedError"]


_QUOTES_PENDING = QuotesPending()  # frozen: one instance serves every wake-up


class StreamDisconnectedError(ConnectionError):
    """The market stream's connection ended; the feed crashes so the supervisor restarts it."""


class StaleFeedError(TimeoutError):
    """No data for longer than ``feed.stale_after_s``."""


class FeedSink:
    """Receives from a stream's reader thread (must not block): counts, conflates, tells by name."""

    def __init__(
        self,
        *,
        feed_name: ActorName,
        clock: Clock,
        directory: Directory,
        metrics: Metrics,
        strategy_slots: LatestSlots[Quote],
        monitor_slots: WatchedSlots[Quote],
        runner_slots: WatchedSlots[Quote] | None = None,
        market_listener: Callable[[Quote], None] | None = None,
    ) -> None:
        """``runner_slots``: the strategy runner's (``hft.shared_runner``): one wake-up per batch for
        every symbol's strategy instead of one per symbol (``strategy_slots`` is then unused)."""
        self.feed_name = feed_name
        self._clock = clock
        self._directory = directory
        self._metrics = metrics
        self._strategy_slots = strategy_slots
        self._monitor_slots = monitor_slots
        self._runner_slots = runner_slots
        self._market_listener = market_listener
        self.last_quote_ns = clock.monotonic_ns()
        self.received = 0
        self._malformed_logged = 0

    def on_quote(self, quote: Quote) -> None:
        """Reader thread: a batch of one."""
        self.on_quotes((quote,))

    def on_quotes(self, quotes: Sequence[Quote]) -> None:
        """Reader thread: every quote the stream drained from its socket at once, oldest first.

        The paper matcher sees every quote; the strategies and the monitor get the newest per symbol
        of the batch, and each receiver is told at most once per batch (and only when it has taken
        what it was last told): waking a thread costs more than deciding on a quote."""
        if not quotes:
            return
        self.last_quote_ns = self._clock.monotonic_ns()
        self.received += len(quotes)
        self._metrics.inc("quotes", len(quotes))
        if self._market_listener is not None:
            for quote in quotes:
                self._market_listener(quote)  # paper matching sees every quote, never conflated
        newest = {quote.symbol: quote for quote in quotes}
        skipped = len(quotes) - len(newest)
        tell = self._directory.tell_if_present
        runner = self._runner_slots
        if runner is not None:
            conflated = runner.conflated  # this thread is the only one offering: the count is ours
            if runner.offer_batch(newest) and not tell(STRATEGY_RUNNER, _QUOTES_PENDING):
                runner.wake_lost()
            skipped += runner.conflated - conflated
        else:
            woken = self._strategy_slots.offer_batch(newest)
            skipped += len(newest) - len(woken)
            for symbol in woken:
                if not tell(strategy_name(symbol), newest[symbol]):
                    self._strategy_slots.reset(symbol)
        if skipped:
            self._metrics.inc("quotes_conflated", skipped)
        if self._monitor_slots.offer_batch(newest) and not tell(MONITOR, _QUOTES_PENDING):
            self._monitor_slots.wake_lost()

    def on_malformed(self, raw: str | bytes, error: str) -> None:
        """Reader thread: count and skip; log the first few in full, then every 1000th. A binary frame
        is shown as text (a format spec on bytes would itself fail)."""
        self._metrics.inc("malformed_messages")
        self._malformed_logged += 1
        if self._malformed_logged <= 5 or self._malformed_logged % 1000 == 0:
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            logger.warning("{}: malformed message skipped ({}): {}", self.feed_name, error, text[:200])

    def on_disconnected(self, error: str) -> None:
        """Reader thread."""
        self._directory.tell_if_present(self.feed_name, StreamDisconnected(error=error))


class FeedActor(SupervisedActor):
    """One per market stream."""

    def __init__(
        self,
        ctx: ActorContext,
        *,
        venue: str,
        stream_factory: Callable[[], MarketStream],
        sink: FeedSink,
        symbols: Sequence[str],
        stale_after_s: float,
    ) -> None:
        super().__init__(ctx)
        self.venue = venue
        self._stream_factory = stream_factory
        self._sink = sink
        self._symbols = tuple(symbols)
        self._stale_after_s = stale_after_s
        self._stream: MarketStream | None = None
        self._resumed_reported = False
        self._received_at_start = 0

    def started(self) -> None:
        self._sink.last_quote_ns = self.ctx.clock.monotonic_ns()
        self._received_at_start = self._sink.received
        self._stream = self._stream_factory()
        self._stream.start(self._symbols, self._sink)
        self.schedule(self._check_interval_s, CheckLiveness())
        if self.ctx.incarnation > 1:
            # Started again after a crash (a disconnect, a stall): what the market did meanwhile was
            # never seen here (simulation, .ci/simulate.yaml with faults turned up, seed 8 at 1426 s: a
            # resting entry traded at a lost quote; its late event left it 2.3 s without an exit).
            self.ctx.directory.tell_if_present(EXECUTOR, MarketDataGap(venue=self.venue))

    @property
    def _check_interval_s(self) -> float:
        return self._stale_after_s / 2

    def stopping(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream = None

    def on_stream_disconnected(self, message: StreamDisconnected) -> None:
        raise StreamDisconnectedError(f"{self.venue} stream disconnected: {message.error}")

    def on_check_liveness(self, _: CheckLiveness) -> None:
        silent_s = (self.ctx.clock.monotonic_ns() - self._sink.last_quote_ns) / NS_PER_S
        if silent_s > self._stale_after_s:
            self.ctx.report(VenueDataStale(venue=self.venue, silent_s=silent_s))
            raise StaleFeedError(f"{self.venue}: no market data for {silent_s:.1f}s")
        if not self._resumed_reported and self._sink.received > self._received_at_start:
            self._resumed_reported = True
            self.ctx.report(VenueDataResumed(venue=self.venue))
        self.schedule(self._check_interval_s, CheckLiveness())
