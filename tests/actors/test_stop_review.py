"""Review of the stop's new waits: the wait for the order connection's answers and the stopped gate."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import autohedge.app
from tests.actors.harness import Harness, wait_for
from tests.actors.test_senders import senders_config


def test_the_stop_waits_no_second_time_for_an_entry_at_a_stuck_sender(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sender is stuck on a silent venue: the stop's barrier gives up on it after its timeout, by design.
    # The wait for the order connection's answers (no entry was written on it) must not wait for that
    # entry a second time: the stop would take twice the timeout.
    monkeypatch.setattr(autohedge.app, "ASK_TIMEOUT_S", 0.3)
    monkeypatch.setattr(autohedge.app.Engine.ask, "__defaults__", (0.3,))  # the barriers' timeout too
    h = make_harness(senders_config()).start()
    released = threading.Event()
    h.exchange.hold("submit_order", lambda: released.wait(30))  # silent for longer than the stop's waits
    h.trigger_buy("BTC/USDT", settle=False)
    wait_for(lambda: len(h.executor_snapshot().sending) == 1, what="an entry at a stuck sender")
    try:
        h.engine.stop(cancel_entries=True)
        assert "stop_awaits_entries" not in h.engine.parts.events.kinds()
    finally:
        released.set()
