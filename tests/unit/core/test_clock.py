import gc
import time
import weakref

from freezegun import freeze_time

from autohedge.core.clock import COMPACT_EVERY, NS_PER_S, ManualClock, RealClock


def test_manual_clock_advance_fires_due_timers_in_deadline_order() -> None:
    clock = ManualClock()
    fired: list[str] = []
    clock.call_later(2.0, lambda: fired.append("b"))
    clock.call_later(1.0, lambda: fired.append("a"))
    clock.call_later(5.0, lambda: fired.append("late"))
    assert clock.advance(2.0) == 2
    assert fired == ["a", "b"]


def test_manual_clock_callback_sees_its_own_due_time() -> None:
    clock = ManualClock(start_monotonic_ns=0)
    seen: list[int] = []
    clock.call_later(1.5, lambda: seen.append(clock.monotonic_ns()))
    clock.advance(10)
    assert seen == [int(1.5 * NS_PER_S)]
    assert clock.monotonic_ns() == 10 * NS_PER_S


def test_manual_clock_timer_scheduled_by_a_timer_fires_in_the_same_advance() -> None:
    clock = ManualClock()
    fired: list[int] = []
    clock.call_later(1, lambda: clock.call_later(1, lambda: fired.append(clock.monotonic_ns())))
    clock.advance(3)
    assert fired == [2 * NS_PER_S]


def test_manual_clock_cancelled_timer_does_not_fire() -> None:
    clock = ManualClock()
    fired: list[int] = []
    handle = clock.call_later(1, lambda: fired.append(1))
    handle.cancel()
    clock.advance(2)
    assert fired == []


def test_real_clock_wall_ns_follows_frozen_time() -> None:
    with freeze_time("2026-01-02 03:04:05"):
        assert RealClock().wall_ns() == 1767323045 * NS_PER_S


def test_real_clock_call_later_runs_on_the_scheduler_thread() -> None:
    import threading

    clock = RealClock()
    done = threading.Event()
    names: list[str] = []

    def record() -> None:
        names.append(threading.current_thread().name)
        done.set()

    clock.call_later(0.0, record)
    assert done.wait(timeout=5)
    clock.stop()
    assert names == ["autohedge-timers"]
    assert time.monotonic_ns() >= clock.monotonic_ns() - NS_PER_S


def test_manual_clock_fire_next_fires_one_timer_at_its_due_time() -> None:
    clock = ManualClock(start_wall_ns=0)
    fired: list[tuple[str, int]] = []
    clock.call_later(1.0, lambda: fired.append(("a", clock.monotonic_ns())))
    clock.call_later(1.0, lambda: fired.append(("b", clock.monotonic_ns())))
    clock.call_later(5.0, lambda: fired.append(("c", clock.monotonic_ns())))

    assert clock.fire_next(2.0) and fired == [("a", 1_000_000_000)]
    assert clock.fire_next(1.0) and fired[-1] == ("b", 1_000_000_000)
    assert not clock.fire_next(2.0)
    assert clock.monotonic_ns() == 1_000_000_000 and len(fired) == 2


def test_real_clock_an_earlier_timer_wakes_the_scheduler_a_later_one_waits_its_turn() -> None:
    import threading

    clock = RealClock()
    fired: list[str] = []
    soon = threading.Event()
    clock.call_later(3600.0, lambda: fired.append("hour"))  # the scheduler now sleeps for an hour
    clock.call_later(7200.0, lambda: fired.append("two hours"))  # not the earliest: no wake-up needed

    def now() -> None:
        fired.append("now")
        soon.set()

    clock.call_later(0.0, now)  # the earliest: wakes it

    assert soon.wait(timeout=5)
    clock.stop()
    assert fired == ["now"]


class _Callback:
    """A timer's callback that a weak reference can watch (a message and its closure, in the actors)."""

    def __call__(self) -> None:
        raise AssertionError("a cancelled timer ran")


def test_cancelled_timer_lets_its_callback_go_at_once() -> None:
    for clock in (ManualClock(), RealClock()):
        callback = _Callback()
        watched = weakref.ref(callback)
        handle = clock.call_later(3600, callback)
        del callback
        handle.cancel()
        gc.collect()
        assert watched() is None
        if isinstance(clock, RealClock):
            clock.stop()


def test_real_clock_drops_cancelled_timers_once_they_are_most_of_the_heap() -> None:
    clock = RealClock()
    try:
        clock.call_later(3600, lambda: None)
        for _ in range(3 * COMPACT_EVERY - 1):
            clock.call_later(3600, lambda: None).cancel()
        # The 3 * COMPACT_EVERY-th timer compacted the heap before it was cancelled itself: the live
        # timer and that one are left.
        assert clock.held_timers() == 2
        clock.call_later(3600, lambda: None).cancel()
        assert clock.held_timers() == 3
    finally:
        clock.stop()


def test_real_clock_a_timer_beyond_the_wait_limit_leaves_the_scheduler_running() -> None:
    # A config delay of 1e10 s (``feed.stale_after_s: 1e10``, meant as "never") made the scheduler's
    # wait raise OverflowError: its thread died, and no timer of the process fired again.
    import threading

    clock = RealClock()
    fired = threading.Event()
    try:
        clock.call_later(1e10, lambda: None)
        scheduler = clock._thread
        assert scheduler is not None
        scheduler.join(timeout=0.2)  # returns at once when the far timer's wait killed it
        assert scheduler.is_alive()
        clock.call_later(0.01, fired.set)
        assert fired.wait(5.0)
    finally:
        clock.stop()
