"""Notifications from a whole engine: events that need a person reach a local receiver; the daily
summary is scheduled for the next UTC midnight and built from the journal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autohedge.core.notify import seconds_to_next_utc_day
from tests.actors.harness import Harness, make_config, wait_for
from tests.fakes.notify_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_engine_notifies_kill_switch_and_closed_positions_and_schedules_the_daily_summary(
    make_harness: Callable[..., Harness], receiver: Receiver, tmp_path: Path
) -> None:
    config = make_config(notify={"urls": [receiver.url], "position_closed": True})
    h = make_harness(config, journal_path=tmp_path / "journal.sqlite").start()
    assert seconds_to_next_utc_day(h.clock.wall_ns()) in h.clock.pending_delays_s()

    h.buy_protected("BTC/USDT")
    h.reach_take_profit("BTC/USDT")  # the position closes at its take-profit
    h.engine.parts.events.record("kill_switch", "monitor crash loop", level="CRITICAL")

    wait_for(lambda: len(receiver.bodies) == 2, what="two notifications")
    titles = sorted(b["title"] for b in receiver.bodies)
    assert titles == ["autohedge: kill switch", "autohedge: position closed BTC/USDT"]
    h.engine.flush_journal()
    start_ns = h.clock.wall_ns() - 3600 * 10**9
    summary = h.engine._daily_summary(start_ns, h.clock.wall_ns() + 1)
    assert "1 trades" in summary.body and "realized P&L" in summary.body


def test_engine_with_a_dead_notify_target_keeps_trading(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(make_config(notify={"urls": ["json://127.0.0.1:1/nobody"]})).start()
    h.engine.parts.events.record("kill_switch", "drill", level="CRITICAL")

    h.buy_protected("BTC/USDT")
    wait_for(lambda: h.metrics.get("notifications_failed") == 1, what="the failed delivery counted")


def test_engine_notifies_a_venue_ban_once(make_harness: Callable[..., Harness], receiver: Receiver) -> None:
    h = make_harness(make_config(notify={"urls": [receiver.url], "daily_summary": False})).start()

    h.engine.parts.exchange.request_budget.rate_limited(120.0, banned=True)
    h.advance(2.0)
    h.advance(2.0)

    wait_for(lambda: len(receiver.bodies) == 1, what="the ban notification")
    assert receiver.bodies[0]["title"] == "autohedge: venue banned"
    assert "banned this IP" in receiver.bodies[0]["message"]
    assert h.engine.parts.events.kinds().count("venue_banned") == 1
