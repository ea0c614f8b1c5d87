"""When freed heap memory is given back: after a rise of the resident size, else every ``every_s``."""

from __future__ import annotations

import pytest

from autohedge.core.clock import NS_PER_S
from autohedge.core.heap_trim import HeapTrimPolicy, HeapTrimSchedule

MIB = 1 << 20
POLICY = HeapTrimPolicy(check_s=5, every_s=60, rise_bytes=MIB)


def at(seconds: float) -> int:
    return round(seconds * NS_PER_S)


def test_a_steady_process_is_trimmed_once_per_every_s() -> None:
    schedule = HeapTrimSchedule(POLICY, now_ns=0, rss_bytes=50 * MIB)
    looks = [at(t) for t in range(5, 181, 5)]
    trims = []
    for now_ns in looks:
        if schedule.due(now_ns, 50 * MIB):
            schedule.trimmed(now_ns, 50 * MIB)
            trims.append(now_ns)
    assert trims == [at(60), at(120), at(180)] and schedule.trims == 3


def test_a_rise_of_rise_bytes_makes_the_next_look_trim() -> None:
    schedule = HeapTrimSchedule(POLICY, now_ns=0, rss_bytes=50 * MIB)
    assert not schedule.due(at(5), 50 * MIB + MIB - 1)
    assert schedule.due(at(10), 51 * MIB)


def test_the_next_rise_is_measured_from_what_the_trim_left() -> None:
    schedule = HeapTrimSchedule(POLICY, now_ns=0, rss_bytes=50 * MIB)
    assert schedule.due(at(5), 54 * MIB)
    schedule.trimmed(at(5), 53 * MIB)  # one MiB given back: three are held
    assert not schedule.due(at(10), 53 * MIB + MIB // 2)  # held memory is no reason to trim again
    assert schedule.due(at(15), 54 * MIB)


def test_every_s_counts_from_the_last_trim_not_from_the_start() -> None:
    schedule = HeapTrimSchedule(POLICY, now_ns=0, rss_bytes=50 * MIB)
    schedule.trimmed(at(40), 50 * MIB)  # a rise made this one
    assert not schedule.due(at(60), 50 * MIB)
    assert schedule.due(at(100), 50 * MIB)


@pytest.mark.parametrize(
    ("check_s", "every_s", "rise_bytes"), [(0, 60, MIB), (5, 4, MIB), (5, 60, 0), (-1, 60, MIB)]
)
def test_a_policy_that_cannot_work_is_refused(check_s: float, every_s: float, rise_bytes: int) -> None:
    with pytest.raises(ValueError, match="heap trims"):
        HeapTrimPolicy(check_s=check_s, every_s=every_s, rise_bytes=rise_bytes)
