"""A re-base's reads (``core.ledger.read_account``) against a venue whose order fills at each point of
them: the ledger then holds the fill once, whether its event comes after the re-base or was applied
before it. Pure: a ManualClock, no threads."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import pytest

from autohedge.core.clock import ManualClock
from autohedge.core.ledger import AccountLedger, read_account
from autohedge.core.messages import (
    AccountBalances,
    Balance,
    OrderSnapshot,
    OrderUpdate,
    PositionSnapshot,
)
from autohedge.core.types import OrderStatus, Side
from tests.ids import entry_id
from tests.unit.core.test_ledger_dedupe import update

D = Decimal
T = TypeVar("T")
COID = entry_id(1)
STEP_S = 0.001
"""How long each leg of a request (to the venue, back) takes, on both clocks."""


class _Venue:
    """One resting buy of 1 BTC at 100 (already half filled when ``half_filled``) that fills whole at
    the point of the reads named ``fill_at``."""

    def __init__(self, clock: ManualClock, fill_at: str, *, half_filled: bool = False) -> None:
        self.clock = clock
        self.fill_at = fill_at
        self.filled = D("0.5") if half_filled else D(0)
        self.events: list[OrderUpdate] = []

    def _point(self, name: str) -> None:
        if name == self.fill_at:
            last_qty, self.filled = D(1) - self.filled, D(1)
            now_ns = self.clock.wall_ns()
            self.events.append(update(last_qty=last_qty, fee=0, ts_event=now_ns, ts_init=now_ns))
        self.clock.advance(STEP_S)

    def open_orders(self) -> tuple[OrderSnapshot, ...]:
        self._point("open orders asked")
        listed = () if self.filled == 1 else (self._order(),)
        self._point("open orders answered")
        return listed

    def balances(self) -> dict[str, Balance]:
        self._point("balances asked")  # the clock reading is before this: the request is on its way
        answer = {"BTC": Balance(asset="BTC", free=self.filled), "USDT": Balance(asset="USDT", free=D(0))}
        self._point("balances answered")
        return answer

    def _order(self) -> OrderSnapshot:
        return OrderSnapshot(
            venue_order_id="P1",
            client_order_id=COID,
            symbol="BTC/USDT",
            side=Side.BUY,
            price=D(100),
            qty=D(1),
            filled_qty=self.filled,
            status=OrderStatus.PARTIALLY_FILLED if self.filled else OrderStatus.NEW,
        )


def rebased(venue: _Venue, ledger: AccountLedger) -> None:
    venue._point("before the reads")
    read = read_account(wall_ns=venue.clock.wall_ns, open_orders=venue.open_orders, balances=venue.balances)
    ledger.rebase_from(read)
    venue._point("after the reads")


POINTS = [
    "before the reads",
    "open orders asked",
    "open orders answered",
    "balances answered",
    "after the reads",
]
"""Every point of the reads but the balances request's own way to the venue (then the ledger cannot tell
whether the answer holds the fill: see the unsure tests)."""


@pytest.mark.parametrize("half_filled", [False, True], ids=["resting", "half filled"])
@pytest.mark.parametrize("fill_at", POINTS)
def test_a_fill_at_any_point_of_the_reads_is_held_once_when_its_event_comes_after(
    fill_at: str, half_filled: bool
) -> None:
    venue = _Venue(ManualClock(), fill_at, half_filled=half_filled)
    ledger = AccountLedger()
    rebased(venue, ledger)
    for event in venue.events:
        ledger.apply(event)

    assert venue.events and ledger.position("BTC/USDT") == 1


def test_the_reads_go_open_orders_then_clock_then_balances_then_positions() -> None:
    clock = ManualClock()
    calls: list[str] = []

    def step(name: str, answer: T) -> Callable[[], T]:
        def call() -> T:
            calls.append(name)
            clock.advance(1)
            return answer

        return call

    def wall_ns() -> int:
        calls.append("clock")
        return clock.wall_ns()

    no_orders: tuple[OrderSnapshot, ...] = ()
    no_balances: dict[str, Balance] = {}
    no_positions: tuple[PositionSnapshot, ...] = ()
    read = read_account(
        wall_ns=wall_ns,
        open_orders=step("open orders", no_orders),
        balances=step("balances", no_balances),
        positions=step("positions", no_positions),
    )

    assert calls == ["open orders", "clock", "balances", "positions", "clock"]
    start_ns = ManualClock().wall_ns()
    assert (read.as_of_ns, read.answered_ns) == (start_ns + 1_000_000_000, start_ns + 3_000_000_000)
    assert read.order_fills == {}


@pytest.mark.parametrize("half_filled", [False, True], ids=["resting", "half filled"])
@pytest.mark.parametrize("fill_at", ["balances asked", "balances answered"])
def test_a_fill_while_the_balances_are_read_leaves_the_ledger_unsure_until_read_again(
    fill_at: str, half_filled: bool
) -> None:
    # Dated between the clock readings around the balances read: inside the answer or not, the ledger
    # cannot tell. Applied (never missed), the sum may count it twice, so no reader trusts it until the
    # account is read again; that read holds it once.
    venue = _Venue(ManualClock(), fill_at, half_filled=half_filled)
    ledger = AccountLedger()
    rebased(venue, ledger)
    ledger.set_live(True)
    for event in venue.events:
        ledger.apply(event)
    assert ledger.unsure and not ledger.live
    assert ledger.position("BTC/USDT") >= 1  # never missing

    ledger.rebase_from(read_account(wall_ns=venue.clock.wall_ns, balances=venue.balances))

    assert not ledger.unsure and ledger.live
    assert ledger.position("BTC/USDT") == 1


@pytest.mark.parametrize("fill_at", [p for p in POINTS if p != "balances answered"])
def test_a_fill_outside_the_balances_read_leaves_the_ledger_sure(fill_at: str) -> None:
    venue = _Venue(ManualClock(), fill_at)
    ledger = AccountLedger()
    rebased(venue, ledger)
    ledger.set_live(True)
    for event in venue.events:
        ledger.apply(event)

    assert not ledger.unsure and ledger.live


def test_a_balance_pushed_after_the_fill_places_it_without_a_read() -> None:
    venue = _Venue(ManualClock(), "balances asked")
    ledger = AccountLedger()
    rebased(venue, ledger)
    fill_ns = venue.events[0].ts_event
    ledger.apply_balances(
        AccountBalances(
            venue="paper",
            balances=(Balance(asset="BTC", free=D(1)), Balance(asset="USDT", free=D(0))),
            ts_event=fill_ns,
            ts_init=fill_ns,
        )
    )
    ledger.apply(venue.events[0])

    assert not ledger.unsure
    assert ledger.position("BTC/USDT") == 1
