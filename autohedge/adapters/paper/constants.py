"""What the paper exchange supports, as data."""

from __future__ import annotations

from decimal import Decimal

from autohedge.core.ports import Capabilities

__all__ = ["VENUE", "capabilities"]

VENUE = "paper"


def capabilities(*, oco: bool, fee_rate: Decimal) -> Capabilities:
    """OCO can be switched off to exercise the TP-plus-guarded-SL fallback. ``fee_rate``: the one fee
    the paper venue charges (``paper.fee_rate``), so the highest too."""
    return Capabilities(oco=oco, stop_limit=True, positions_with_entry_price=True, max_fee_rate=fee_rate)
