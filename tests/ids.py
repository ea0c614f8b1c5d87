"""Our client order ids as the tests configure them (prefix ``ah``), built by the one encoder."""

from __future__ import annotations

from autohedge.core.client_ids import ClientId
from autohedge.core.types import OrderPurpose

__all__ = ["PREFIX", "entry_id", "our_id"]

PREFIX = "ah"


def our_id(purpose: OrderPurpose, key: int, attempt: int = 0) -> str:
    return ClientId(PREFIX, purpose, key, attempt).encode()


def entry_id(key: int, attempt: int = 0) -> str:
    return our_id(OrderPurpose.ENTRY, key, attempt)
