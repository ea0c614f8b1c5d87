"""The per-pair order-rate counter (Kraken's trading limiter) on a ManualClock."""

import pytest

from autohedge.core.clock import ManualClock
from autohedge.core.errors import RateLimited
from autohedge.core.ratecounter import DecayingCounter, PairOrderBudget

PENALTIES = ((5.0, 8.0), (10.0, 6.0), (300.0, 1.0))


def budget(clock: ManualClock, threshold: float = 20) -> PairOrderBudget:
    return PairOrderBudget(
        clock, venue="kraken", threshold=threshold, decay_per_s=1.0, add_cost=1, cancel_penalties=PENALTIES
    )


def test_ratecounter_cancel_costs_more_the_younger_the_order() -> None:
    clock = ManualClock()
    counter = budget(clock)
    counter.charge_add("XBTUSD", "o1", priority=True)
    assert counter.cancel_cost("o1") == 8.0
    clock.advance(6)
    assert counter.cancel_cost("o1") == 6.0
    clock.advance(300)
    assert counter.cancel_cost("o1") == 0.0


def test_ratecounter_entries_stop_at_the_reserve_exits_use_it() -> None:
    clock = ManualClock()
    counter = budget(clock, threshold=10)  # reserve 20% = 2
    for i in range(8):
        counter.charge_add("XBTUSD", f"e{i}", priority=False)
    with pytest.raises(RateLimited) as caught:
        counter.charge_add("XBTUSD", "e8", priority=False)
    assert caught.value.retry_after_s == pytest.approx(1.0)
    counter.charge_add("XBTUSD", "tp", priority=True)


def test_ratecounter_young_cancel_is_refused_when_the_counter_is_nearly_full() -> None:
    clock = ManualClock()
    counter = budget(clock, threshold=10)
    for i in range(5):
        counter.charge_add("XBTUSD", f"o{i}", priority=True)
    with pytest.raises(RateLimited) as caught:
        counter.charge_cancel("XBTUSD", "o0")  # costs 8 with 5 left
    assert caught.value.retry_after_s == pytest.approx(3.0)
    clock.advance(3)
    counter.charge_cancel("XBTUSD", "o0")


def test_ratecounter_pairs_are_independent() -> None:
    clock = ManualClock()
    counter = budget(clock, threshold=2)
    counter.charge_add("XBTUSD", "a", priority=True)
    counter.charge_add("XBTUSD", "b", priority=True)
    counter.charge_add("ETHUSD", "c", priority=True)
    with pytest.raises(RateLimited):
        counter.charge_add("XBTUSD", "d", priority=True)


def test_ratecounter_forgotten_order_cancels_free() -> None:
    clock = ManualClock()
    counter = budget(clock)
    counter.charge_add("XBTUSD", "o1", priority=True)
    counter.forget("o1")
    assert counter.cancel_cost("o1") == 0.0


def test_ratecounter_ban_blocks_the_pair_until_it_passes() -> None:
    clock = ManualClock()
    counter = budget(clock)
    counter.ban("XBTUSD", 4.0)
    with pytest.raises(RateLimited):
        counter.charge_add("XBTUSD", "o1", priority=True)
    clock.advance(4)
    counter.charge_add("XBTUSD", "o1", priority=True)


def test_ratecounter_penalties_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="rising"):
        PairOrderBudget(
            ManualClock(),
            venue="k",
            threshold=1,
            decay_per_s=1,
            add_cost=1,
            cancel_penalties=((10, 1), (5, 2)),
        )


def test_decaying_counter_drains_at_its_rate() -> None:
    clock = ManualClock()
    counter = DecayingCounter(clock, venue="kraken", threshold=15, decay_per_s=0.5)
    for _ in range(15):
        counter.charge(1, priority=True)
    with pytest.raises(RateLimited) as caught:
        counter.charge(1, priority=True)
    assert caught.value.retry_after_s == pytest.approx(2.0)
    clock.advance(2)
    counter.charge(1, priority=True)
    assert counter.value == pytest.approx(15)


def test_decaying_counter_pause_fills_it_and_waits() -> None:
    clock = ManualClock()
    counter = DecayingCounter(clock, venue="kraken", threshold=10, decay_per_s=1)
    counter.pause(3)
    with pytest.raises(RateLimited, match="paused"):
        counter.charge(1, priority=True)
    clock.advance(3)
    with pytest.raises(RateLimited):  # full after the pause: 3 s drained 3 of 10, entries stop at 8
        counter.charge(2, priority=False)
    counter.charge(2, priority=True)
