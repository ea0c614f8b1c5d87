from __future__ import annotations

from decimal import Decimal

from autohedge.core.precision import decimals_of, money_text, step_text

D = Decimal


def test_precision_decimals_of_steps() -> None:
    assert [decimals_of(D(s)) for s in ("0.01", "0.00050", "1", "10", "1E-8")] == [2, 4, 0, 0, 8]


def test_precision_price_at_the_tick_never_division_noise() -> None:
    assert step_text(D("3005.916960680731467275247050"), D("0.01")) == "3005.92"
    assert step_text(D("0.5"), D("0.0001")) == "0.5000"
    assert step_text(D("1.234567891"), None) == "1.23456789"
    assert step_text(None, D("0.01")) is None


def test_precision_money_keeps_two_more_decimals_than_the_tick() -> None:
    assert money_text(D("0.012345"), D("0.01")) == "0.0123"
    assert money_text(D("-4.01"), D("1")) == "-4.01"
    assert money_text(D("2"), None) == "2.0000"
