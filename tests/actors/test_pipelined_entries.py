"""Pipelined entries: the entries decided on one tick are written to the venue together on its order
connection, without an order sender per entry; what the pipe does not take goes to the senders, and every
answer (or its absence) counts once, as a sender's would.

The piped exchange answers each burst on its own thread, through ``submit_order`` (so the proxy's holds and
failures apply); tests wait on state, never sleep.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import pytest

from autohedge.core.actor_names import EXECUTOR
from autohedge.core.config import AppConfig
from tests.actors.harness import Harness, make_config, wait_for
from tests.actors.proxies import PipedExchange
from tests.actors.test_senders import Held

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]


def pipe_config(**executor: object) -> AppConfig:
    return make_config(symbols=SYMBOLS, executor={"submit_workers": len(SYMBOLS), **executor})


def piped(h: Harness) -> PipedExchange:
    assert isinstance(h.exchange, PipedExchange)
    return h.exchange


def all_protected(h: Harness) -> bool:
    return all(h.is_protected(s) for s in SYMBOLS)


def trigger_all_in_one_burst(h: Harness) -> None:
    """Every symbol's signal waits in the executor's inbox while it decides the first one (held inside
    it), so all of them are decided before the first decision's flush."""
    deciding = Held()
    h.exchange.hold("symbol_rules", deciding.wait)  # the first entry's rules: read on the executor
    for symbol in SYMBOLS:
        h.trigger_buy(symbol, settle=False)
    executor = h.directory.get(EXECUTOR)
    assert executor is not None
    inbox = executor.actor_inbox
    assert isinstance(inbox, queue.SimpleQueue)  # a threading actor's (autohedge.actors.inbox)
    wait_for(lambda: inbox.qsize() >= len(SYMBOLS) - 1, what="the other signals queued")
    deciding.release()
    assert not deciding.ran_out


def test_entries_decided_on_one_tick_are_written_in_one_burst(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(pipe_config(), pipe=True).start()

    trigger_all_in_one_burst(h)

    wait_for(lambda: all_protected(h), what="every entry filled and protected")
    (burst,) = piped(h).bursts
    assert sorted(burst) == sorted(e.client_order_id for s in SYMBOLS for e in h.buys(s))
    assert all(len(h.buys(s)) == 1 for s in SYMBOLS)
    counters = h.metrics.snapshot()
    assert counters["entries_pipelined"] == len(SYMBOLS) and counters["orders_submitted"] == len(SYMBOLS)
    assert "order_outcome_unknown" not in h.engine.parts.events.kinds()
    wait_for(lambda: h.executor_snapshot().sending == (), what="every answer applied")


@pytest.mark.parametrize("taken", [0, 1])
def test_what_the_pipe_does_not_take_goes_to_the_senders_once(
    make_harness: Callable[..., Harness], taken: int
) -> None:
    h = make_harness(pipe_config(), pipe=True).start()
    piped(h).take = taken  # 0: the order connection is down; 1: the budget took one

    trigger_all_in_one_burst(h)

    wait_for(lambda: all_protected(h), what="every entry filled and protected")
    assert [len(burst) for burst in piped(h).bursts] == ([taken] if taken else [])
    assert all(len(h.buys(s)) == 1 for s in SYMBOLS)  # the rest sent by the senders, each once
    assert h.metrics.snapshot().get("entries_pipelined", 0) == taken
    assert h.metrics.snapshot()["orders_submitted"] == len(SYMBOLS)


def test_a_piped_entry_whose_answer_is_lost_is_found_by_client_id_and_never_written_again(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(pipe_config(), pipe=True).start()
    h.exchange.lose_response("submit_order")  # placed; its answer lost on the connection

    h.trigger_buy("BTC/USDT", settle=False)

    wait_for(lambda: h.is_protected("BTC/USDT"), what="the fill protected")
    wait_for(lambda: h.executor_snapshot().unresolved == (), what="the unknown outcome resolved")
    assert "order_outcome_unknown" in h.engine.parts.events.kinds()
    assert len(h.buys("BTC/USDT")) == 1 and len(piped(h).bursts) == 1
    assert h.metrics.snapshot()["orders_filled"] == 1


def test_a_piped_entry_without_an_answer_is_looked_up_and_never_written_again(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(pipe_config(), pipe=True).start()
    venue_reads = Held()
    h.exchange.hold("submit_order", venue_reads.wait)  # written, not read by the venue yet

    h.trigger_buy("BTC/USDT", settle=False)
    wait_for(lambda: len(piped(h).bursts) == 1, what="the entry written")
    h.executor_snapshot()  # a barrier: its answer's timeout runs from the write, armed right after it
    h.clock.advance(h.config.executor.send_timeout_s)
    wait_for(lambda: "order_not_placed" in h.engine.parts.events.kinds(), what="the lookup by client id")
    venue_reads.release()  # the venue reads it after all

    assert not venue_reads.ran_out
    wait_for(lambda: h.is_protected("BTC/USDT"), what="the late order tracked and its fill protected")
    assert len(h.buys("BTC/USDT")) == 1  # written once; the lookup never wrote it again
    assert len(piped(h).bursts) == 1 and h.metrics.snapshot()["orders_filled"] == 1


def test_entries_go_to_the_senders_when_pipelining_is_off(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(pipe_config(pipelined_entries=False), pipe=True).start()

    h.trigger_buy("BTC/USDT")

    wait_for(lambda: h.is_protected("BTC/USDT"), what="the fill protected")
    assert piped(h).bursts == [] and len(h.buys("BTC/USDT")) == 1


def test_a_piped_entry_answered_while_the_process_stops_leaves_its_fill_protected(
    make_harness: Callable[..., Harness],
) -> None:
    # SIGINT right after an entry was written on the order connection: its answer (placed and filled)
    # comes a round trip later. The stop must not take the monitor down before it: the process would
    # exit holding the fill without exits.
    h = make_harness(pipe_config(), pipe=True).start()
    answer = Held()
    h.exchange.hold("submit_order", answer.wait)  # written; the venue takes it a moment later
    h.trigger_buy("BTC/USDT", settle=False)
    wait_for(lambda: len(piped(h).bursts) == 1, what="the entry written")

    stopper = threading.Thread(target=h.engine.stop, kwargs={"cancel_entries": True}, name="stopper")
    stopper.start()
    wait_for(
        lambda: not stopper.is_alive() or "stop_awaits_entries" in h.engine.parts.events.kinds(),
        what="the stop done or waiting for the entry's answer",
    )
    answer.release()  # the venue places and fills it (a marketable limit buy)
    stopper.join(timeout=30)

    assert not stopper.is_alive() and not answer.ran_out
    wait_for(lambda: any(b.filled_qty > 0 for b in h.buys("BTC/USDT")), what="the entry filled")
    assert sum(o.qty for o in h.open_sells("BTC/USDT")) > 0, "filled at the stop and left without exits"
