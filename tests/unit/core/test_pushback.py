"""Pure pushback decisions: retry order, retry timing, stale entries, orphan attempts."""

from __future__ import annotations

import pytest

from autohedge.core.clock import NS_PER_S
from autohedge.core.errors import (
    AuthError,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueUnavailable,
)
from autohedge.core.pushback import (
    ENTRY_SIDE_GRACE_S,
    MIN_RETRY_S,
    PendingAction,
    PendingKind,
    attempt_counts,
    due_in_order,
    entry_is_stale,
    entry_poll_delay_s,
    entry_side_retry_delay_s,
    is_pushback,
    retry_delay_s,
)


def test_due_in_order_protective_sells_first_then_exits_then_reads_then_entry_cancels() -> None:
    actions = [
        PendingAction(PendingKind.CANCEL_ENTRY, "A", 1),
        PendingAction(PendingKind.RECONCILE, "*", 2),
        PendingAction(PendingKind.PROTECT, "B", 5),
        PendingAction(PendingKind.PROTECT, "A", 3),
        PendingAction(PendingKind.STOP_CLOSE, "C", 9),
    ]
    assert [(a.kind, a.symbol) for a in due_in_order(actions)] == [
        (PendingKind.STOP_CLOSE, "C"),
        (PendingKind.PROTECT, "A"),  # waiting longer
        (PendingKind.PROTECT, "B"),
        (PendingKind.RECONCILE, "*"),
        (PendingKind.CANCEL_ENTRY, "A"),
    ]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RateLimited("429"), True),
        (VenueUnavailable("refused"), True),
        (OutcomeUnknown("timeout"), True),
        (AuthError("401"), True),
        (OrderRejected("filter"), False),
    ],
)
def test_is_pushback_only_for_refusals_not_for_answers(error: Exception, expected: bool) -> None:
    assert is_pushback(error) is expected


def test_retry_delay_is_the_venue_wait_or_retry_after_never_below_the_minimum() -> None:
    assert retry_delay_s(20.0) == 20.0
    assert retry_delay_s(0.0, RateLimited("429", retry_after_s=7)) == 7.0
    assert retry_delay_s(0.0) == MIN_RETRY_S
    assert retry_delay_s(0.0, AuthError("401"), auth_retry_s=30) == 30.0


def test_entry_is_stale_once_its_signal_is_older_than_the_limit() -> None:
    signal_ns = 100 * NS_PER_S
    assert not entry_is_stale(signal_ns, signal_ns + 5 * NS_PER_S, 5.0)
    assert entry_is_stale(signal_ns, signal_ns + 5 * NS_PER_S + 1, 5.0)


def test_orphan_attempt_not_spent_while_the_venue_refuses_or_on_pushback() -> None:
    assert not attempt_counts(3.0, None)
    assert not attempt_counts(0.0, RateLimited("429"))
    assert not attempt_counts(0.0, OutcomeUnknown("timeout"))
    assert attempt_counts(0.0, OrderRejected("insufficient qty"))
    assert attempt_counts(0.0, None)


def test_entry_side_retries_come_after_the_exits_when_the_venue_allows() -> None:
    assert entry_side_retry_delay_s(20.0) == retry_delay_s(20.0) + ENTRY_SIDE_GRACE_S > retry_delay_s(20.0)


def test_entry_poll_owed_a_reread_goes_when_the_venue_allows_not_at_the_next_safety_poll() -> None:
    assert entry_poll_delay_s(60.0, 2.0, reread_owed=False) == 60.0
    assert entry_poll_delay_s(60.0, 2.0, reread_owed=True) == entry_side_retry_delay_s(2.0) < 60.0
    assert (
        entry_poll_delay_s(60.0, 0.0, reread_owed=True) == MIN_RETRY_S + ENTRY_SIDE_GRACE_S
    )  # a read failed
    assert entry_poll_delay_s(0.25, 2.0, reread_owed=True) == 0.25  # the fast poll is sooner anyway
