"""Exits never starve for order slots: entries for many symbols rest, then fill together, and every
fill's exit is placed at once (ManualClock, paper exchange spending a Binance-like order budget)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from autohedge.actors.protocol import TickSignals
from autohedge.core.actor_names import EXECUTOR
from autohedge.core.messages import OcoRequest, OrderRequest, OrderSnapshot, Signal
from autohedge.core.ratelimit import LimitKind, LimitRule
from autohedge.core.types import Side
from tests.actors.harness import Harness, make_config, wait_for

SYMBOLS = [f"C{i:02d}/USDT" for i in range(20)]
ORDERS_PER_10S = 50


def spend_order_slots(h: Harness) -> None:
    """Make the paper venue spend order slots like Binance (entries by the reserve rule, exits with
    priority; an OCO is two orders)."""
    budget = h.paper.request_budget
    budget.apply_limits(
        [LimitRule(LimitKind.WEIGHT, 6000, 60), LimitRule(LimitKind.ORDERS, ORDERS_PER_10S, 10)]
    )
    submit_order, submit_oco = h.paper.submit_order, h.paper.submit_oco

    def order(request: OrderRequest) -> OrderSnapshot:
        budget.acquire(1, orders=1, priority=request.purpose.is_exit)
        return submit_order(request)

    def oco(request: OcoRequest) -> Any:
        budget.acquire(1, orders=2, priority=True)
        return submit_oco(request)

    h.paper.submit_order = order  # type: ignore[method-assign]
    h.paper.submit_oco = oco  # type: ignore[method-assign]


def buy_signal(h: Harness, symbol: str) -> Signal:
    """A buy below the market (it rests until the market falls through it)."""
    now = h.clock.wall_ns()
    return Signal(
        signal_id=f"sig-{symbol}",
        strategy="test",
        symbol=symbol,
        side=Side.BUY,
        price=Decimal("99"),
        quote_ts_init=now,
        ts_init=now,
    )


def buy_below_the_market(h: Harness, symbol: str) -> None:
    h.directory.tell(EXECUTOR, buy_signal(h, symbol))


def test_fills_of_many_symbols_together_get_every_exit_within_a_second(
    make_harness: Callable[..., Harness],
) -> None:
    config = make_config(
        symbols=SYMBOLS,
        paper={"balances": {"USDT": 1_000_000}, "fee_rate": 0.001},
        feed={"stale_after_s": 1000},
    )
    h = make_harness(config).start()
    spend_order_slots(h)
    for symbol in SYMBOLS:
        h.quote(symbol, "100", "100.02")
    for symbol in SYMBOLS:
        # One at a time, each sent before the next is decided: an entry whose sender has spent its slot
        # but whose answer the executor has not read yet is counted twice (conservatively), so signals
        # told together admit fewer entries depending on which thread runs first.
        buy_below_the_market(h, symbol)
        h.settle()
    resting = [s for s in SYMBOLS if h.buys(s)]
    # Entries stop while the window still has to hold the OCOs they can need: 13 entries + 26 exit orders
    # stay within the 40 orders entries may see (50 less the 20 % reserve).
    assert len(resting) == 13, resting

    for symbol in SYMBOLS:  # the market falls through every resting entry at once
        h.quote(symbol, "98.9", "98.95")
    h.settle()
    h.advance(1.0)

    wait_for(lambda: all(h.is_protected(s) for s in resting), what="every filled entry protected")
    assert all(len(h.open_sells(s)) == 2 for s in resting)


def test_a_tick_the_window_holds_is_checked_once_and_one_it_does_not_signal_by_signal(
    make_harness: Callable[..., Harness],
) -> None:
    """The window's check for a whole tick admits exactly what the checks signal by signal would."""
    paper = {"balances": {"USDT": 1_000_000}, "fee_rate": 0.001}
    config = make_config(symbols=SYMBOLS, paper=paper, feed={"stale_after_s": 1000})
    h = make_harness(config, pipe=True).start()
    spend_order_slots(h)
    budget = h.paper.request_budget
    checks: list[int] = []
    wait_s = budget.wait_s

    def counted_wait_s(**kwargs: Any) -> float:
        checks.append(kwargs.get("exits_owed", 0))
        return wait_s(**kwargs)

    budget.wait_s = counted_wait_s  # type: ignore[method-assign]
    for symbol in SYMBOLS:
        h.quote(symbol, "100", "100.02")

    h.directory.tell(EXECUTOR, TickSignals(signals=tuple(buy_signal(h, s) for s in SYMBOLS[:5])))
    h.settle()
    assert [s for s in SYMBOLS if h.buys(s)] == SYMBOLS[:5]
    assert checks == [2 * (0 + 4 + 0 + 1) + 4]  # one check, as the fifth entry would have made it

    checks.clear()
    h.directory.tell(EXECUTOR, TickSignals(signals=tuple(buy_signal(h, s) for s in SYMBOLS[5:])))
    h.settle()
    # 5 resting (5 slots used): entry k of the tick needs 5 + 1 + 2 * (5 + k + 1) + k <= 40, so k <= 7.
    assert [s for s in SYMBOLS if h.buys(s)] == SYMBOLS[:13]
    # The tick's check (as its fifteenth entry would make it) refused, so each signal asked on its own:
    # eight were admitted, the rest refused (and asked again for their retry's delay).
    assert checks[0] == 2 * (5 + 14 + 0 + 1) + 14
    assert checks[1:9] == [2 * (5 + k + 1) + k for k in range(8)] and set(checks[9:]) == {36}
