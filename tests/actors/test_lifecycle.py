"""The real composition (RealClock, synthetic stream, paper exchange) starts and stops cleanly."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pykka

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.app import Engine
from autohedge.core.clock import ManualClock
from autohedge.core.messages import OrderRequest
from autohedge.core.types import OrderPurpose, OrderStatus, Side
from tests.actors.harness import Harness, make_config, wait_for
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
