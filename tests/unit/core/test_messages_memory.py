"""Order-path messages share the record of which fields they were given; nothing else about them changes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from autohedge.core.messages import OrderEventKind, OrderUpdate
from autohedge.core.types import OrderPurpose, Side
from tests.ids import our_id


def _update(**changes: object) -> OrderUpdate:
    fields: dict[str, object] = {
        "venue": "paper",
        "kind": OrderEventKind.FILLED,
        "symbol": "BTC/USDT",
        "client_order_id": our_id(OrderPurpose.ENTRY, 1, 0),
        "venue_order_id": "v1",
        "side": Side.SELL,
        "price": Decimal(101),
        "order_qty": Decimal(1),
        "cum_filled_qty": Decimal(1),
        "ts_event": 1,
        "ts_init": 1,
    }
    fields.update(changes)
    return OrderUpdate.model_validate(fields)


def test_order_events_given_the_same_fields_share_one_record_of_them() -> None:
    first, second = _update(), _update(client_order_id=our_id(OrderPurpose.ENTRY, 2, 0))
    assert first.model_fields_set is second.model_fields_set
    with_fee = _update(fee=Decimal("0.1"))
    assert with_fee.model_fields_set == first.model_fields_set | {"fee"}
    assert "fee" not in first.model_fields_set


def test_a_changed_copy_gets_its_own_record_and_the_original_keeps_its_own() -> None:
    first = _update()
    copied = first.model_copy(update={"fee": Decimal("0.1")})
    assert "fee" in copied.model_fields_set and "fee" not in first.model_fields_set
    assert _update().model_fields_set is first.model_fields_set
    assert copied.fee == Decimal("0.1") and first.fee == 0


def test_order_events_stay_frozen_and_equal_by_value() -> None:
    first = _update()
    assert first == _update()
    assert first.model_dump(exclude_unset=True)["cum_filled_qty"] == Decimal(1)
    with pytest.raises(ValidationError):
        first.fee = Decimal(1)  # type: ignore[misc]
