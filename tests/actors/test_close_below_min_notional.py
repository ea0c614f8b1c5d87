"""A guarded stop whose close at the usual limit (below the bid) is worth less than the venue's minimum
order value: it sells at the lowest valid limit still at or below the bid, and where there is none the
exit stays (no loop of refused closes and re-armed exits)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

import autohedge.adapters.paper.engine as paper_engine
from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.clock import ManualClock
from autohedge.core.errors import OrderRefused
from autohedge.core.messages import SymbolRules
from autohedge.core.risk import rule_violations
from autohedge.core.types import OrderStatus, Side
from tests.actors.harness import Harness, make_config, wait_for

SYMBOL = "BTC/USDT"
RULES = SymbolRules(
    symbol=SYMBOL,
    tick_size=Decimal("0.01"),
    lot_step=Decimal("0.000001"),
    min_qty=Decimal("0.000001"),
    min_notional=Decimal("98.3"),
)
"""The entry of 100 USDT at 99.92 holds 0.999799 BTC after the fee: worth 98.40 at its stop-limit price
(98.42), so its exit is valid; a close at 0.5 % below a bid of 98.80 (98.30) is worth only 98.28."""


def protected(make_harness: Callable[..., Harness]) -> tuple[Harness, PaperEngine]:
    engine = PaperEngine(
        clock=ManualClock(),
        balances={"USDT": Decimal(10000)},
        fee_rate=Decimal("0.001"),
        rules={SYMBOL: RULES},
    )
    h = make_harness(make_config(), engine=engine, oco=False).start()
    h.trigger_buy(SYMBOL)
    wait_for(lambda: h.is_protected(SYMBOL), what="exit armed")
    return h, engine


def sells(engine: PaperEngine) -> list[object]:
    return [o for o in engine.all_orders() if o.side is Side.SELL]


def refused_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    """The venue's rules are checked by the adapter before sending (every real venue's adapter does)."""

    def check(self: PaperEngine, symbol: str, qty: Decimal, *prices: Decimal) -> None:
        problems = rule_violations(self.symbol_rules(symbol), qty, *prices)
        if problems:
            raise OrderRefused("; ".join(problems))

    monkeypatch.setattr(paper_engine.PaperEngine, "_check_rules", check)


def test_stop_close_below_min_notional_at_the_usual_limit_sells_at_the_lowest_valid_limit(
    make_harness: Callable[..., Harness],
) -> None:
    h, engine = protected(make_harness)
    held = engine.held_qty(SYMBOL)

    h.quote(SYMBOL, "98.80", "99.20")  # through the stop 98.92 (too wide a spread to buy)

    wait_for(lambda: engine.held_qty(SYMBOL) < RULES.lot_step, what="the close sold")
    close = sells(engine)[-1]
    assert close.status is OrderStatus.FILLED  # type: ignore[attr-defined]
    assert close.price == Decimal("98.32")  # type: ignore[attr-defined]
    assert close.qty * close.price >= RULES.min_notional  # type: ignore[attr-defined]
    assert close.qty <= held  # type: ignore[attr-defined]


@pytest.mark.parametrize("pre_send_check", [False, True], ids=["venue_rejects", "adapter_refuses"])
def test_stop_close_no_valid_limit_at_the_bid_keeps_the_exit_without_refused_orders(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch, pre_send_check: bool
) -> None:
    if pre_send_check:
        refused_before_sending(monkeypatch)
    h, engine = protected(make_harness)
    take_profit = sells(engine)[0]

    for _ in range(3):
        h.quote(SYMBOL, "98.00", "98.40")  # no sell of the holding at or below 98.00 is worth 98.3
        h.advance(1.0)

    assert [o.client_order_id for o in sells(engine)] == [take_profit.client_order_id]  # type: ignore[attr-defined]
    assert engine.get_order(SYMBOL, client_order_id=take_profit.client_order_id).status is OrderStatus.NEW  # type: ignore[attr-defined]
    assert h.is_protected(SYMBOL)
    assert "orphan_detected" not in h.engine.parts.events.kinds()
