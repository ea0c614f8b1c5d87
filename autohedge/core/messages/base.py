"""The base of every message: frozen, no extra fields, tuples for collections."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["Message", "SharedFieldsMessage"]


class Message(BaseModel):
    """Immutable message exchanged between actors (and returned by ports).

    Handlers are named after the type: a ``QuoteReceived`` goes to ``on_quote_received``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=False)


_FIELD_SETS: dict[tuple[type, frozenset[str]], set[str]] = {}
"""Per message type and combination of given fields, the one set its instances share."""


class SharedFieldsMessage(Message):
    """A message built in numbers on the order path (order events, snapshots): instances that were given
    the same fields share one record of which fields were given, instead of a set each (for an order
    event, 728 of its 1,280 bytes). A frozen message never changes that record; pydantic copies it before
    building a changed copy (``model_copy(update=...)``)."""

    def model_post_init(self, context: Any, /) -> None:
        """Runs on the thread that builds the message, once it is validated."""
        given = self.__pydantic_fields_set__
        # One atomic step under the interpreter lock (the key hashes in C); a handful of combinations
        # per type, so the table stays tiny.
        shared = _FIELD_SETS.setdefault((type(self), frozenset(given)), given)
        object.__setattr__(self, "__pydantic_fields_set__", shared)
