"""The recent-key memory: kept while in use, forgotten after its horizon, bounded by count."""

from __future__ import annotations

import pytest

from autohedge.core.clock import ManualClock
from autohedge.core.recent import RecentMap


def test_a_key_set_or_read_within_the_horizon_is_kept() -> None:
    clock = ManualClock()
    memory: RecentMap[int] = RecentMap(clock.monotonic_ns, keep_s=10, capacity=100)
    memory.put("a", 1)
    for _ in range(10):
        clock.advance(9)
        memory.put("filler", 0)  # ages the memory
        assert memory.get("a") == 1  # read within the horizon, again and again
    clock.advance(9)
    memory.put("filler", 0)
    assert "a" in memory


def test_a_key_unused_for_twice_the_horizon_is_gone_even_without_traffic() -> None:
    clock = ManualClock()
    memory: RecentMap[int] = RecentMap(clock.monotonic_ns, keep_s=10, capacity=100)
    memory.put("a", 1)
    clock.advance(25)
    memory.put("b", 2)
    assert memory.get("a") is None and memory.get("b") == 2 and len(memory) == 1


def test_a_key_unused_for_the_horizon_is_kept_until_the_next_generation_ends() -> None:
    clock = ManualClock()
    memory: RecentMap[int] = RecentMap(clock.monotonic_ns, keep_s=10, capacity=100)
    memory.put("a", 1)
    clock.advance(10)
    memory.put("b", 2)  # "a" is old now, never dropped before it is 10 s unused
    assert memory.get("b") == 2
    clock.advance(10)
    memory.put("c", 3)
    assert "a" not in memory and "b" in memory and "c" in memory


def test_the_newest_capacity_keys_are_kept_and_never_more_than_twice_as_many() -> None:
    memory: RecentMap[int] = RecentMap(lambda: 0, keep_s=10, capacity=3)
    for n in range(20):
        memory.put(str(n), n)
        assert len(memory) <= 6
        assert all(str(k) in memory for k in range(max(0, n - 2), n + 1))


def test_a_read_value_is_the_stored_one_and_a_missing_key_gives_the_default() -> None:
    memory: RecentMap[str | None] = RecentMap(lambda: 0, keep_s=1, capacity=2)
    memory.put("none", None)
    assert "none" in memory and memory.get("none", "default") is None
    assert memory.get("missing", "default") == "default" and "missing" not in memory


def test_bad_bounds_are_refused_with_what_was_wrong() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RecentMap(lambda: 0, keep_s=1, capacity=0)
    with pytest.raises(ValueError, match="positive time"):
        RecentMap(lambda: 0, keep_s=0, capacity=1)
