"""When the monitor reads the ledger instead of the venue (pure decisions of ``core.ledger_reads``)."""

from __future__ import annotations

import pytest

from autohedge.core.ledger import AccountLedger
from autohedge.core.ledger_reads import ledger_stands_for_venue, verify_due, verify_reads_ledger

GRACE_S = 2.0
SAFETY_S = 60.0


@pytest.mark.parametrize(
    ("live", "ready", "down_for_s", "expected"),
    [
        (True, True, None, True),  # kept current by the stream
        (False, False, None, False),  # never re-based: the venue is asked
        (True, False, None, False),
        (False, True, 0.5, True),  # a brief drop: current when it dropped, the sweep follows
        (False, True, GRACE_S, False),  # down for the whole grace: the venue is asked
        (False, True, None, False),  # down since before this reader watched: the venue is asked
    ],
)
def test_ledger_stands_for_the_venue_while_live_or_briefly_dropped(
    live: bool, ready: bool, down_for_s: float | None, expected: bool
) -> None:
    assert ledger_stands_for_venue(live=live, ready=ready, down_for_s=down_for_s, grace_s=GRACE_S) is expected


def test_no_grace_reads_the_venue_from_the_first_moment_of_a_drop() -> None:
    assert not ledger_stands_for_venue(live=False, ready=True, down_for_s=0.0, grace_s=0.0)


@pytest.mark.parametrize(
    ("live", "down_for_s", "since_verify_s", "expected"),
    [
        (True, None, None, True),  # never verified (or the reconnect asked for it)
        (True, None, 1.0, False),  # live: only the safety net
        (True, None, SAFETY_S, True),
        (False, 0.5, 0.5, False),  # a brief drop: the reconnect's sweep verifies
        (False, GRACE_S, 0.5, True),  # down past the grace: every check
        (False, None, 0.5, True),  # no stream (or never seen up): every check
    ],
)
def test_verification_is_due_as_a_safety_net_live_and_at_every_check_once_down_past_the_grace(
    live: bool, down_for_s: float | None, since_verify_s: float | None, expected: bool
) -> None:
    due = verify_due(
        live=live,
        down_for_s=down_for_s,
        since_verify_s=since_verify_s,
        safety_interval_s=SAFETY_S,
        grace_s=GRACE_S,
    )
    assert due is expected


def test_verification_reads_the_ledger_only_after_a_rebase_it_has_not_verified() -> None:
    assert verify_reads_ledger(live=True, rebases=2, rebases_verified=1)  # the reconnect's account read
    assert not verify_reads_ledger(live=True, rebases=2, rebases_verified=2)  # the safety net: REST
    assert not verify_reads_ledger(live=False, rebases=2, rebases_verified=1)  # down: REST


def test_the_ledger_remembers_when_the_stream_that_kept_it_current_dropped() -> None:
    ledger = AccountLedger()
    ledger.set_live(False, at_ns=5)
    assert ledger.down_since_ns is None  # never live: nothing vouches for it
    ledger.rebase({}, (), as_of_ns=0)
    ledger.set_live(True)

    ledger.set_live(False, at_ns=10)
    ledger.set_live(False, at_ns=20)  # a second report of the same drop
    assert ledger.down_since_ns == 10  # the grace counts from the first moment
    ledger.set_live(True)
    assert ledger.down_since_ns is None
