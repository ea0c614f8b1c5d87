"""The stop's waits: for the order connection's answers only, the stopped gate held through them."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import autohedge.app
from autohedge.actors.supervisor import StartTrading
from autohedge.core.actor_names import EXECUTOR, ActorKind, kind_of
from autohedge.core.gates import STOPPED
from tests.actors.harness import Harness, wait_for
from tests.actors.test_senders import Held, senders_config


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


def test_a_start_asked_while_the_process_stops_opens_no_entry(
    make_harness: Callable[..., Harness],
) -> None:
    # The stop waits for a stuck sender; meanwhile the operator's start (the control API's /start) reaches
    # the supervisor. The stop's gate must stay closed: no entry after the stop began.
    h = make_harness(senders_config()).start()
    send = Held()
    h.exchange.hold("submit_order", send.wait)
    h.trigger_buy("BTC/USDT", settle=False)
    wait_for(lambda: len(h.executor_snapshot().sending) == 1, what="an entry at a stuck sender")
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
