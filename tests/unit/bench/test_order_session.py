"""bench/order_session.py: the order session's burst writes every order it is given, and the bench says so
when it does not."""

from __future__ import annotations

import pytest

from bench import order_session


def test_the_bench_runs_and_prints_its_three_medians(capsys: pytest.CaptureFixture[str]) -> None:
    assert order_session.main(["--rounds", "3", "--paused", "1", "--pause-s", "0"]) == 0
    out = capsys.readouterr().out
    assert "burst warm" in out and "after a 0 ms pause" in out and "1st / 2nd / 10th" in out


def test_a_burst_the_session_does_not_write_whole_is_an_error() -> None:
    s = order_session.session()
    s._resync_due = 1  # the venue refused our clock: the session pipelines nothing until it re-measures
    with pytest.raises(RuntimeError, match="wrote 0 of 10 orders"):
        order_session.burst_us(s, 10)
