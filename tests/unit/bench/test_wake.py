"""bench/wake.py: every put wakes the consumer once, and the bench prints a line per idle spell."""

from __future__ import annotations

import pytest

from bench import wake


def test_every_round_is_one_wake_up() -> None:
    times = wake.wake_us(5, 0.0)
    assert len(times) == 5 and all(t > 0 for t in times)


def test_the_bench_prints_a_median_per_idle_spell(capsys: pytest.CaptureFixture[str]) -> None:
    assert wake.main(["--rounds", "3", "--idle-s", "0", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "after 0 ms idle: median" in out and "after 1 ms idle: median" in out
