"""The monitor sizes an entry fill's exit from the ledger's record of the entry, which the ledger's bound
forgets (``ENDED_FILLS_KEPT`` newer ended orders and ``FILL_MEMORY_KEEP_S``). Held off long enough, the
placement must still find it (ManualClock, the monitor held inside a venue read, no sleeps)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from autohedge.core.actor_names import MONITOR
from autohedge.core.dedupe import FILL_MEMORY_KEEP_S
from autohedge.core.ledger import ENDED_FILLS_KEPT, AccountLedger
from autohedge.core.messages import OrderEventKind, OrderUpdate, SyncPositions
from autohedge.core.types import Side, quantize_down
from tests.actors.harness import Blocker, Harness, hold_the_monitor, make_config, wait_for
from tests.actors.test_rebase_fills import OLD_ENTRY as ENTRY
from tests.actors.test_rebase_fills import old_entry
from tests.actors.test_simulation_findings import LOT, covered, exits_asked, half_filling_engine, held
from tests.ids import entry_id

SYMBOL = "BTC/USDT"
SOLD_ELSEWHERE = Decimal("0.2")


def ended_fill(key: int, *, symbol: str, side: Side, qty: Decimal, ts_event: int = 0) -> OrderUpdate:
    """The whole fill (and so the end) of order ``entry_id(key)`` of ``qty`` at 100, no fee, at
    ``ts_event`` (by default before the ledger's snapshot: a record of it, the balances unmoved)."""
    return OrderUpdate(
        venue="paper",
        kind=OrderEventKind.FILLED,
        symbol=symbol,
        client_order_id=entry_id(key),
        venue_order_id=f"X{key}",
        side=side,
        price=Decimal(100),
        order_qty=qty,
        cum_filled_qty=qty,
        last_qty=qty,
        last_price=Decimal(100),
        fee=Decimal(0),
        fee_asset="USDT",
        trade_id=f"x{key}",
        ts_event=ts_event,
        ts_init=ts_event,
    )


def forget_ended_orders(h: Harness, ledger: AccountLedger) -> None:
    """What the ledger's bound does to a record after the window and ``ENDED_FILLS_KEPT`` newer ended
    orders (of another symbol: the test's holding does not move)."""
    h.clock.advance(FILL_MEMORY_KEEP_S + 1)  # no settle: the monitor is held
    for key in range(1, ENDED_FILLS_KEPT + 2):
        ledger.apply(ended_fill(key, symbol="ETH/USDT", side=Side.BUY, qty=Decimal("0.001")))


def test_an_entry_fills_exit_is_sized_right_after_the_ledger_forgot_the_entrys_record(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An entry fills; its event reaches the ledger and the monitor takes the fill in, then its exit's
    # placement is held off. Meanwhile the ledger's bound forgets the entry's record, and 0.2 BTC is sold
    # outside our exits (the ledger has that event). The placement found no record: the entry's fill
    # looked missing from the ledger and was added to what it holds. The exit asked for 0.2 more than
    # was held, and the venue refused it.
    # No entries (the test's is the only one); the feed stays fresh while the clock jumps the window.
    config = make_config(hft={"min_edge_bps": 10_000}, feed={"stale_after_s": 2 * FILL_MEMORY_KEEP_S})
    h = make_harness(config, engine=half_filling_engine(1.0)).start()
    ledger = h.engine.parts.ledger
    h.quote(SYMBOL, "99.99", "100.03")
    asked = exits_asked(h, monkeypatch)

    first = hold_the_monitor(h)
    h.paper_engine.submit_order(old_entry("0.5"))
    h.quote(SYMBOL, "99.99", "100.00", wait=False)  # the entry fills; its report waits for the monitor
    h.settle_entries()
    assert ledger.applied_fill(ENTRY) == Decimal("0.5")
    second = Blocker()
    h.exchange.fail("positions", second, thread_prefix="PositionMonitorActor")
    h.directory.tell(MONITOR, SyncPositions())  # queued behind the report: holds the placement off
    first.release.set()
    assert second.entered.wait(timeout=5)

    forget_ended_orders(h, ledger)
    h.paper_engine.fund("BTC", -SOLD_ELSEWHERE)  # sold outside our exits: the ledger has the event
    ledger.apply(
        ended_fill(10**6, symbol=SYMBOL, side=Side.SELL, qty=SOLD_ELSEWHERE, ts_event=h.clock.wall_ns())
    )
    second.release.set()
    h.settle()

    wait_for(lambda: bool(asked), what="the exit placed")
    assert [(qty, have) for qty, have in asked if qty > have] == []  # (exit asked for, held then)
    assert covered(h) == quantize_down(held(h), LOT) == Decimal("0.2995")
