"""The protection plan is decided per symbol from the venue's capabilities (pure, no venue names)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autohedge.core.ports import Capabilities
from autohedge.core.protection import ProtectionPlan, exit_orders_owed, exit_orders_per_entry, plan_for


def _caps(*, oco: bool, oco_symbols: frozenset[str] | None = None) -> Capabilities:
    """A venue's capabilities where only its OCO support matters."""
    return Capabilities(oco=oco, oco_symbols=oco_symbols, max_fee_rate=Decimal(0))


@pytest.mark.parametrize(
    ("capabilities", "symbol", "plan"),
    [
        (_caps(oco=True), "BTC/USDT", ProtectionPlan.OCO),  # an OCO list for every symbol
        (_caps(oco=False), "BTC/USD", ProtectionPlan.TP_WITH_GUARDED_SL),
        # a venue holding both legs only for the products that accept it (a bracket)
        (_caps(oco=True, oco_symbols=frozenset({"BTC/USD"})), "BTC/USD", ProtectionPlan.OCO),
        (
            _caps(oco=True, oco_symbols=frozenset({"BTC/USD"})),
            "ETH/USD",
            ProtectionPlan.TP_WITH_GUARDED_SL,
        ),
        (_caps(oco=True, oco_symbols=frozenset()), "BTC/USD", ProtectionPlan.TP_WITH_GUARDED_SL),
        # the symbol list never turns on what the venue lacks
        (
            _caps(oco=False, oco_symbols=frozenset({"BTC/USD"})),
            "BTC/USD",
            ProtectionPlan.TP_WITH_GUARDED_SL,
        ),
    ],
)
def test_plan_for_symbol(capabilities: Capabilities, symbol: str, plan: ProtectionPlan) -> None:
    assert plan_for(capabilities, symbol) is plan


def test_exit_orders_owed_counts_two_per_oco_and_one_per_tp_with_guarded_sl() -> None:
    bracket_for_btc = _caps(oco=True, oco_symbols=frozenset({"BTC/USD"}))
    assert exit_orders_owed(bracket_for_btc, ["BTC/USD", "BTC/USD", "ETH/USD"]) == 5
    assert exit_orders_owed(_caps(oco=False), ["BTC/USD", "ETH/USD"]) == 2
    assert exit_orders_owed(_caps(oco=True), []) == 0


@pytest.mark.parametrize(
    "capabilities",
    [
        _caps(oco=True),
        _caps(oco=False),
        _caps(oco=False, oco_symbols=frozenset({"BTC/USD"})),
        _caps(oco=True, oco_symbols=frozenset({"BTC/USD"})),
        _caps(oco=True, oco_symbols=frozenset()),
    ],
)
def test_exit_orders_per_entry_agrees_with_the_count_per_symbol(capabilities: Capabilities) -> None:
    symbols = ["BTC/USD", "ETH/USD", "BTC/USD"]
    per_entry = exit_orders_per_entry(capabilities)
    uniform = {exit_orders_owed(capabilities, [s]) for s in symbols}
    if per_entry is None:  # only a venue with OCO for some symbols depends on the symbol
        assert capabilities.oco and capabilities.oco_symbols is not None
    else:
        assert uniform == {per_entry}
        assert exit_orders_owed(capabilities, symbols) == per_entry * len(symbols)
