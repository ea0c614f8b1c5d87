from decimal import Decimal

import pytest

from autohedge.core.types import quantize_down, quantize_up, validate_symbol


def test_quantize_down_and_up_use_the_step() -> None:
    assert quantize_down(Decimal("1.23456"), Decimal("0.001")) == Decimal("1.234")
    assert quantize_up(Decimal("1.23401"), Decimal("0.001")) == Decimal("1.235")


def test_validate_symbol_rejects_venue_forms() -> None:
    assert validate_symbol("BTC/USDT") == "BTC/USDT"
    for bad in ("BTCUSDT", "btc/usdt", "BTC-USD"):
        with pytest.raises(ValueError, match="BASE/QUOTE"):
            validate_symbol(bad)
