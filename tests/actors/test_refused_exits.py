"""An exit the venue refuses for insufficient balance, or rejects, is placed again within the protection
promise, a bounded number of times, before the orphan path (ManualClock, paper exchange, no sleeps).

The refusal is injected on the re-arm that follows a second entry fill (the old OCO cancelled, the new one
refused), as a venue does while the cancelled exit's quantity is still locked."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from autohedge.actors.monitor import PositionMonitorActor
from autohedge.actors.protocol import RetryRefusedExits
from autohedge.core.actor_names import MONITOR
from autohedge.core.client_ids import ClientId
from autohedge.core.clock import NS_PER_S
from autohedge.core.errors import InsufficientFunds, OrderRejected
from autohedge.core.messages import ClosePosition
from autohedge.core.refused_exits import QUICK_RETRIES, REFUSED_RETRY_DELAY_S
from autohedge.core.types import OrderPurpose
from tests.actors.harness import Harness, make_config, wait_for
from tests.ids import PREFIX

SYMBOL = "BTC/USDT"


def refused() -> InsufficientFunds:
    return InsufficientFunds("paper 400 -2010: Account has insufficient balance", venue="paper", code=-2010)


def rejected() -> OrderRejected:
    return OrderRejected("paper: injected rejection", venue="paper", code="injected")


def held(h: Harness) -> Decimal:
    return sum((p.qty for p in h.paper_engine.positions([SYMBOL])), Decimal(0))


def covered(h: Harness) -> bool:
    """Both OCO legs rest over everything sellable that is held, and never over more."""
    sells = h.open_sells(SYMBOL)
    return len(sells) == 2 and all(Decimal("0.000001") > held(h) - o.qty >= 0 for o in sells)


def second_fill(h: Harness) -> None:
    """A second entry fill: the monitor cancels the position's OCO and places one for the whole holding."""
    h.clock.advance(0.25)  # past the strategy's rate limit (no exit check is due yet)
    h.quote(SYMBOL, "99.70", "99.72")
    h.settle()
    assert len(h.buys(SYMBOL)) == 2


def oco_submits(h: Harness) -> int:
    return h.exchange.calls.count("submit_oco")


def start_holding(make_harness: Callable[..., Harness]) -> Harness:
    h = make_harness(make_config(feed={"stale_after_s": 1000})).start()
    h.buy_protected(SYMBOL)
    return h


def test_exit_refused_once_is_placed_again_at_once_without_the_orphan_path(
    make_harness: Callable[..., Harness],
) -> None:
    h = start_holding(make_harness)
    h.exchange.fail("submit_oco", refused, thread_prefix="PositionMonitor")
    before = oco_submits(h)

    second_fill(h)

    assert covered(h)  # no simulated time passed
    assert oco_submits(h) == before + 2
    assert "orphan_detected" not in h.engine.parts.events.kinds()
    assert h.held(SYMBOL).repair_attempts == 0


@pytest.mark.parametrize("refusal", [refused, rejected], ids=["insufficient_balance", "rejected"])
def test_simulation_found_exit_refused_twice_in_a_row_waited_for_the_next_exit_check(
    make_harness: Callable[..., Harness], refusal: Callable[[], Exception]
) -> None:
    h = start_holding(make_harness)
    h.exchange.fail("submit_oco", refusal, times=2, thread_prefix="PositionMonitor")

    second_fill(h)
    assert h.open_sells(SYMBOL) == [] and not h.held(SYMBOL).protected

    # A quarter second, not the exit check a second away: two refusals and a wait for the check took a
    # simulated holding 1.1 s past its first refusal (config.yaml seed 42).
    h.advance(REFUSED_RETRY_DELAY_S)

    wait_for(lambda: covered(h), what="the holding covered again")
    assert "orphan_detected" not in h.engine.parts.events.kinds()
    assert h.held(SYMBOL).protected and h.held(SYMBOL).repair_attempts == 0


class PositionMonitorRetries(PositionMonitorActor):
    """The real monitor, recording when each quick retry of a refused exit is handled (its thread). Named
    like the monitor: its thread's name is what the injected refusals match."""

    handled: ClassVar[list[tuple[int, str]]] = []

    def on_retry_refused_exits(self, message: RetryRefusedExits) -> None:
        self.handled.append((self.ctx.clock.monotonic_ns(), message.key))
        super().on_retry_refused_exits(message)


def test_exit_refused_again_by_the_exit_check_keeps_one_retry_timer_for_its_key(
    make_harness: Callable[..., Harness],
) -> None:
    PositionMonitorRetries.handled = []
    h = make_harness(make_config(feed={"stale_after_s": 1000}), monitor_cls=PositionMonitorRetries).start()
    h.buy_protected(SYMBOL)
    h.exchange.fail("submit_oco", refused, times=3, thread_prefix="PositionMonitor")
    h.clock.advance(0.9)  # the exit check is due at 1.0
    h.quote(SYMBOL, "99.70", "99.72")  # a second fill at 0.9: refused twice, a retry due at 1.15
    h.settle()
    assert not h.held(SYMBOL).protected

    h.advance(0.1)  # the exit check at 1.0 retries it: refused a third time, the retry moves to 1.25
    h.advance(0.15)
    assert not h.held(SYMBOL).protected and PositionMonitorRetries.handled == []  # nothing retried at 1.15
    h.advance(0.1)

    wait_for(lambda: covered(h), what="the holding covered again")
    assert PositionMonitorRetries.handled == [(int(1.25 * NS_PER_S), SYMBOL)]  # one, at 1.25
    h.advance(1.0)
    assert len(PositionMonitorRetries.handled) == 1


def test_exit_refused_for_good_is_retried_a_bounded_number_of_times_then_takes_the_orphan_path(
    make_harness: Callable[..., Harness],
) -> None:
    h = start_holding(make_harness)
    h.exchange.fail("submit_oco", refused, times=1000, thread_prefix="PositionMonitor")
    before = oco_submits(h)

    second_fill(h)
    for _ in range(QUICK_RETRIES + 3):
        h.advance(1.0)

    # The refused placement, QUICK_RETRIES quick retries, then the orphan path's first (immediate) attempt;
    # its next one waits orphan_retry_s.
    assert oco_submits(h) == before + 1 + QUICK_RETRIES + 1
    assert "orphan_detected" in h.engine.parts.events.kinds()
    assert h.held(SYMBOL).repair_attempts == 1 and h.open_sells(SYMBOL) == []
    h.advance(h.config.monitor.orphan_retry_s)
    assert oco_submits(h) == before + 1 + QUICK_RETRIES + 2


def close_submits(h: Harness) -> int:
    return h.exchange.calls.count("submit_order")


def closes_placed(h: Harness) -> list[Any]:
    return [o for o in h.paper_engine.all_orders() if is_close(o.client_order_id)]


def is_close(client_order_id: str) -> bool:
    ours = ClientId.ours(client_order_id, PREFIX)
    return ours is not None and ours.purpose is OrderPurpose.CLOSE


def close_refused(make_harness: Callable[..., Harness], times: int) -> tuple[Harness, int]:
    """A protected holding closed (as the API's close asks) while the venue refuses the next ``times``
    closes for insufficient balance: (the harness, the order submits before the close)."""
    h = start_holding(make_harness)
    h.exchange.fail("submit_order", refused, times=times, thread_prefix="PositionMonitor")
    before = close_submits(h)
    h.directory.tell(MONITOR, ClosePosition(symbol=SYMBOL, reason="test close"))
    h.settle()
    return h, before


def test_close_refused_once_is_placed_again_at_once_sized_from_what_is_held(
    make_harness: Callable[..., Harness],
) -> None:
    h, before = close_refused(make_harness, times=1)

    assert close_submits(h) == before + 2  # no simulated time passed
    [close] = closes_placed(h)
    assert 0 < close.qty <= held(h) + close.filled_qty
    assert "orphan_detected" not in h.engine.parts.events.kinds()


def test_close_refused_twice_in_a_row_is_placed_again_within_a_quarter_second(
    make_harness: Callable[..., Harness],
) -> None:
    h, before = close_refused(make_harness, times=2)
    assert closes_placed(h) == [] and close_submits(h) == before + 2

    h.advance(REFUSED_RETRY_DELAY_S)  # not the exit check a second away

    wait_for(lambda: len(closes_placed(h)) == 1, what="the close placed again")
    assert close_submits(h) == before + 3
    assert "orphan_detected" not in h.engine.parts.events.kinds()


def test_close_refused_for_good_is_retried_a_bounded_number_of_times_then_takes_the_orphan_path(
    make_harness: Callable[..., Harness],
) -> None:
    h, before = close_refused(make_harness, times=1000)
    for _ in range(QUICK_RETRIES + 3):
        h.advance(1.0)

    # The refused close and QUICK_RETRIES quick retries; then the orphan path protects what is held.
    assert close_submits(h) == before + 1 + QUICK_RETRIES
    assert closes_placed(h) == []
    assert "orphan_detected" in h.engine.parts.events.kinds()
