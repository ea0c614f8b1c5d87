"""The pure decision for an exit the venue refused (for insufficient balance, or rejected): retry now, at
the next exit check, or hand it to the orphan path; bounded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autohedge.core.errors import (
    InsufficientBalance,
    InsufficientFunds,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownOrder,
    VenueError,
)
from autohedge.core.refused_exits import QUICK_RETRIES, BaseBalance, RefusedExitStep, refused_exit_step

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
    assert [step(free, retries=n) for n in range(QUICK_RETRIES)] == [
        RefusedExitStep.RETRY_NOW,
        *[RefusedExitStep.RETRY_AT_CHECK] * (QUICK_RETRIES - 1),
    ]


def test_retries_are_bounded_then_the_orphan_path_takes_over() -> None:
    free = BaseBalance(free=Decimal(1), locked=Decimal(0))
    assert step(free, retries=QUICK_RETRIES) is RefusedExitStep.ESCALATE
    assert step(None, retries=QUICK_RETRIES + 5) is RefusedExitStep.ESCALATE
    assert refused_exit_step(FUNDS, retries=1, wanted=WANTED, balance=None, max_retries=1) is (
        RefusedExitStep.ESCALATE
    )


def test_a_rejected_exit_is_retried_at_once_then_at_the_next_checks_bounded() -> None:
    rejected = OrderRejected("paper: injected rejection", venue="paper", code="injected")
    for balance in (BaseBalance(free=Decimal(0), locked=Decimal(1)), None):  # the balance is not the reason
        assert [step(balance, retries=n, error=rejected) for n in range(QUICK_RETRIES + 1)] == [
            RefusedExitStep.RETRY_NOW,
            *[RefusedExitStep.RETRY_AT_CHECK] * (QUICK_RETRIES - 1),
            RefusedExitStep.ESCALATE,
        ]


@pytest.mark.parametrize(
    "error",
    [
        UnknownOrder("binance 400 -2013: Order does not exist", venue="binance", code=-2013),
        InsufficientBalance("our own check: not enough USDT"),
        OutcomeUnknown("timeout", venue="binance"),
        RateLimited("429", venue="binance", retry_after_s=3),
        VenueError("other", venue="binance"),
        ValueError("not a venue error"),
    ],
)
def test_any_other_error_is_not_retried_here(error: BaseException) -> None:
    # Our own refusal and the venue's other answers take the orphan path; pushback never reaches this
    # decision (it is deferred until the venue allows), and should it, it gets no quick retries either.
    free = BaseBalance(free=Decimal(1), locked=Decimal(0))
    assert step(free, error=error) is RefusedExitStep.ESCALATE
