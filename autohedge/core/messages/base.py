"""The base of every message: frozen, no extra fields, tuples for collections."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Message"]


class Message(BaseModel):
    """Immutable message exchanged between actors (and returned by ports).

    Handlers are named after the type: a ``QuoteReceived`` goes to ``on_quote_received``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=False)
