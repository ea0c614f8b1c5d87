"""The stop's waits: for the order connection's answers only, the stopped gate held through them."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import pytest

import autohedge.app
from autohedge.actors.supervisor import StartTrading
from autohedge.core.actor_names import EXECUTOR, MONITOR, ActorKind, kind_of
from autohedge.core.gates import STOPPED
from tests.actors.harness import Harness, hold_the_monitor, wait_for
from tests.actors.test_senders import Held, entry_at_a_stuck_sender, senders_config


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
    entry_at_a_stuck_sender(h, lambda: released.wait(30))  # silent for longer than the stop's waits
    try:
        h.engine.stop(cancel_entries=True)
        assert "stop_awaits_entries" not in h.engine.parts.events.kinds()
    finally:
        released.set()


def test_a_start_asked_while_the_process_stops_opens_no_entry(
    make_harness: Callable[..., Harness],
) -> None:
    # The stop waits for a stuck sender; meanwhile the operator's start (the control API's /start) reaches
    # the supervisor. The stop's gate must stay closed: no entry after the stop began.
    h = make_harness(senders_config()).start()
    send = Held()
    entry_at_a_stuck_sender(h, send.wait)
    senders = [n for n in h.directory.names() if kind_of(n) is ActorKind.ORDER_SENDER]
    stopper = threading.Thread(target=h.engine.stop, kwargs={"cancel_entries": True}, name="stopper")
    stopper.start()
    try:
        wait_for(
            lambda: any(
                r is not None and r.actor_inbox.qsize() > 0  # type: ignore[attr-defined]
                for r in (h.directory.get(n) for n in senders)
            ),
            what="the stop waiting for the stuck sender",
        )
        h.engine.supervisor.ask(StartTrading(), timeout=5.0)
        h.barrier(EXECUTOR)
        assert STOPPED in h.executor_snapshot().gates
    finally:
        send.release()
        stopper.join(timeout=60)
    assert not stopper.is_alive()


def test_a_fill_taken_in_just_before_the_monitor_stops_is_armed_at_its_stop(
    make_harness: Callable[..., Harness],
) -> None:
    # The stop waits for entries' answers, so a fill can reach the monitor just before its stop. The
    # monitor takes the fill in and tells itself to re-arm, behind the stop already queued: never
    # handled, and the process exited holding the fill without exits. Its stop arms it instead.
    h = make_harness().start()
    for _ in range(h.config.hft.lookback_periods):
        h.quote("BTC/USDT", "99.99", "100.01")
    held_monitor = hold_the_monitor(h)
    h.quote("BTC/USDT", "99.9", "99.92", wait=False)  # the dip: an entry, filled; its report waits
    wait_for(lambda: h.metrics.snapshot().get("orders_filled", 0) == 1, what="the fill reported")
    monitor = h.directory.get(MONITOR)
    assert monitor is not None
    inbox = monitor.actor_inbox
    assert isinstance(inbox, queue.SimpleQueue)  # a threading actor's (autohedge.actors.inbox)
    queued = inbox.qsize()
    stopper = threading.Thread(target=h.engine.stop, kwargs={"cancel_entries": True}, name="stopper")
    stopper.start()
    try:
        wait_for(lambda: inbox.qsize() > queued, what="the monitor's stop queued behind the fill")
    finally:
        held_monitor.release.set()
    stopper.join(timeout=30)

    assert not stopper.is_alive()
    held = h.paper_engine.balances()["BTC"].free + h.paper_engine.balances()["BTC"].locked
    assert held > 0 and sum(o.qty for o in h.open_sells("BTC/USDT")) > 0, "filled, left without exits"
