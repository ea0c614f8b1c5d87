from decimal import Decimal

from autohedge.core.clock import NS_PER_S
from autohedge.core.messages import Quote
from autohedge.core.stream_health import ReconnectRun, feed_quiet, fill_may_be_unreported, reconnect_delay_s


def test_failures_within_the_window_degrade_and_older_ones_expire() -> None:
    run = ReconnectRun(max_failures=3, window_s=60)
    assert not run.failed(0)
    assert not run.failed(10 * NS_PER_S)
    assert run.failed(20 * NS_PER_S)
    fresh = ReconnectRun(max_failures=3, window_s=60)
    fresh.failed(0)
    fresh.failed(10 * NS_PER_S)
    assert not fresh.failed(61 * NS_PER_S)  # the first one left the window


def test_a_connection_up_for_reset_after_restarts_the_backoff_but_keeps_the_window() -> None:
    run = ReconnectRun(max_failures=3, window_s=60, reset_after_s=10)
    run.failed(0)
    run.succeeded(NS_PER_S)
    assert not run.failed(2 * NS_PER_S) and run.consecutive == 2  # dropped after 1 s: still failing
    run.succeeded(3 * NS_PER_S)
    assert run.failed(13 * NS_PER_S)  # a stream that drops after every connect still fails too often
    assert run.consecutive == 1  # but that connection stayed up 10 s: the backoff starts over


def test_reconnect_waits_for_the_venue_when_it_says_longer_than_the_backoff() -> None:
    assert reconnect_delay_s(0.5, 0.0) == 0.5
    assert reconnect_delay_s(0.5, 19.2) == 19.2
    assert reconnect_delay_s(2.0, -1.0) == 2.0


def test_simulation_found_resting_entry_traded_through_after_its_newest_event_may_be_unreported() -> None:
    quote = Quote(
        venue="paper", symbol="BTC/USDT", bid=Decimal("99.9"), ask=Decimal(100), ts_event=50, ts_init=50
    )

    assert fill_may_be_unreported(Decimal(100), 40, quote)
    assert not fill_may_be_unreported(Decimal(100), 50, quote)  # the event of this quote's trade came
    assert not fill_may_be_unreported(Decimal("99.99"), 40, quote)  # the market did not reach it


def test_simulation_found_a_feed_quiet_longer_than_the_promise_leaves_the_venue_to_tell() -> None:
    assert not feed_quiet(0, NS_PER_S, max_age_s=1.0)  # its newest quote one second old: a quiet market
    assert feed_quiet(0, NS_PER_S + 1, max_age_s=1.0)  # older: stalled, the venue may have traded
    assert feed_quiet(None, 0, max_age_s=1.0)  # never heard
