"""RequestBudget: venue limits in wall-aligned windows, the entry reserve, pauses, usage headers, state."""

from __future__ import annotations

import pytest

from autohedge.core.clock import NS_PER_S, ManualClock
from autohedge.core.errors import RateLimited
from autohedge.core.ratelimit import (
    DEGRADED_AFTER_FAILURES,
    ROLLING_GUARD_S,
    LimitKind,
    LimitRule,
    RequestBudget,
)

MINUTE_START_S = 1_700_000_040  # on a minute boundary


def budget(capacity: float = 100, reserve: float = 0.2) -> tuple[ManualClock, RequestBudget]:
    clock = ManualClock(start_wall_ns=MINUTE_START_S * NS_PER_S)
    return clock, RequestBudget(clock, venue="v", capacity=capacity, per_s=60, reserve_fraction=reserve)


def test_budget_entries_stop_at_the_reserve_exits_use_the_whole_window() -> None:
    clock, b = budget()
    for _ in range(80):
        b.acquire(1)
    with pytest.raises(RateLimited) as refused:
        b.acquire(1)
    assert refused.value.retry_after_s == pytest.approx(60.0)
    for _ in range(20):
        b.acquire(1, priority=True)
    assert b.wait_s(priority=True) == pytest.approx(60.0)
    clock.advance(60)
    assert b.wait_s() == 0.0


def test_budget_wait_is_until_the_window_the_venue_counts_ends() -> None:
    clock, b = budget()
    clock.advance(45)
    b.acquire(80, priority=True)
    assert b.wait_s() == pytest.approx(15.0)


def test_budget_venue_pause_refuses_everything_until_retry_after() -> None:
    clock, b = budget()
    b.rate_limited(20, banned=True)
    with pytest.raises(RateLimited) as refused:
        b.acquire(1, priority=True)
    assert refused.value.banned and refused.value.retry_after_s == pytest.approx(20.0)
    status = b.status()
    assert status.rate_limited and status.banned
    assert status.rate_limited_until_ns == (MINUTE_START_S + 20) * NS_PER_S
    clock.advance(20)
    b.acquire(1, priority=True)
    assert not b.status().rate_limited
    assert b.status().rate_limited_until_ns == (MINUTE_START_S + 20) * NS_PER_S  # the record stays


def test_budget_limits_come_from_the_venue() -> None:
    _, b = budget(capacity=1200)
    b.apply_limits([LimitRule(LimitKind.WEIGHT, 6000, 60), LimitRule(LimitKind.ORDERS, 2, 10)])
    assert b.capacity == 6000
    b.acquire(1, orders=1, priority=True)
    b.acquire(1, orders=1, priority=True)
    assert b.wait_s(orders=1, priority=True) == pytest.approx(10.0)
    assert b.wait_s(priority=True) == 0.0  # reads and cancels are not orders


def test_budget_usage_header_raises_our_count_never_lowers_it() -> None:
    _, b = budget()
    b.acquire(10)
    b.observe_used(80)
    assert b.wait_s() == pytest.approx(60.0)  # one more would pass the 80 % entry share
    b.observe_used(5)
    assert b.used_fraction == pytest.approx(0.80)


def test_budget_remaining_zero_waits_for_the_reset_even_for_exits() -> None:
    clock, b = budget(capacity=200)
    b.observe_remaining(limit=200, remaining=0, reset_wall_s=MINUTE_START_S + 30)
    assert b.wait_s(priority=True) == pytest.approx(30.0)
    clock.advance(30)
    assert b.wait_s(priority=True) == 0.0


def test_budget_status_tracks_requests_per_minute_and_weight_share_max() -> None:
    clock, b = budget(capacity=100)
    for _ in range(10):
        b.acquire(2)
    clock.advance(60)
    b.acquire(1)
    status = b.status()
    assert status.requests_per_minute_max == 10
    assert status.weight_share_max == pytest.approx(0.2)


def test_budget_requests_per_minute_are_counted_in_steps_at_any_rate() -> None:
    """The busiest minute is found to within one tenth-of-a-second step, however many requests it held
    (the count is kept per step, not per request)."""
    clock, b = budget(capacity=1_000_000)
    for second in range(90):
        for _ in range(40 if second < 30 else 20):  # 2,400 requests a minute, then 1,200
            b.acquire(0.0, priority=True)
            clock.advance(0.025)
    assert 2_400 - 4 <= b.status().requests_per_minute_max <= 2_400
    clock.advance(120)
    b.acquire(0.0, priority=True)
    assert 2_400 - 4 <= b.status().requests_per_minute_max <= 2_400  # a maximum: an idle minute keeps it


def test_budget_degraded_after_a_run_of_failures_cleared_by_an_answer() -> None:
    _, b = budget()
    for _ in range(DEGRADED_AFTER_FAILURES - 1):
        b.failed("HTTP 503")
    assert b.status().degraded is None
    b.failed("HTTP 503")
    assert "HTTP 503" in (b.status().degraded or "")
    b.succeeded()
    assert b.status().degraded is None


def test_budget_auth_failure_stays_until_a_signed_request_succeeds() -> None:
    _, b = budget()
    b.auth_failed("binance 401 -2015")
    assert b.auth_failure == "binance 401 -2015" and b.status().auth_failed
    b.auth_ok()
    assert b.auth_failure is None


def test_budget_entries_leave_the_slots_their_exits_owe() -> None:
    # Binance-like: 50 orders per 10 s; entries take the reserve's complement less the exits they owe.
    _, b = budget(capacity=1200)
    b.apply_limits([LimitRule(LimitKind.WEIGHT, 1200, 60), LimitRule(LimitKind.ORDERS, 50, 10)])
    for _ in range(10):
        b.acquire(1, orders=1)
    # 10 used + 1 entry + 30 owed (15 OCO entries) stays within 40 (50 less the 20 % reserve)...
    assert b.wait_s(orders=1, exits_owed=29) == 0.0
    # ...one more owed exit does not: the entry waits for the next 10 s window.
    assert b.wait_s(orders=1, exits_owed=30) == pytest.approx(10.0)
    # Exits (and their OCO's two orders) may use every slot: nothing owed holds them back.
    assert b.wait_s(orders=2, priority=True, exits_owed=30) == 0.0


def test_budget_burst_of_fills_finds_every_exit_slot() -> None:
    """Entries admitted one by one with what they owe: when all of them fill in the same window, every
    OCO (2 orders) still fits in it."""
    _, b = budget(capacity=1200)
    b.apply_limits([LimitRule(LimitKind.ORDERS, 50, 10)])
    in_flight = 0
    while b.wait_s(orders=1, exits_owed=2 * (in_flight + 1)) == 0.0:
        b.acquire(1, orders=1)
        in_flight += 1
    assert in_flight == 13  # 13 entries + 28 owed exits <= 40
    for _ in range(in_flight):
        b.acquire(1, orders=2, priority=True)


def test_rolling_budget_never_sends_more_than_the_limit_in_any_window() -> None:
    """The cause of Alpaca's overrun: wall-aligned windows let a full minute's worth go at :59 and
    another right after the reset, 2x the limit within 60 s. A rolling rule holds it over any 60 s."""
    clock = ManualClock(start_wall_ns=MINUTE_START_S * NS_PER_S)
    aligned = RequestBudget(clock, venue="v", capacity=200, per_s=60)
    rolling = RequestBudget(clock, venue="v", capacity=200, per_s=60, rolling=True)
    clock.advance(50)
    for b in (aligned, rolling):
        for _ in range(200):
            b.acquire(1, priority=True)
    clock.advance(15)  # the minute has reset: 5 s past it, 15 s after the burst
    assert aligned.wait_s(priority=True) == 0.0  # the aligned count would send 200 more now
    # until the burst is 60 s old, and the guard for the way to the venue
    assert rolling.wait_s(priority=True) == pytest.approx(45.0 + ROLLING_GUARD_S)
    with pytest.raises(RateLimited) as refused:
        rolling.acquire(1, priority=True)
    assert refused.value.retry_after_s == pytest.approx(45.0 + ROLLING_GUARD_S)
    clock.advance(45 + ROLLING_GUARD_S)
    for _ in range(200):
        rolling.acquire(1, priority=True)
    assert rolling.wait_s(priority=True) == pytest.approx(60.0 + ROLLING_GUARD_S)


def test_rolling_budget_frees_the_oldest_units_first_and_keeps_the_entry_reserve() -> None:
    clock = ManualClock(start_wall_ns=MINUTE_START_S * NS_PER_S)
    b = RequestBudget(clock, venue="v", capacity=10, per_s=60, rolling=True)
    b.observe_remaining(limit=10, remaining=10, reset_wall_s=MINUTE_START_S + 60)  # keeps it rolling
    for _ in range(4):
        b.acquire(1)
        clock.advance(10)
    clock.advance(30 + ROLLING_GUARD_S)  # the aligned minute has reset; what was sent at 0 s and 10 s is gone
    for _ in range(6):
        b.acquire(1)
    # 8 units in the last 60 s (sent 50 s and 40 s ago, 6 now): entries stop at 8 of the 10...
    assert b.wait_s() == pytest.approx(10.0)  # ...until the one sent 50 s ago is 60 s (+ guard) old
    assert b.wait_s(priority=True) == 0.0  # exits may use the rest
    b.acquire(2, priority=True)
    assert b.wait_s(priority=True) == pytest.approx(10.0)


def test_rolling_budget_keeps_a_request_held_up_on_its_way_until_its_answer_is_a_window_old() -> None:
    """Under load a request took 5 s to reach the venue (more than ``ROLLING_GUARD_S``): counted only from
    its send, it left our window while the venue still counted it, and the venue saw 201 of 200 in its
    60 s. Awaited requests count from the send until the answer, and a window after the answer."""
    clock = ManualClock(start_wall_ns=MINUTE_START_S * NS_PER_S)
    b = RequestBudget(clock, venue="v", capacity=3, per_s=60, rolling=True)
    with b.in_flight(1, priority=True):
        clock.advance(5)  # on its way; it reached the venue at most now, as its answer came
    with b.in_flight(2, priority=True):
        pass
    clock.advance(56.5)  # 61.5 s after the first send: the send's window and its guard are over...
    # ...but the venue may have counted it at 5 s: nothing more until it is a window old from there
    assert b.wait_s(priority=True) == pytest.approx(3.5)
    with pytest.raises(RateLimited):
        b.acquire(1, priority=True)
    clock.advance(3.5)
    assert b.wait_s(priority=True) == 0.0


def test_rolling_budget_counts_a_request_in_flight_whatever_its_age() -> None:
    clock = ManualClock(start_wall_ns=MINUTE_START_S * NS_PER_S)
    b = RequestBudget(clock, venue="v", capacity=2, per_s=60, rolling=True)
    b.acquire(1, priority=True)  # its answer is not awaited: a window and the guard from its send
    with b.in_flight(1, priority=True):
        clock.advance(90)  # no answer yet (a read timeout longer than the window): still counted
        assert b.wait_s(priority=True) == 0.0  # the unawaited one has expired
        b.acquire(1, priority=True)
        # full again; the one in flight frees a window after its answer at the earliest
        assert b.wait_s(priority=True) == pytest.approx(60.0)
        clock.advance(10)
    # answered at 100 s it leaves at 160 s; the one sent at 90 s (not awaited) leaves first, at 151 s
    assert b.wait_s(priority=True) == pytest.approx(90 + ROLLING_GUARD_S + 60 - 100)


def test_budget_request_in_flight_across_the_minute_counts_in_the_next_window_too() -> None:
    """Sent at :59.5 and answered at :00.5, it may reach the venue in its next minute: that window starts
    with it counted. One answered before the minute ends is counted in its own minute only."""
    clock, b = budget(capacity=4, reserve=0.0)
    clock.advance(59)
    b.acquire(1)
    with b.in_flight(1):
        clock.advance(1.5)  # the minute ended on its way
        assert b.wait_s(weight=4) == pytest.approx(59.5)  # 1 of 4 already: 4 more do not fit
        b.acquire(2)
    clock.advance(0.5)
    assert b.wait_s(weight=1) == 0.0  # 3 of 4: the answered one stays counted, the other did not carry
    assert b.wait_s(weight=2) == pytest.approx(59.0)


def test_rolling_budget_keeps_a_request_given_up_without_an_answer_the_guard_longer() -> None:
    clock = ManualClock(start_wall_ns=MINUTE_START_S * NS_PER_S)
    b = RequestBudget(clock, venue="v", capacity=1, per_s=60, rolling=True)

    def give_up_after_10_s() -> None:
        with b.in_flight(1, priority=True):
            clock.advance(10)
            raise TimeoutError  # no answer: the venue may still read it after we gave up

    with pytest.raises(TimeoutError):
        give_up_after_10_s()
    assert b.wait_s(priority=True) == pytest.approx(60 + ROLLING_GUARD_S)


@pytest.mark.parametrize("rolling", [False, True])
def test_budget_burst_takes_what_fits_from_the_front_and_counts_each_request(rolling: bool) -> None:
    """A burst written together is admitted at once when all of it fits, else one by one up to the
    entry reserve: never more than ``acquire`` one at a time would have let go."""
    clock = ManualClock(start_wall_ns=MINUTE_START_S * NS_PER_S)
    b = RequestBudget(clock, venue="v", capacity=100, per_s=60, reserve_fraction=0.2, rolling=rolling)
    assert b.acquire_up_to(10, 0.0, orders=1) == 10  # orders, not weight: nothing else is spent
    assert b.acquire_up_to(10, 5.0) == 10  # all fit: 50 of the 80 entries may use
    assert b.acquire_up_to(10, 5.0) == 6  # 30 left below the reserve
    assert b.acquire_up_to(3, 5.0) == 0
    with pytest.raises(RateLimited):
        b.acquire(5)
    b.acquire(20, priority=True)  # the reserve is the exits', untouched by the burst
    assert b.status().requests_per_minute_max == 27  # each request of a burst counts
