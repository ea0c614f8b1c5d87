"""The simulated venue answers as the strictest real venue does where the paper exchange is lenient."""

from decimal import Decimal

import pytest

from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.core.clock import ManualClock
from autohedge.core.config import PaperConfig, PaperFaults
from autohedge.core.errors import UnknownOrder
from autohedge.core.messages import OrderRequest, Quote
from autohedge.core.types import OrderStatus, Side
from autohedge.sim.venue import ObservedExchange
from tests.unit.sim.test_invariants import checker

SYMBOL = "BTC/USDT"


def test_a_cancel_of_an_order_no_longer_open_is_unknown_filled_or_cancelled() -> None:
    # Binance answers both -2011 "Unknown order sent.": only a read tells a fill from a cancel.
    clock = ManualClock()
    faults = PaperFaults(reject_rate=0, rate_limit_rate=0, ban_rate=0, outcome_unknown_rate=0, latency_ms=0)
    paper = PaperExchange.from_config(
        PaperConfig(balances={"USDT": Decimal(1000)}, faults=faults), clock=clock, symbols=[SYMBOL]
    )
    venue = ObservedExchange(paper, checker=checker(), clock=clock, step=lambda: 0)
    paper.on_quote(
        Quote(venue="paper", symbol=SYMBOL, bid=Decimal(100), ask=Decimal(101), ts_event=0, ts_init=0)
    )
    for coid, price in (("filled", "101"), ("cancelled", "99")):
        request = OrderRequest(
            client_order_id=coid, symbol=SYMBOL, side=Side.BUY, qty=Decimal(1), price=Decimal(price)
        )
        venue.submit_order(request)
    venue.cancel_order(SYMBOL, client_order_id="cancelled")
    assert venue.get_order(SYMBOL, client_order_id="filled").status is OrderStatus.FILLED

    for coid in ("filled", "cancelled"):
        with pytest.raises(UnknownOrder, match="-2011") as info:
            venue.cancel_order(SYMBOL, client_order_id=coid)
        assert info.value.code == -2011
