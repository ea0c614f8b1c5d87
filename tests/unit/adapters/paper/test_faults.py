from decimal import Decimal

import pytest

from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.clock import ManualClock
from autohedge.core.config import PaperFaults
from autohedge.core.errors import OrderRejected, OutcomeUnknown, RateLimited
from autohedge.core.messages import OrderRequest
from autohedge.core.types import Side


def exchange(faults: PaperFaults, sleeps: list[float] | None = None) -> PaperExchange:
    engine = PaperEngine(clock=ManualClock(), balances={"USDT": Decimal(10000)}, fee_rate=Decimal("0.001"))
    return PaperExchange(
        engine, faults=faults, seed=3, sleep=(sleeps.append if sleeps is not None else lambda s: None)
    )


def order(n: int) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"c{n}", symbol="BTC/USDT", side=Side.BUY, qty=Decimal("0.1"), price=Decimal(90)
    )


def test_faults_rate_limit_every_nth_call_pauses_the_venue_for_retry_after() -> None:
    ex = exchange(PaperFaults(rate_limit_every_n=3))
    clock = ex.engine.clock
    assert isinstance(clock, ManualClock)
    ex.balances()
    ex.balances()
    with pytest.raises(RateLimited) as info:
        ex.balances()
    assert info.value.retry_after_s == 1.0
    assert ex.request_budget.status().rate_limited
    with pytest.raises(RateLimited):
        ex.balances()  # the venue said wait: nothing is sent until it has passed
    clock.advance(1.0)
    ex.balances()
    assert not ex.request_budget.status().rate_limited


def test_faults_reject_rate_one_rejects_without_placing() -> None:
    ex = exchange(PaperFaults(reject_rate=1.0))
    with pytest.raises(OrderRejected):
        ex.submit_order(order(1))
    assert ex.engine.all_orders() == ()


def test_faults_outcome_unknown_sometimes_after_placement() -> None:
    ex = exchange(PaperFaults(outcome_unknown_rate=1.0))
    placed_before_error = 0
    for n in range(20):
        with pytest.raises(OutcomeUnknown):
            ex.submit_order(order(n))
        placed_before_error = len(ex.engine.all_orders())
    assert 0 < placed_before_error < 20  # both lost requests and lost responses happened


def test_faults_latency_sleeps_per_call() -> None:
    sleeps: list[float] = []
    ex = exchange(PaperFaults(latency_ms=25), sleeps)
    ex.balances()
    ex.open_orders()
    assert sleeps == [0.025, 0.025]


def test_faults_switch_off_at_run_time() -> None:
    ex = exchange(PaperFaults(reject_rate=1.0))
    ex.set_faults(PaperFaults())
    assert ex.submit_order(order(1)).client_order_id == "c1"


def windowed(faults: PaperFaults, clock: ManualClock) -> PaperExchange:
    engine = PaperEngine(clock=clock, balances={"USDT": Decimal(10000)}, fee_rate=Decimal("0.001"))
    return PaperExchange(engine, faults=faults, seed=3, sleep=lambda s: None, clock=clock)


def test_faults_429_opens_a_retry_after_window_that_refuses_every_call_until_it_ends() -> None:
    clock = ManualClock()
    ex = windowed(PaperFaults(rate_limit_rate=1.0, retry_after_s=2.0), clock)
    with pytest.raises(RateLimited) as first:
        ex.balances()
    ex.set_faults(PaperFaults())
    clock.advance(1.5)

    with pytest.raises(RateLimited) as inside:
        ex.balances()
    clock.advance(0.5)
    ex.balances()

    assert first.value.code == 429 and first.value.retry_after_s == 2.0
    assert inside.value.retry_after_s == pytest.approx(0.5)
    assert ex.faults_injected == {"rate_limit_429": 1}


def test_faults_418_is_a_ban_for_ban_s() -> None:
    clock = ManualClock()
    ex = windowed(PaperFaults(ban_rate=1.0, ban_s=10.0), clock)
    with pytest.raises(RateLimited) as banned:
        ex.open_orders()
    ex.set_faults(PaperFaults())
    clock.advance(9.0)

    with pytest.raises(RateLimited) as still:
        ex.open_orders()

    assert banned.value.code == 418 and banned.value.banned and banned.value.retry_after_s == 10.0
    assert still.value.banned and still.value.retry_after_s == pytest.approx(1.0)


def test_faults_outcome_unknown_after_accept_leaves_the_order_on_the_venue() -> None:
    ex = exchange(PaperFaults(outcome_unknown_rate=1.0, outcome_unknown_after_share=1.0))
    with pytest.raises(OutcomeUnknown):
        ex.submit_order(order(1))

    assert ex.engine.get_order("BTC/USDT", client_order_id="c1").client_order_id == "c1"
    assert ex.faults_injected == {"outcome_unknown_after_accept": 1}


def test_faults_outcome_unknown_before_accept_places_nothing() -> None:
    ex = exchange(PaperFaults(outcome_unknown_rate=1.0, outcome_unknown_after_share=0.0))
    with pytest.raises(OutcomeUnknown):
        ex.submit_order(order(1))

    assert ex.engine.open_orders() == ()
    assert ex.faults_injected == {"outcome_unknown_before_accept": 1}
