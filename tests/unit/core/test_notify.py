from __future__ import annotations

from autohedge.core.clock import NS_PER_S
from autohedge.core.eventlog import Event
from autohedge.core.gates import GateKind
from autohedge.core.notify import NotifyLevel, ban_started, notification_for, seconds_to_next_utc_day
from autohedge.core.ratelimit import VenueStatus


def test_notify_kill_switch_and_unprotected_always_position_closed_only_when_asked() -> None:
    kill = Event(1, GateKind.KILL_SWITCH, "", "executor crash loop", "CRITICAL")
    unprotected = Event(2, "position_unprotected", "BTC/USDT", "no exit", "ERROR")
    closed = Event(3, "position_closed", "BTC/USDT", "0.1 closed by take_profit at 101", "INFO")

    first = notification_for(kill, position_closed=False)
    assert first is not None and first.level is NotifyLevel.FAILURE and "kill switch" in first.title
    second = notification_for(unprotected, position_closed=False)
    assert second is not None and second.title.endswith("BTC/USDT")
    assert notification_for(closed, position_closed=False) is None
    third = notification_for(closed, position_closed=True)
    assert third is not None and third.level is NotifyLevel.INFO
    assert notification_for(Event(4, "order_placed", "", "x", "INFO"), position_closed=True) is None


def test_notify_venue_ban_is_always_sent() -> None:
    banned = notification_for(
        Event(1, "venue_banned", "", "binance 418 for 120s", "ERROR"), position_closed=False
    )

    assert banned is not None and banned.body == "binance 418 for 120s"


def test_notify_next_utc_day() -> None:
    assert seconds_to_next_utc_day(86_400 * NS_PER_S * 3 + 3600 * NS_PER_S) == 82_800.0
    assert seconds_to_next_utc_day(86_400 * NS_PER_S) == 86_400.0


def _status(*, banned: bool, paused: bool) -> VenueStatus:
    return VenueStatus(
        venue="binance",
        rate_limited_until_ns=130 * NS_PER_S,
        rate_limited=paused,
        banned=banned,
        auth_failed=None,
        degraded=None,
        rate_limit_events=1,
        requests_per_minute_max=0,
        weight_share_max=0.0,
    )


def test_notify_ban_started_only_on_the_transition_into_a_ban() -> None:
    text = ban_started(False, _status(banned=True, paused=True), 10 * NS_PER_S)

    assert text is not None and text.startswith("binance banned this IP for 120s")
    assert ban_started(True, _status(banned=True, paused=True), 11 * NS_PER_S) is None
    assert ban_started(False, _status(banned=False, paused=True), 10 * NS_PER_S) is None  # a 429 pause
    assert ban_started(False, _status(banned=True, paused=False), 10 * NS_PER_S) is None  # over already
