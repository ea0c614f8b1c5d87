"""When the monitor learns what is held from the local ledger and when it asks the venue. Pure decisions.

REST is the record: the ledger is re-based from the account at start-up and after every (re)connect of
the user stream, and fed by the stream's events in between. Every account read costs the venue's request
weight (20 of Binance's 1200 a minute), so a read that would only repeat what the ledger already holds
is not made:

* the exit verification right after a (re)connect takes positions from the ledger the reconnect has
  just re-based from the account (that read is the record; open orders are still read);
* while the stream is briefly down (less than ``user_stream.drop_grace_s``), the ledger, current when
  the stream dropped, still sizes exits and the REST verification waits for the reconnect's sweep,
  which follows within the grace. An exit sized from it that the venue refuses is repaired from a REST
  read, so nothing is ever sold beyond what is held. A stream down for longer is polled as before.
"""

from __future__ import annotations

__all__ = ["ledger_stands_for_venue", "verify_due", "verify_reads_ledger"]


def ledger_stands_for_venue(*, live: bool, ready: bool, down_for_s: float | None, grace_s: float) -> bool:
    """May the ledger be read as what the venue holds? ``live``: kept current by a connected stream.
    ``down_for_s``: how long the stream has been down (None when it never dropped while this reader
    watched). A ledger never re-based (``ready`` False) never stands for the venue."""
    if not ready:
        return False
    if live:
        return True
    return down_for_s is not None and down_for_s < grace_s


def verify_due(
    *,
    live: bool,
    down_for_s: float | None,
    since_verify_s: float | None,
    safety_interval_s: float,
    grace_s: float,
) -> bool:
    """Is the REST verification of positions and exits due? Never done (``since_verify_s`` None) or
    the stream down past its grace: yes, at every check. Down within the grace: no, the reconnect's
    sweep verifies. Live: only as the safety net, every ``safety_interval_s``."""
    if not live:
        return down_for_s is None or down_for_s >= grace_s
    return since_verify_s is None or since_verify_s >= safety_interval_s


def verify_reads_ledger(*, live: bool, rebases: int, rebases_verified: int) -> bool:
    """May the verification take positions from the ledger instead of the account? Only when the ledger
    is live and was re-based from the account since the last verification (``rebases`` counts the
    re-bases, ``rebases_verified`` is that count at the last verification)."""
    return live and rebases != rebases_verified
