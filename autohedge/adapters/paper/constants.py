"""What the paper exchange supports, as data."""

from __future__ import annotations

from autohedge.core.ports import Capabilities

__all__ = ["VENUE", "capabilities"]

VENUE = "paper"


def capabilities(*, oco: bool) -> Capabilities:
    """OCO can be switched off to exercise the TP-plus-guarded-SL fallback."""
    return Capabilities(oco=oco, stop_limit=True, positions_with_entry_price=True)
