"""Showing prices, quantities and money at a symbol's precision (never 28 digits of division noise)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

__all__ = ["MONEY_EXTRA_DECIMALS", "decimals_of", "money_text", "step_text"]

MONEY_EXTRA_DECIMALS = 2
"""Money (P&L, fees) keeps two more decimals than the price tick: small P&L stays visible."""


def decimals_of(step: Decimal) -> int:
    """Decimal places of a tick or lot step: ``0.01`` -> 2, ``0.00050`` -> 4, ``1`` -> 0."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _at(value: Decimal, decimals: int) -> str:
    return format(value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN), "f")


def step_text(value: Decimal | None, step: Decimal | None) -> str | None:
    """``value`` with the decimals of ``step`` (tick for prices, lot step for quantities); without a
    step, the value's own digits up to 8 decimals."""
    if value is None:
        return None
    if step is None or step <= 0:
        return format(value.quantize(Decimal("1E-8")).normalize(), "f")
    return _at(value, decimals_of(step))


def money_text(value: Decimal | None, tick: Decimal | None) -> str | None:
    """Quote-currency amounts: the tick's decimals plus ``MONEY_EXTRA_DECIMALS`` (at least 2)."""
    if value is None:
        return None
    decimals = decimals_of(tick) + MONEY_EXTRA_DECIMALS if tick is not None and tick > 0 else 4
    return _at(value, max(2, decimals))
