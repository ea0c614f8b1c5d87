import random

import pytest

from autohedge.core.backoff import Backoff, protection_restart_limit_s


def test_backoff_no_jitter_doubles_until_the_cap() -> None:
    backoff = Backoff(min_backoff_s=0.5, max_backoff_s=4.0, random_factor=0.0)
    rng = random.Random(1)
    assert [backoff.delay_s(n, rng) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_jitter_applies_after_the_cap() -> None:
    backoff = Backoff(min_backoff_s=1.0, max_backoff_s=2.0, random_factor=0.5)
    rng = random.Random(7)
    expected_u = random.Random(7).random()
    assert backoff.delay_s(5, rng) == pytest.approx(2.0 * (1 + expected_u * 0.5))


def test_backoff_huge_restart_count_does_not_overflow() -> None:
    assert Backoff(1.0, 30.0).delay_s(10**6, random.Random(0)) == 30.0


def test_backoff_negative_count_raises() -> None:
    with pytest.raises(ValueError, match="restart_count"):
        Backoff(1.0, 2.0).delay_s(-1, random.Random(0))


def test_backoff_limit_cuts_every_delay_jitter_included() -> None:
    backoff = Backoff(min_backoff_s=0.5, max_backoff_s=30.0, random_factor=0.2)
    rng = random.Random(3)
    delays = [backoff.delay_s(n, rng, limit_s=0.5) for n in (3, 5, 10**6)]
    assert delays == [0.5, 0.5, 0.5]


def test_backoff_within_a_limit_restarts_three_crashes_in_a_row_within_it() -> None:
    # Simulation under ten times the default faults: the monitor crashed on an event, then again on its
    # own reconciliation; two restarts at the whole limit each were the whole promise.
    backoff = Backoff(min_backoff_s=0.5, max_backoff_s=30.0, random_factor=0.2)
    rng = random.Random(3)
    delays = [backoff.delay_s(n, rng, limit_s=0.5) for n in range(4)]
    assert delays == [0.0625, 0.125, 0.25, 0.5]
    assert sum(delays[:3]) < 0.5


def test_protection_restart_limit_leaves_half_the_promise_to_read_and_arm() -> None:
    assert protection_restart_limit_s(1.0) == 0.5
