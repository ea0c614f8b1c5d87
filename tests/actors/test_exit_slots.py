"""Exits never starve for order slots: entries for many symbols rest, then fill together, and every
fill's exit is placed at once (ManualClock, paper exchange spending a Binance-like order budget)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

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


def buy_below_the_market(h: Harness, symbol: str) -> None:
    now = h.clock.wall_ns()
    signal = Signal(
        signal_id=f"sig-{symbol}",
        strategy="test",
        symbol=symbol,
        side=Side.BUY,
        price=Decimal("99"),
        quote_ts_init=now,
        ts_init=now,
    )
    h.directory.tell(EXECUTOR, signal)


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
