import pytest

from autohedge.core.actor_names import order_sender_name
from autohedge.core.errors import (
    AuthError,
    InsufficientBalance,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueUnavailable,
)
from autohedge.core.sending import SenderLoad, SendOutcome, outcome_of_error

A, B, C = (order_sender_name("binance", i) for i in range(3))


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (OutcomeUnknown("timeout", venue="binance"), SendOutcome.UNKNOWN),
        (RateLimited("429", venue="binance", retry_after_s=1.0), SendOutcome.REFUSED),
        (VenueUnavailable("refused", venue="binance"), SendOutcome.REFUSED),
        (AuthError("bad keys", venue="binance"), SendOutcome.REFUSED),
        (OrderRejected("filter", venue="binance"), SendOutcome.REJECTED),
        (InsufficientBalance("no USDT"), SendOutcome.REJECTED),
        (KeyError("orderId"), SendOutcome.UNKNOWN),  # a bug reading the answer: the order may exist
    ],
)
def test_outcome_of_error(error: BaseException, outcome: SendOutcome) -> None:
    assert outcome_of_error(error) is outcome


def test_the_least_loaded_sender_comes_first_ties_in_configured_order() -> None:
    load = SenderLoad([A, B, C])
    assert load.candidates() == [A, B, C]

    load.handed(A)
    load.handed(B)
    assert load.candidates() == [C, A, B]

    load.handed(C)
    load.handed(C)
    load.answered(A)
    assert load.candidates() == [A, B, C]
    assert (load.in_flight(A), load.in_flight(B), load.in_flight(C)) == (0, 1, 2)


def test_answers_never_count_below_zero_and_unknown_senders_are_ignored() -> None:
    load = SenderLoad([A])
    load.answered(A)  # an answer to a previous incarnation's hand-out
    load.handed(B)
    load.answered(B)
    assert load.in_flight(A) == 0 and load.senders == (A,)
    assert SenderLoad([]).candidates() == []
