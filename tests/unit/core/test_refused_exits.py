"""The pure decision for an exit the venue refused for insufficient balance: retry now, at the next exit
check, or hand it to the orphan path; bounded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autohedge.core.errors import (
    InsufficientFunds,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
)
from autohedge.core.refused_exits import FUNDS_RETRIES, BaseBalance, RefusedExitStep, refused_exit_step

WANTED = Decimal("0.003")
FUNDS = InsufficientFunds("binance 400 -2010: Account has insufficient balance", venue="binance", code=-2010)


def step(balance: BaseBalance | None, *, retries: int = 0, error: BaseException = FUNDS) -> RefusedExitStep:
    return refused_exit_step(error, retries=retries, wanted=WANTED, balance=balance)


def test_first_refusal_is_retried_at_once_when_the_ledger_shows_it_free() -> None:
    # The old exit's cancel was answered and its release seen: the venue's refusal raced it.
    assert step(BaseBalance(free=Decimal("0.003"), locked=Decimal(0))) is RefusedExitStep.RETRY_NOW


def test_first_refusal_is_retried_at_once_when_less_is_held_than_was_asked() -> None:
    # The retry is sized from what is held: asking again at once never sells more than that.
    assert step(BaseBalance(free=Decimal("0.001"), locked=Decimal("0.001"))) is RefusedExitStep.RETRY_NOW


def test_refusal_while_part_is_still_locked_waits_for_the_next_check() -> None:
    # A cancel or a balance update still in flight: asking again at once would be refused again.
    assert step(BaseBalance(free=Decimal("0.001"), locked=Decimal("0.002"))) is RefusedExitStep.RETRY_AT_CHECK


def test_refusal_the_ledger_cannot_judge_waits_for_the_next_check() -> None:
    assert step(None) is RefusedExitStep.RETRY_AT_CHECK


def test_only_the_first_retry_is_immediate() -> None:
    free = BaseBalance(free=Decimal(1), locked=Decimal(0))
    assert [step(free, retries=n) for n in range(FUNDS_RETRIES)] == [
        RefusedExitStep.RETRY_NOW,
        *[RefusedExitStep.RETRY_AT_CHECK] * (FUNDS_RETRIES - 1),
    ]


def test_retries_are_bounded_then_the_orphan_path_takes_over() -> None:
    free = BaseBalance(free=Decimal(1), locked=Decimal(0))
    assert step(free, retries=FUNDS_RETRIES) is RefusedExitStep.ESCALATE
    assert step(None, retries=FUNDS_RETRIES + 5) is RefusedExitStep.ESCALATE
    assert refused_exit_step(FUNDS, retries=1, wanted=WANTED, balance=None, max_retries=1) is (
        RefusedExitStep.ESCALATE
    )


@pytest.mark.parametrize(
    "error",
    [
        OrderRejected("binance 400 -1013: Filter failure: LOT_SIZE", venue="binance", code=-1013),
        OutcomeUnknown("timeout", venue="binance"),
        RateLimited("429", venue="binance", retry_after_s=3),
        VenueError("other", venue="binance"),
        ValueError("not a venue error"),
    ],
)
def test_other_refusals_take_the_orphan_path(error: BaseException) -> None:
    free = BaseBalance(free=Decimal(1), locked=Decimal(0))
    assert step(free, error=error) is RefusedExitStep.ESCALATE
