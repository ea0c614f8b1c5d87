from decimal import Decimal

import pytest

from autohedge.core.types import (
    CLIENT_ORDER_ID_MAX_LEN,
    OrderPurpose,
    make_client_order_id,
    quantize_down,
    quantize_up,
    validate_symbol,
)


def test_client_order_id_same_inputs_same_id() -> None:
    assert make_client_order_id("ah", OrderPurpose.ENTRY, 42, 1) == make_client_order_id(
        "ah", OrderPurpose.ENTRY, 42, 1
    )


def test_client_order_id_largest_key_fits_every_venue() -> None:
    coid = make_client_order_id("abcd", OrderPurpose.TAKE_PROFIT, 36**8 - 1, 35)
    assert len(coid) <= CLIENT_ORDER_ID_MAX_LEN
    assert coid.replace("-", "").isalnum() and coid == coid.lower()


def test_client_order_id_bad_prefix_raises() -> None:
    with pytest.raises(ValueError, match="prefix"):
        make_client_order_id("AH_", OrderPurpose.ENTRY, 1)


def test_quantize_down_and_up_use_the_step() -> None:
    assert quantize_down(Decimal("1.23456"), Decimal("0.001")) == Decimal("1.234")
    assert quantize_up(Decimal("1.23401"), Decimal("0.001")) == Decimal("1.235")


def test_validate_symbol_rejects_venue_forms() -> None:
    assert validate_symbol("BTC/USDT") == "BTC/USDT"
    for bad in ("BTCUSDT", "btc/usdt", "BTC-USD"):
        with pytest.raises(ValueError, match="BASE/QUOTE"):
            validate_symbol(bad)
