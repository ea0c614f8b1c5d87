"""Commands: imperatives. What one actor asks another to do."""

from __future__ import annotations

from decimal import Decimal

from autohedge.core.gates import Gate
from autohedge.core.messages.base import Message
from autohedge.core.types import CloseReason, Side, Symbol

__all__ = ["CancelEntries", "ClosePosition", "SetEntryGate", "Signal", "SyncPositions"]


class Signal(Message):
    """A strategy's wish to trade. The executor decides whether, how much and when.

    ``quote_ts_init`` is the ``ts_init`` of the quote that caused it (tick-to-order latency).
    ``take_profit``/``stop_loss`` are optional absolute prices proposed by the strategy; the monitor
    uses them only when they are on the right side of the entry and within configured bounds.
    """

    signal_id: str
    strategy: str
    symbol: Symbol
    side: Side
    price: Decimal
    reason: str = ""
    confidence: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    quote_ts_init: int
    ts_init: int


class SetEntryGate(Message):
    """Close (``closed=True``) or open one gate on new entries (``autohedge.core.gates``).

    Any closed gate blocks entries (a parked gate only its own symbol's). Exits never pass through gates.
    """

    gate: Gate
    closed: bool
    reason: str = ""


class CancelEntries(Message):
    """Cancel every open entry order (never exits)."""


class SyncPositions(Message):
    """Re-run start-up reconciliation: fetch positions and open orders, adopt, protect."""


class ClosePosition(Message):
    """Flatten one symbol: cancel its exits, then sell what is held at the bid."""

    symbol: Symbol
    reason: str = ""
    kind: CloseReason = CloseReason.MANUAL
