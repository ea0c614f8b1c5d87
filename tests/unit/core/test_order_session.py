from autohedge.core.clock import NS_PER_S
from autohedge.core.order_session import (
    OrderSessionState,
    OrderSessionStatus,
    next_failed_attempts,
    session_reasons,
)


def status(state: OrderSessionState, *, drops: int = 0, connect_failures: int = 0) -> OrderSessionStatus:
    return OrderSessionStatus(
        venue="binance",
        state=state,
        connects=1,
        reconnects=0,
        drops=drops,
        connect_failures=connect_failures,
        requests=3,
        failures=0,
        fallbacks=1,
        last_error="binance order session error: Connection to remote host was lost.",
        next_attempt_in_s=1.5 if state is OrderSessionState.DOWN else None,
    )


def test_next_failed_attempts_connection_that_stayed_up_starts_the_run_over() -> None:
    assert next_failed_attempts(4, was_up_ns=60 * NS_PER_S, reset_after_s=60) == 1


def test_next_failed_attempts_short_lived_or_refused_connection_counts_on() -> None:
    assert next_failed_attempts(0, was_up_ns=None, reset_after_s=60) == 1
    assert next_failed_attempts(2, was_up_ns=None, reset_after_s=60) == 3
    assert next_failed_attempts(2, was_up_ns=NS_PER_S, reset_after_s=60) == 3  # accepted, then dropped


def test_session_reasons_down_after_a_drop_says_why_and_when_it_tries_again() -> None:
    (reason,) = session_reasons(status(OrderSessionState.DOWN, drops=1))
    assert reason == (
        "venue binance order session down (binance order session error: Connection to remote host was "
        "lost.): orders go by REST, next attempt in 1.5s"
    )


def test_session_reasons_up_or_opening_its_first_connection_is_no_reason() -> None:
    assert session_reasons(status(OrderSessionState.UP, drops=2)) == []
    assert session_reasons(status(OrderSessionState.CONNECTING)) == []
    assert session_reasons(status(OrderSessionState.CONNECTING, connect_failures=1))  # reconnecting
