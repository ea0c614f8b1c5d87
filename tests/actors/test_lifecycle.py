"""The real composition (RealClock, synthetic stream, paper exchange) starts and stops cleanly."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pykka

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.app import Engine
from autohedge.core.client_ids import ClientId
from autohedge.core.clock import ManualClock
from autohedge.core.messages import OrderRequest
from autohedge.core.types import OrderPurpose, OrderStatus, Side
from tests.actors.harness import Harness, make_config, wait_for


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
            client_order_id=ClientId("ah", OrderPurpose.ENTRY, 1).encode(),
            symbol="BTC/USDT",
            side=Side.BUY,
            qty=Decimal("0.001"),
            price=Decimal(1000),
        )
    )  # an entry left resting
    paper.submit_order(
        OrderRequest(
            client_order_id=ClientId("ah", OrderPurpose.TAKE_PROFIT, 1).encode(),
            symbol="ETH/USDT",
            side=Side.SELL,
            qty=Decimal(1),
            price=Decimal(5000),
        )
    )  # an exit
    h = make_harness(engine=paper).start()
    assert [e.client_order_id for e in h.executor_snapshot().entries] == [
        ClientId("ah", OrderPurpose.ENTRY, 1).encode()
    ]

    h.engine.stop(cancel_entries=True)

    assert (
        paper.get_order("BTC/USDT", client_order_id=ClientId("ah", OrderPurpose.ENTRY, 1).encode()).status
        is OrderStatus.CANCELED
    )
    assert (
        paper.get_order(
            "ETH/USDT", client_order_id=ClientId("ah", OrderPurpose.TAKE_PROFIT, 1).encode()
        ).status
        is OrderStatus.NEW
    )
