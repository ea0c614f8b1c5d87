"""The monitor spends no account read that would repeat what the ledger holds (ManualClock, no sleeps).

The request weight is the scarce resource on a venue: the verification after a reconnect takes positions
from the ledger the reconnect has just re-based from the account; a brief drop of the user stream is
left to the reconnect's sweep while exits are still sized from the ledger; and a burst of entry fills
costs one placement of the exits, not a cancel-and-replace per fill. REST stays the record: the safety
net and a stream down past its grace still read the venue."""

from __future__ import annotations

from collections.abc import Callable

from autohedge.core.actor_names import MONITOR, user_stream_name
from autohedge.core.config import AppConfig
from autohedge.core.messages import UserStreamStatus
from tests.actors.harness import Harness, hold_the_monitor, make_config, wait_for
from tests.actors.test_user_stream import net_bought, partial_engine, running_after

USER_STREAM = user_stream_name("paper")
GRACE_S = 2.0
"""``user_stream.drop_grace_s`` (the default)."""
QUICK_RECONNECT_S = 1.5
"""``supervisor.min_backoff_s`` for a drop the reconnect ends within the grace..."""
SLOW_RECONNECT_S = 5.0
"""...and for one that lasts beyond it."""
SAFETY_S = 60.0
"""``user_stream.safety_poll_interval_s`` (the default)."""


def config_reconnecting_after(reconnect_s: float, **user_stream: float) -> AppConfig:
    return make_config(
        supervisor={"min_backoff_s": reconnect_s, "max_backoff_s": 8},
        feed={"stale_after_s": 1000},
        executor={"order_poll_interval_s": 5.0},
        user_stream=user_stream,
    )


def reads(h: Harness, method: str) -> int:
    return h.exchange.calls.count(method)


def drop_user_stream(h: Harness) -> None:
    h.user_streams[-1].drop()
    h.barrier(USER_STREAM)  # the drop is handled: the monitor is told before the clock moves
    h.settle()


def bought_then_dropped(h: Harness) -> None:
    """A protected position, then the user stream drops."""
    h.trigger_buy("BTC/USDT")
    wait_for(lambda: h.is_protected("BTC/USDT"))
    drop_user_stream(h)


def test_reconnect_verification_takes_positions_from_the_rebased_ledger_and_the_safety_net_reads_rest(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config_reconnecting_after(QUICK_RECONNECT_S)).start()
    bought_then_dropped(h)
    positions, balances, open_orders = reads(h, "positions"), reads(h, "balances"), reads(h, "open_orders")

    h.advance(QUICK_RECONNECT_S)  # reconnect -> re-base (one account read) -> verification
    wait_for(running_after(h, connections=2), what="reconnected")
    # The re-base reads the open orders (their fills), then the verification reads them.
    wait_for(lambda: reads(h, "open_orders") > open_orders + 1, what="exits verified after the reconnect")
    h.settle()

    assert reads(h, "balances") == balances + 1  # the re-base: the record
    assert reads(h, "positions") == positions  # not read again right after it
    assert h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT") and h.is_protected("BTC/USDT")
    h.advance(SAFETY_S)  # the safety net reads the venue again
    wait_for(lambda: reads(h, "positions") > positions, what="safety-net verification by REST")


def test_a_brief_drop_is_left_to_the_reconnect_and_a_longer_one_is_verified_by_rest(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config_reconnecting_after(SLOW_RECONNECT_S)).start()
    bought_then_dropped(h)
    positions, open_orders = reads(h, "positions"), reads(h, "open_orders")

    h.advance(1.0)  # an exit check inside the grace
    assert (reads(h, "positions"), reads(h, "open_orders")) == (positions, open_orders)

    h.advance(GRACE_S - 1.0)  # still down at the end of the grace: checked by REST at every check
    wait_for(lambda: reads(h, "open_orders") > open_orders, what="verification once the grace is over")
    assert reads(h, "positions") > positions


def test_a_fill_during_a_brief_drop_is_sized_from_the_ledger_and_the_order_answer(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config_reconnecting_after(SLOW_RECONNECT_S)).start()
    drop_user_stream(h)
    positions = reads(h, "positions")

    h.trigger_buy("BTC/USDT")  # filled in the order's answer; its event is lost with the stream

    wait_for(lambda: h.is_protected("BTC/USDT"), what="protected during the drop")
    assert reads(h, "positions") == positions
    assert h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT")
    legs = h.open_sells("BTC/USDT")
    assert len(legs) == 2 and all(o.qty <= net_bought(h, "BTC/USDT") for o in legs)  # never more than held


def test_without_a_grace_a_fill_during_a_drop_is_sized_from_a_rest_read(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(config_reconnecting_after(SLOW_RECONNECT_S, drop_grace_s=0.0)).start()
    drop_user_stream(h)
    positions = reads(h, "positions")

    h.trigger_buy("BTC/USDT")

    wait_for(lambda: h.is_protected("BTC/USDT"), what="protected during the drop")
    assert reads(h, "positions") > positions


def dip_buy(h: Harness, quotes: list[tuple[str, str]]) -> None:
    """A dip buy by the strategy while the monitor is held: each quote handled up to the executor."""
    for bid, ask in [("99.99", "100.01")] * 3 + quotes:
        h.quote("BTC/USDT", bid, ask, wait=False)
        h.settle_entries()


def test_a_burst_of_entry_fills_costs_one_placement_of_the_exits(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(make_config(symbols=["BTC/USDT"]), engine=partial_engine()).start()
    blocker = hold_the_monitor(h)

    dip_buy(h, [("99.90", "99.92"), ("99.80", "99.85")])  # half fills at once, the rest on the last
    assert h.metrics.get("orders_filled") == 2  # two fills wait in the monitor's inbox
    blocker.release.set()
    h.settle()

    wait_for(lambda: h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT"), what="both fills taken in")
    assert h.is_protected("BTC/USDT")
    assert h.metrics.get("exits_armed") == 1  # one placement for the burst, no cancel-and-replace
    legs = h.open_sells("BTC/USDT")
    assert len(legs) == 2 and all(o.qty <= net_bought(h, "BTC/USDT") for o in legs)


def test_a_verification_between_a_fill_and_its_queued_rearm_finds_no_orphan(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(make_config(symbols=["BTC/USDT"])).start()
    blocker = hold_the_monitor(h)
    dip_buy(h, [("99.90", "99.92")])
    assert h.metrics.get("orders_filled") == 1
    monitor = h.directory.get(MONITOR)
    assert monitor is not None
    monitor.tell(UserStreamStatus(venue="paper", connected=True))  # verified before the fill's re-arm

    blocker.release.set()
    h.settle()

    wait_for(lambda: h.is_protected("BTC/USDT"), what="protected")
    assert "orphan_detected" not in h.engine.parts.events.kinds()
    assert h.metrics.get("exits_armed") == 1
