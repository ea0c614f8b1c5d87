"""What the monitor does with an exit (or a close) the venue refused. A pure decision.

An exit refused for insufficient balance (every venue types it ``InsufficientFunds``: Binance -2010,
Alpaca 403 "insufficient qty", Coinbase ``INSUFFICIENT_FUND``, Kraken ``EOrder:Insufficient funds``, the
paper exchange's refusal) is a state that usually clears within a moment, not an answer on the merits:
the quantity of the exit just cancelled is still locked on the venue, or the balance after a fill or a
cancel has not been seen yet. Any other refusal of an exit (``OrderRejected``: a filter, a market that
briefly refuses, the paper exchange's injected rejection) is answered again for an exit sized and priced
anew from what is held then. Sending either down the orphan path would wait ``monitor.orphan_retry_s``
(30 s) after its first attempt and break the promise (every held quantity covered within
``monitor.max_unprotected_s``). So:

* a first rejection is retried at once (sized and priced anew), and so is a first refusal for
  insufficient balance when what the ledger shows of the base asset says the venue can take it now:
  enough is free (the venue's refusal raced the release), or less is held than was asked (the retry is
  sized from what is held);
* otherwise (part of it is still locked, the ledger cannot answer, or it was refused before) it is
  retried ``REFUSED_RETRY_DELAY_S`` later (or at the monitor's exit check, if sooner), sized anew;
* after ``QUICK_RETRIES`` refusals in a row, or for anything else, the orphan path takes over (attempts
  ``orphan_retry_s`` apart, then the position is reported unprotected): a real shortfall or a rule the
  exit breaks never turns into a loop hammering the venue.

A close (a guarded stop's marketable sell, or one asked for) takes the same steps, re-sized from what is
held at each attempt. Nothing here reads a clock, a ledger or a venue: the monitor passes what it knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from autohedge.core.errors import InsufficientFunds, OrderRejected

__all__ = ["QUICK_RETRIES", "REFUSED_RETRY_DELAY_S", "BaseBalance", "RefusedExitStep", "refused_exit_step"]

QUICK_RETRIES = 3
"""Quick retries of a refused exit before the orphan path takes over: enough for a cancel in flight, a
late balance update or a passing rejection, few enough to never hammer the venue."""


REFUSED_RETRY_DELAY_S = 0.25
"""How soon a retry "at the next exit check" comes at the latest: the balance has a moment to settle,
and the holding is covered again well within ``monitor.max_unprotected_s``."""


class RefusedExitStep(StrEnum):
    RETRY_NOW = "retry_now"
    """Place it again at once, sized from what is held."""
    RETRY_AT_CHECK = "retry_at_check"
    """Place it again at the monitor's next exit check, or ``REFUSED_RETRY_DELAY_S`` later if sooner."""
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
    max_retries: int = QUICK_RETRIES,
) -> RefusedExitStep:
    """The next step for an exit of ``wanted`` the venue refused with ``error``. ``retries``: quick
    retries of this exit already made since it was last armed. ``balance``: the ledger's view of the base
    asset, None when the ledger cannot stand for the venue (the retry then reads the venue)."""
    if not isinstance(error, InsufficientFunds | OrderRejected) or retries >= max_retries:
        return RefusedExitStep.ESCALATE
    if retries > 0:
        return RefusedExitStep.RETRY_AT_CHECK  # at most one retry at once: never a loop on the venue
    if isinstance(error, OrderRejected):
        return RefusedExitStep.RETRY_NOW
    if balance is None:
        return RefusedExitStep.RETRY_AT_CHECK
    if balance.free >= wanted or balance.free + balance.locked < wanted:
        return RefusedExitStep.RETRY_NOW
    return RefusedExitStep.RETRY_AT_CHECK  # part of it is still locked: a cancel or an update in flight
