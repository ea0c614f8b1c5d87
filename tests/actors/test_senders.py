"""Order senders: entries decided together reach the venue concurrently; every answer counts once.

The exchange proxy holds a sender inside ``submit_order`` (before or after the real call) so a test
can put an order event, a timeout or a cancel between the send and its answer; nothing sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

from autohedge.core.actor_names import EXECUTOR
from autohedge.core.child_states import ChildState
from autohedge.core.config import AppConfig
from autohedge.core.errors import OutcomeUnknown
from autohedge.core.messages import CancelEntries
from autohedge.core.types import OrderStatus
from tests.actors.harness import Harness, make_config, wait_for

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]
HOLD_S = 5.0
"""A held sender gives up waiting after this (a test that never releases it fails, never hangs)."""


class Held:
    """Holds a sender inside ``submit_order`` until released; a hold that ran out is a failed test."""

    def __init__(self) -> None:
        self._released = threading.Event()
        self.ran_out = False

    def wait(self) -> None:
        if not self._released.wait(HOLD_S):
            self.ran_out = True

    def release(self) -> None:
        self._released.set()


def senders_config() -> AppConfig:
    return make_config(symbols=SYMBOLS, executor={"submit_workers": len(SYMBOLS)})


def entry_at_a_stuck_sender(h: Harness, hold: Callable[[], object], symbol: str = "BTC/USDT") -> None:
    """One entry of ``symbol`` sent and its sender held inside ``submit_order`` by ``hold`` (test thread):
    returns once the executor has it in flight."""
    h.exchange.hold("submit_order", hold)
    h.trigger_buy(symbol, settle=False)
    wait_for(lambda: len(h.executor_snapshot().sending) == 1, what="an entry in flight at a stuck sender")


def fills(h: Harness) -> int:
    return h.metrics.snapshot().get("orders_filled", 0)


def test_entries_decided_together_are_sent_at_the_same_time(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(senders_config()).start()
    # Broken (each waiting send then fails) unless all the entries are inside submit_order at once.
    together = threading.Barrier(len(SYMBOLS), timeout=HOLD_S)
    h.exchange.hold("submit_order", together.wait, times=len(SYMBOLS))

    for symbol in SYMBOLS:
        h.trigger_buy(symbol, settle=False)

    wait_for(lambda: all(h.buys(s) for s in SYMBOLS), what="every entry at the venue")
    h.settle()
    assert not together.broken
    assert "order_outcome_unknown" not in h.engine.parts.events.kinds()
    assert h.metrics.snapshot()["orders_submitted"] == len(SYMBOLS)
    wait_for(lambda: all(h.is_protected(s) for s in SYMBOLS), what="every position protected")


def test_an_order_event_before_the_senders_answer_reports_the_fill_once(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(senders_config()).start()
    answer = Held()
    h.exchange.hold("submit_order", answer.wait, after_call=True)

    h.trigger_buy("BTC/USDT", settle=False)
    wait_for(lambda: h.is_protected("BTC/USDT"), what="the fill applied from its order event")
    held = h.held("BTC/USDT").qty
    answer.release()
    h.settle()

    assert not answer.ran_out
    assert fills(h) == 1
    assert h.held("BTC/USDT").qty == held
    assert len(h.buys("BTC/USDT")) == 1
    assert h.executor_snapshot().sending == ()


def test_a_lost_answer_after_the_order_events_is_reported_and_changes_nothing(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(senders_config()).start()
    answer = Held()

    def lost() -> OutcomeUnknown:
        answer.wait()
        return OutcomeUnknown("response lost", venue="paper")

    h.exchange.fail("submit_order", lost, after_call=True)  # the order exists; its answer is lost

    h.trigger_buy("BTC/USDT", settle=False)
    wait_for(lambda: h.is_protected("BTC/USDT"), what="the fill applied from its order event")
    answer.release()
    h.settle()

    assert not answer.ran_out
    assert "order_outcome_unknown" in h.engine.parts.events.kinds()
    assert h.metrics.snapshot()["outcome_unknown_resolved"] == 1
    assert fills(h) == 1 and len(h.buys("BTC/USDT")) == 1
    assert h.executor_snapshot().unresolved == ()


def test_an_entry_without_an_answer_is_looked_up_and_never_sent_again(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(senders_config()).start()
    send = Held()
    entry_at_a_stuck_sender(h, send.wait)  # the venue has not seen it yet
    h.clock.advance(h.config.executor.send_timeout_s)
    wait_for(lambda: "order_not_placed" in h.engine.parts.events.kinds(), what="the lookup by client id")
    send.release()  # the sender's request reaches the venue after all
    h.settle()

    assert not send.ran_out
    assert len(h.buys("BTC/USDT")) == 1  # sent once, by its sender; the lookup never resent it
    wait_for(lambda: h.is_protected("BTC/USDT"), what="the late order tracked and its fill protected")
    assert fills(h) == 1


def test_an_entry_in_flight_when_entries_are_cancelled_is_cancelled_once_placed(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(senders_config()).start()
    send = Held()
    entry_at_a_stuck_sender(h, send.wait)
    h.quote("BTC/USDT", "100.50", "100.52")  # the market moves away: the entry will rest

    assert h.engine.ask(EXECUTOR, CancelEntries()) == 0  # nothing placed to cancel yet
    send.release()
    h.settle()

    assert not send.ran_out
    (buy,) = h.buys("BTC/USDT")
    assert buy.status is OrderStatus.CANCELED
    assert buy.filled_qty == Decimal(0)
    assert h.executor_snapshot().entries == ()


def test_an_entry_in_flight_when_the_executor_crashed_is_looked_up_by_the_next_one(
    make_harness: Callable[..., Harness],
) -> None:
    # The sender's answer and the fill event reach no executor (it is restarting): the entry was known
    # only to the dead incarnation. The next one asks the venue for it and its fill gets an exit.
    h = make_harness(senders_config()).start()
    h.trigger_buy("ETH/USDT")  # the executor has read ETH/USDT's rules: only BTC/USDT's sizing crashes
    send = Held()
    entry_at_a_stuck_sender(h, send.wait)
    h.exchange.fail("symbol_rules", lambda: RuntimeError("executor bug"), thread_prefix="ExecutorActor")

    h.trigger_buy("SOL/USDT", settle=False)  # the executor crashes sizing it
    wait_for(lambda: h.child(EXECUTOR).state is ChildState.RESTARTING, what="executor restarting")
    dead_before = h.metrics.snapshot().get("dead_letters", 0)
    send.release()  # placed and filled while no executor runs: its answer and event are dead letters
    wait_for(lambda: h.metrics.snapshot().get("dead_letters", 0) >= dead_before + 2, what="answer lost")
    assert not h.is_protected("BTC/USDT")
    delay_s = h.child(EXECUTOR).next_restart_in_s
    assert delay_s is not None
    h.clock.advance(delay_s)

    wait_for(lambda: h.is_protected("BTC/USDT"), what="the entry looked up and its fill protected")
    # The new incarnation looks the entry up as it starts, before the supervisor has heard that it runs
    # (and named it in the directory): its snapshot is asked for once it is known to run.
    wait_for(lambda: h.child(EXECUTOR).state is ChildState.RUNNING, what="executor running again")
    assert not send.ran_out
    assert len(h.buys("BTC/USDT")) == 1  # looked up, never sent again
    assert h.executor_snapshot().unresolved == ()
