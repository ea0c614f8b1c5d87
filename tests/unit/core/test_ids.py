"""Order keys: increasing, never repeated, never behind the wall clock, from any number of threads."""

from __future__ import annotations

import threading
from itertools import pairwise

from autohedge.core.clock import NS_PER_S, ManualClock
from autohedge.core.ids import OrderKeySource


def test_keys_start_at_the_wall_clock_in_ms_and_increase_within_a_millisecond() -> None:
    clock = ManualClock(start_wall_ns=1_700_000_000 * NS_PER_S)
    keys = OrderKeySource(clock)

    first, second, third = keys.next_key(), keys.next_key(), keys.next_key()

    assert first == 1_700_000_000_000
    assert (second, third) == (first + 1, first + 2)  # the clock did not move: one more each time


def test_keys_jump_to_the_clock_once_it_is_ahead() -> None:
    clock = ManualClock(start_wall_ns=1_700_000_000 * NS_PER_S)
    keys = OrderKeySource(clock)
    for _ in range(5):
        keys.next_key()

    clock.advance(2.0)

    assert keys.next_key() == 1_700_000_002_000


def test_keys_drawn_from_two_threads_at_once_are_all_different() -> None:
    keys = OrderKeySource(ManualClock())
    drawn: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def draw(into: list[int]) -> None:
        start.wait()
        into.extend(keys.next_key() for _ in range(20_000))

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = drawn[0] + drawn[1]
    assert len(set(everything)) == len(everything) == 40_000
    assert all(a < b for into in drawn for a, b in pairwise(into))
