"""Pre-trade checks for entries: sizing, venue minimums, max position, free balance.

Each refusal raises ``OrderRefused`` with a sentence that says what and why; nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from autohedge.core.config import SymbolParams
from autohedge.core.errors import InsufficientBalance, OrderRefused
from autohedge.core.messages import SymbolRules
from autohedge.core.types import quantize_down

__all__ = ["EntrySize", "refuse_rule_violations", "rule_violations", "size_entry"]


def refuse_rule_violations(
    venue: str, symbol: str, rules: SymbolRules, qty: Decimal, *prices: Decimal
) -> None:
    """Raise ``OrderRefused`` naming every problem when the venue would reject the order: an adapter
    refuses it before sending (the caller records the refusal)."""
    problems = rule_violations(rules, qty, *prices)
    if problems:
        raise OrderRefused(f"{venue} {symbol}: " + "; ".join(problems))


def rule_violations(rules: SymbolRules, qty: Decimal, *prices: Decimal) -> list[str]:
    """What a venue would reject about an order (empty = acceptable): tick, lot step, minimums."""
    problems = [
        f"price {p} is not a positive multiple of tick {rules.tick_size}"
        for p in prices
        if p <= 0 or p % rules.tick_size != 0
    ]
    if qty <= 0 or qty % rules.lot_step != 0:
        problems.append(f"quantity {qty} is not a positive multiple of lot step {rules.lot_step}")
    if qty < rules.min_qty:
        problems.append(f"quantity {qty} below the minimum {rules.min_qty}")
    if prices and qty * min(prices) < rules.min_notional:
        problems.append(f"order value {qty * min(prices)} below the minimum notional {rules.min_notional}")
    return problems


@dataclass(frozen=True)
class EntrySize:
    qty: Decimal
    price: Decimal

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price


def size_entry(
    *,
    symbol: str,
    price: Decimal,
    params: SymbolParams,
    rules: SymbolRules,
    position_qty: Decimal,
    open_entry_qty: Decimal,
    free_quote: Decimal,
    fee_rate: Decimal,
) -> EntrySize:
    """Size a buy of ``params.order_amount`` (quote currency) at ``price``, within every limit.

    ``position_qty`` is what is held, ``open_entry_qty`` what open entries may still add.
    """
    limit_price = quantize_down(price, rules.tick_size)
    if limit_price <= 0:
        raise OrderRefused(f"{symbol}: price {price} rounds to zero at tick {rules.tick_size}")
    exposure = (position_qty + open_entry_qty) * limit_price
    room = params.max_position_size - exposure
    amount = min(params.order_amount, room)
    if amount <= 0:
        raise OrderRefused(
            f"{symbol}: max_position_size {params.max_position_size} reached (exposure {exposure:.2f})"
        )
    qty = quantize_down(amount / limit_price, rules.lot_step)
    if rules.max_qty is not None:
        qty = min(qty, quantize_down(rules.max_qty, rules.lot_step))
    if qty <= 0 or qty < rules.min_qty:
        raise OrderRefused(f"{symbol}: quantity {qty} below the venue minimum {rules.min_qty}")
    notional = qty * limit_price
    if notional < rules.min_notional:
        raise OrderRefused(
            f"{symbol}: order value {notional} below the venue minimum notional {rules.min_notional}"
        )
    needed = notional * (1 + fee_rate)
    if needed > free_quote:
        raise InsufficientBalance(f"{symbol}: insufficient balance: need {needed:.8f}, free {free_quote:.8f}")
    return EntrySize(qty=qty, price=limit_price)
