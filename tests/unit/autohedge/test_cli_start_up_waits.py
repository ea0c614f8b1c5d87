"""Start-up waits out a venue's rate limit instead of exiting: the wire bench's engine, started right after
the raw client had spent the local venue's order window, exited with "request budget spent"."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from autohedge.cli import _when_the_venue_allows
from autohedge.core.errors import RateLimited


def refused_then(answer: str, refusals: list[RateLimited]) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(refusals):
            raise refusals[len(calls) - 1]
        return answer

    return calls, call


def test_a_rate_limited_start_up_call_is_tried_again_once_the_venue_allows() -> None:
    calls, call = refused_then("engine", [RateLimited("budget spent", retry_after_s=0.0)] * 2)

    assert _when_the_venue_allows(call, threading.Event()) == "engine"
    assert len(calls) == 3


@pytest.mark.parametrize(
    "refusal",
    [
        RateLimited("banned", retry_after_s=0.0, banned=True),
        RateLimited("come back tomorrow", retry_after_s=10_000.0),
    ],
)
def test_a_ban_or_a_wait_past_the_patience_still_ends_the_start_up(refusal: RateLimited) -> None:
    calls, call = refused_then("engine", [refusal])

    with pytest.raises(RateLimited):
        _when_the_venue_allows(call, threading.Event())
    assert len(calls) == 1


def test_a_stop_asked_during_the_wait_ends_the_start_up() -> None:
    stop = threading.Event()
    stop.set()
    calls, call = refused_then("engine", [RateLimited("budget spent", retry_after_s=0.0)])

    with pytest.raises(RateLimited):
        _when_the_venue_allows(call, stop)
    assert len(calls) == 1
