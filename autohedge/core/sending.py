"""Entry sending: which of the venue's senders takes the next entry, and what a send's answer means.

Pure (no threads, no clock): the executor keeps a ``SenderLoad`` and hands each entry to the least
loaded sender that is running, so entries for independent symbols reach the venue concurrently
instead of one blocking round trip after another; a sender turns ``submit_order``'s answer into a
``SendOutcome`` the executor acts on. The venue's budget is still spent one request at a time at the
door (``RequestBudget.acquire`` under its lock), so concurrent sends never exceed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from autohedge.core.actor_names import ActorName
from autohedge.core.errors import (
    DefinitiveError,
    FatalVenueError,
    OrderRefused,
    OutcomeUnknown,
    RetryableError,
)

__all__ = ["SendOutcome", "SenderLoad", "outcome_of_error"]


class SendOutcome(StrEnum):
    PLACED = "placed"
    """The venue acknowledged the order."""
    UNKNOWN = "unknown"
    """Sent without a usable answer: the order may exist. Ask the venue by client id, never resend."""
    REFUSED = "refused"
    """Never sent (the venue's pushback or rejected keys at the door): the signal may wait and retry."""
    REJECTED = "rejected"
    """A definitive no (the venue's or our own pre-trade check): nothing to retry."""


def outcome_of_error(error: BaseException) -> SendOutcome:
    """What an exception out of ``submit_order`` means for the entry. Anything unforeseen (a bug in
    reading the answer) may have followed the send: it is an unknown outcome, resolved by client id."""
    if isinstance(error, OutcomeUnknown):
        return SendOutcome.UNKNOWN
    if isinstance(error, RetryableError | FatalVenueError):
        return SendOutcome.REFUSED
    if isinstance(error, DefinitiveError | OrderRefused):
        return SendOutcome.REJECTED
    return SendOutcome.UNKNOWN


class SenderLoad:
    """Entries handed to each sender and not answered yet (the executor's thread only)."""

    def __init__(self, senders: Sequence[ActorName]) -> None:
        self._in_flight: dict[ActorName, int] = dict.fromkeys(senders, 0)

    @property
    def senders(self) -> tuple[ActorName, ...]:
        return tuple(self._in_flight)

    def candidates(self) -> list[ActorName]:
        """The senders, least loaded first (ties in configured order): try each until one takes it."""
        return sorted(self._in_flight, key=self._in_flight.__getitem__)  # stable: ties keep their order

    def handed(self, sender: ActorName) -> None:
        if sender in self._in_flight:
            self._in_flight[sender] += 1

    def answered(self, sender: ActorName) -> None:
        if self._in_flight.get(sender, 0) > 0:
            self._in_flight[sender] -= 1

    def in_flight(self, sender: ActorName) -> int:
        return self._in_flight.get(sender, 0)
