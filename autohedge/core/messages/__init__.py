"""Every message type, importable from ``autohedge.core.messages``."""

from __future__ import annotations

from autohedge.core.messages.base import (
    Message,
    SharedFieldsMessage,
)
from autohedge.core.messages.commands import (
    CancelEntries,
    ClosePosition,
    SetEntryGate,
    Signal,
    SyncPositions,
)
from autohedge.core.messages.data import (
    Balance,
    OcoRequest,
    OcoSnapshot,
    OrderRequest,
    OrderSnapshot,
    PositionSnapshot,
    Quote,
    SymbolRules,
)
from autohedge.core.messages.events import (
    EntryProtection,
    OrderCanceled,
    OrderFilled,
    ReconciliationCompleted,
)
from autohedge.core.messages.orders import (
    AccountBalances,
    OrderEventKind,
    OrderState,
    OrderUpdate,
    UserStreamStatus,
)
from autohedge.core.messages.supervision import (
    ChildFailed,
    ChildStarted,
    ChildStopped,
    RestartChild,
    UserStreamDegraded,
    UserStreamResumed,
    VenueDataResumed,
    VenueDataStale,
)

__all__ = [
    "AccountBalances",
    "Balance",
    "CancelEntries",
    "ChildFailed",
    "ChildStarted",
    "ChildStopped",
    "ClosePosition",
    "EntryProtection",
    "Message",
    "OcoRequest",
    "OcoSnapshot",
    "OrderCanceled",
    "OrderEventKind",
    "OrderFilled",
    "OrderRequest",
    "OrderSnapshot",
    "OrderState",
    "OrderUpdate",
    "PositionSnapshot",
    "Quote",
    "ReconciliationCompleted",
    "RestartChild",
    "SetEntryGate",
    "SharedFieldsMessage",
    "Signal",
    "SymbolRules",
    "SyncPositions",
    "UserStreamDegraded",
    "UserStreamResumed",
    "UserStreamStatus",
    "VenueDataResumed",
    "VenueDataStale",
]
