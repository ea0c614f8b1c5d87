"""Pure decisions about venue pushback: what waits, what goes first, what is dropped, what counts.

Actors call these and only do the I/O and the timers (DESIGN section 5: a crash is a bug, never the
venue's pushback). Nothing here reads a clock or touches a thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from autohedge.core.clock import NS_PER_S
from autohedge.core.errors import FatalVenueError, OutcomeUnknown, RetryableError, VenueError

__all__ = [
    "ENTRY_SIDE_GRACE_S",
    "MIN_RETRY_S",
    "PendingAction",
    "PendingKind",
    "attempt_counts",
    "due_in_order",
    "entry_is_stale",
    "entry_poll_delay_s",
    "entry_side_retry_delay_s",
    "is_pushback",
    "retry_delay_s",
]

MIN_RETRY_S = 0.05
"""Shortest retry timer: a venue that says "0 s" is asked again on the next timer tick, not in a spin."""


class PendingKind(IntEnum):
    """Work the venue refused, in the order it is retried once sending is allowed (lowest first)."""

    STOP_CLOSE = 0
    """Selling a position whose stop was crossed, or a requested close."""
    PROTECT = 1
    """Placing (or replacing) a TP / OCO exit; includes re-reading an exit whose state is unknown."""
    RECONCILE = 2
    """Reading positions and open orders to adopt and protect them."""
    CANCEL_ENTRY = 3
    """Cancelling an entry (timeout, shutdown)."""


@dataclass(frozen=True)
class PendingAction:
    kind: PendingKind
    symbol: str
    since_ns: int
    """Monotonic time the action was first refused (older first within a kind)."""


def due_in_order(actions: Iterable[PendingAction]) -> list[PendingAction]:
    """Retry order: protective sells and stop closes first, then TP/OCO placements, then reconciliation,
    then entry cancels; within a kind, the longest-waiting first."""
    return sorted(actions, key=lambda a: (a.kind, a.since_ns, a.symbol))


def is_pushback(error: BaseException) -> bool:
    """The venue (or the way to it) refused or failed to answer: retry when it allows. Not a bug, not a
    definitive answer about the order. Bad keys are pushback too: the actor keeps going and says so."""
    return isinstance(error, RetryableError | OutcomeUnknown | FatalVenueError)


def retry_delay_s(
    venue_wait_s: float, error: VenueError | None = None, *, auth_retry_s: float = 30.0
) -> float:
    """When to try again: when the venue allows (its wait, or the error's Retry-After), never sooner
    than ``MIN_RETRY_S``. Rejected keys are asked again only every ``auth_retry_s``: the venue would
    only say no again, and a retry storm with bad keys gets an IP banned."""
    wait = venue_wait_s
    if isinstance(error, RetryableError):
        wait = max(wait, error.retry_after_s)
    if isinstance(error, FatalVenueError):
        wait = max(wait, auth_retry_s)
    return max(wait, MIN_RETRY_S)


ENTRY_SIDE_GRACE_S = 0.25
"""Entry-side work (placing a waiting entry, cancelling an entry) retries this long after the venue
allows sending again, so the monitor's protective sells and exits reach the venue first."""


def entry_side_retry_delay_s(venue_wait_s: float, error: VenueError | None = None) -> float:
    """When the executor retries: after the venue allows, and after the exits that were waiting too."""
    return retry_delay_s(venue_wait_s, error) + ENTRY_SIDE_GRACE_S


def entry_poll_delay_s(interval_s: float, venue_wait_s: float, *, reread_owed: bool) -> float:
    """When the executor next reads its entries by REST: after ``interval_s``; but while it owes a
    re-read (entries whose events may have died with a crashed incarnation or were missed while the
    stream was down) that the venue held off or refused, as soon as the venue allows (entry-side: after
    the exits). Held off until the next safety poll, a minute away, a fill whose event was lost had no
    exit (simulation, the venue without OCO lists, seed 36: 1.5 s past a Retry-After)."""
    if not reread_owed:
        return interval_s
    return min(interval_s, entry_side_retry_delay_s(venue_wait_s))


def entry_is_stale(signal_ts_ns: int, now_ns: int, max_age_s: float) -> bool:
    """An entry that waited for the venue is dropped once its signal is older than ``max_age_s``: the
    price it was decided on is history."""
    return now_ns - signal_ts_ns > max_age_s * NS_PER_S


def attempt_counts(venue_wait_s: float, error: BaseException | None) -> bool:
    """Does an orphan-repair attempt count against ``orphan_max_attempts``? Not while the venue refuses
    every request (the attempt is not even made), and not when it failed on pushback: only an attempt
    the venue answered (and refused on the merits) or a definitive error is spent."""
    if venue_wait_s > 0:
        return False
    return error is None or not is_pushback(error)
