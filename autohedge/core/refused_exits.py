"""What the monitor does with an exit the venue refused for insufficient balance. A pure decision.

Every venue types that refusal as ``InsufficientFunds`` (Binance -2010, Alpaca 403 "insufficient qty",
Coinbase ``INSUFFICIENT_FUND``, Kraken ``EOrder:Insufficient funds``, the paper exchange's refusal). For
an exit it is a state that usually clears within a moment, not an answer on the merits: the quantity of
the exit just cancelled is still locked on the venue, or the balance after a fill or a cancel has not
been seen yet. Sending it down the orphan path would wait ``monitor.orphan_retry_s`` (30 s) between
attempts and break the promise (every held quantity covered within ``monitor.max_unprotected_s``). So:

* the first refusal is retried at once when what the ledger shows of the base asset says the venue can
  take it now: enough is free (the venue's refusal raced the release), or less is held than was asked
  (the retry is sized from what is held);
* otherwise (part of it is still locked, or the ledger cannot answer) it is retried at the monitor's next
  exit check, after the balance is read again;
* after ``FUNDS_RETRIES`` refusals in a row, or for any other refusal, the orphan path takes over (its
  attempts spaced by ``orphan_retry_s``, then the position is reported unprotected).

Nothing here reads a clock, a ledger or a venue: the monitor passes what it knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from autohedge.core.errors import InsufficientFunds

__all__ = ["FUNDS_RETRIES", "BaseBalance", "RefusedExitStep", "refused_exit_step"]

FUNDS_RETRIES = 3
"""Quick retries of an exit refused for insufficient balance before the orphan path takes over: enough
for a cancel in flight and a late balance update, few enough that a real shortfall never turns into a
loop hammering the venue."""


class RefusedExitStep(StrEnum):
    RETRY_NOW = "retry_now"
    """Place it again at once, sized from what is held."""
    RETRY_AT_CHECK = "retry_at_check"
    """Place it again at the monitor's next exit check, after reading the balance again."""
    ESCALATE = "escalate"
    """The orphan path: attempts ``orphan_retry_s`` apart, then reported unprotected."""


@dataclass(frozen=True)
class BaseBalance:
    """What the ledger shows of the exit's base asset (after our own exits of it were cancelled)."""

    free: Decimal
    locked: Decimal


def refused_exit_step(
    error: BaseException,
    *,
    retries: int,
    wanted: Decimal,
    balance: BaseBalance | None,
    max_retries: int = FUNDS_RETRIES,
) -> RefusedExitStep:
    """The next step for an exit of ``wanted`` the venue refused with ``error``. ``retries``: quick
    retries of this exit already made since it was last armed. ``balance``: the ledger's view of the base
    asset, None when the ledger cannot stand for the venue (the retry then reads the venue)."""
    if not isinstance(error, InsufficientFunds) or retries >= max_retries:
        return RefusedExitStep.ESCALATE
    if retries > 0 or balance is None:
        return RefusedExitStep.RETRY_AT_CHECK  # at most one retry at once: never a loop on the venue
    if balance.free >= wanted or balance.free + balance.locked < wanted:
        return RefusedExitStep.RETRY_NOW
    return RefusedExitStep.RETRY_AT_CHECK  # part of it is still locked: a cancel or an update in flight
