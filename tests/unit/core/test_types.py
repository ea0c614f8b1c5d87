from decimal import Decimal

import pytest

from autohedge.core import types
from autohedge.core.types import quantize_down, quantize_up, validate_symbol


def test_quantize_down_and_up_use_the_step() -> None:
    assert quantize_down(Decimal("1.23456"), Decimal("0.001")) == Decimal("1.234")
    assert quantize_up(Decimal("1.23401"), Decimal("0.001")) == Decimal("1.235")


def test_validate_symbol_rejects_venue_forms() -> None:
    assert validate_symbol("BTC/USDT") == "BTC/USDT"
    for bad in ("BTCUSDT", "btc/usdt", "BTC-USD", "BTC/USDT\n", " BTC/USDT"):
        with pytest.raises(ValueError, match="BASE/QUOTE"):
            validate_symbol(bad)


def test_validate_symbol_remembers_only_well_formed_symbols_and_stays_bounded() -> None:
    for _ in range(2):  # once checked, once remembered: the same answers
        assert validate_symbol("ETH/USDT") == "ETH/USDT"
        with pytest.raises(ValueError, match="BASE/QUOTE"):
            validate_symbol("ETHUSDT")
    many = [f"S{i}/USD" for i in range(5_000)]
    assert [validate_symbol(s) for s in many] == many
    assert len(types._CHECKED_SYMBOLS) <= types._CHECKED_SYMBOLS_KEPT
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        validate_symbol("S1/usd")
