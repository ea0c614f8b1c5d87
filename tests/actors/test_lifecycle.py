"""The real composition (RealClock, synthetic stream, paper exchange) starts and stops cleanly."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from decimal import Decimal

import pykka

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.app import Engine
from autohedge.core.actor_names import EXECUTOR, ActorKind, kind_of, strategy_name
from autohedge.core.child_states import ChildState
from autohedge.core.clock import ManualClock
from autohedge.core.gates import STOPPED
from autohedge.core.messages import OrderRequest
from autohedge.core.types import OrderPurpose, OrderStatus, Side
from tests.actors.harness import Harness, make_config, wait_for
from tests.actors.test_senders import Held, entry_at_a_stuck_sender, senders_config
from tests.ids import entry_id, our_id


def test_engine_stop_leaves_no_threads_behind() -> None:
    before = {t.ident for t in threading.enumerate()}
    config = make_config(synthetic={"quotes_per_second": 200})
    engine = Engine(config)
    engine.start()
    wait_for(
        lambda: engine.parts.metrics.get("quotes") > 20 and engine.view().reconciled, what="quotes flowing"
    )

    engine.stop()

    wait_for(lambda: {t.ident for t in threading.enumerate()} <= before, what="threads gone")
    assert pykka.ActorRegistry.get_all() == []


def test_engine_stop_cancels_open_entries_never_exits(make_harness: Callable[..., Harness]) -> None:
    clock = ManualClock()
    paper = PaperEngine(
        clock=clock, balances={"USDT": Decimal(10000), "ETH": Decimal(1)}, fee_rate=Decimal("0.001")
    )
    paper.submit_order(
        OrderRequest(
            client_order_id=entry_id(1),
            symbol="BTC/USDT",
            side=Side.BUY,
            qty=Decimal("0.001"),
            price=Decimal(1000),
        )
    )  # an entry left resting
    paper.submit_order(
        OrderRequest(
            client_order_id=our_id(OrderPurpose.TAKE_PROFIT, 1),
            symbol="ETH/USDT",
            side=Side.SELL,
            qty=Decimal(1),
            price=Decimal(5000),
        )
    )  # an exit
    h = make_harness(engine=paper).start()
    assert [e.client_order_id for e in h.executor_snapshot().entries] == [entry_id(1)]

    h.engine.stop(cancel_entries=True)

    assert paper.get_order("BTC/USDT", client_order_id=entry_id(1)).status is OrderStatus.CANCELED
    assert (
        paper.get_order("ETH/USDT", client_order_id=our_id(OrderPurpose.TAKE_PROFIT, 1)).status
        is OrderStatus.NEW
    )


def _stop_in_background(h: Harness) -> threading.Thread:
    stopper = threading.Thread(target=h.engine.stop, kwargs={"cancel_entries": True}, name="stopper")
    stopper.start()
    return stopper


def test_an_executor_restarted_while_the_process_stops_sends_no_entry(
    make_harness: Callable[..., Harness],
) -> None:
    # The executor crashed just before the stop; the stop waits for a sender stuck on the venue, and the
    # executor's restart comes due meanwhile (the strategies still run): the new incarnation must know
    # the process is stopping, or it sends entries after the stop began.
    h = make_harness(senders_config()).start()
    h.trigger_buy("ETH/USDT")  # the executor has ETH/USDT's rules: only SOL/USDT's sizing crashes below
    send = Held()
    entry_at_a_stuck_sender(h, send.wait)
    h.exchange.fail("symbol_rules", lambda: RuntimeError("executor bug"), thread_prefix="ExecutorActor")
    h.trigger_buy("SOL/USDT", settle=False)
    wait_for(lambda: h.child(EXECUTOR).state is ChildState.RESTARTING, what="executor restarting")
    senders = [n for n in h.directory.names() if kind_of(n) is ActorKind.ORDER_SENDER]

    stopper = _stop_in_background(h)
    try:

        def stop_waits_on_a_sender() -> bool:
            waiting = False
            for ref in filter(None, (h.directory.get(n) for n in senders)):
                inbox = ref.actor_inbox
                assert isinstance(inbox, queue.SimpleQueue)  # a threading actor's (autohedge.actors.inbox)
                waiting = waiting or inbox.qsize() > 0
            return waiting

        wait_for(stop_waits_on_a_sender, what="the stop waiting for the stuck sender")
        delay_s = h.child(EXECUTOR).next_restart_in_s
        assert delay_s is not None
        h.clock.advance(delay_s)
        wait_for(lambda: h.child(EXECUTOR).state is ChildState.RUNNING, what="executor running again")
        h.trigger_buy("XRP/USDT", settle=False)
        h.barrier(strategy_name("XRP/USDT"))
        h.barrier(EXECUTOR)

        view = h.executor_snapshot()
        assert [e.symbol for e in view.sending if e.symbol == "XRP/USDT"] == []  # not sent after the stop
        assert STOPPED in view.gates
    finally:
        send.release()
        stopper.join(timeout=30)
    assert not stopper.is_alive()
    assert h.buys("XRP/USDT") == []
