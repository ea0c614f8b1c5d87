"""The journal actor on a whole engine (paper exchange, ManualClock): what trading writes, and that a
slow or failing journal never holds trading back."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import pykka

from autohedge.actors.journal import FlushJournal, JournalActor
from autohedge.actors.protocol import Barrier
from autohedge.adapters.journal.sqlite import JournalReader, SqliteJournal
from autohedge.core.actor_names import EXECUTOR, JOURNAL, SUPERVISOR
from autohedge.core.clock import ManualClock
from autohedge.core.eventlog import Event
from autohedge.core.journal import AccountSnapshot, JournalRecord, OrderIntent, OrderObserved, PositionOpened
from autohedge.core.messages import OrderRequest, OrderSnapshot
from autohedge.core.metrics import Metrics
from autohedge.core.pnl import compute_pnl
from autohedge.core.types import CloseReason, OrderStatus, Side
from tests.actors.harness import Harness, wait_for
from tests.ids import entry_id


def _round_trip_to_take_profit(h: Harness, symbol: str) -> Decimal:
    """A buy, protected, then closed by its take-profit; returns the take-profit price."""
    h.buy_protected(symbol)
    take_profit = h.reach_take_profit(symbol)  # CheckExits sees it filled
    wait_for(lambda: h.position(symbol) is None, what="position closed")
    return take_profit


def test_journal_records_entry_fill_exits_and_the_take_profit_close(
    make_harness: Callable[..., Harness], tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite"
    h = make_harness(journal_path=path).start()

    take_profit = _round_trip_to_take_profit(h, "BTC/USDT")
    h.engine.flush_journal()

    reader = JournalReader(path)
    fills = reader.fills()
    assert [(f.side.value, f.reason) for f in fills] == [("buy", "entry"), ("sell", "take_profit")]
    buy = h.buys("BTC/USDT")[0]
    assert fills[0].qty == buy.filled_qty and fills[0].fee == buy.fee and fills[0].fee_asset == "BTC"
    (position,) = reader.positions()
    assert position.close_reason == "take_profit" and position.take_profit == take_profit
    assert len(position.exit_order_ids) == 2
    orders = {o.client_order_id: o for o in reader.orders()}
    assert orders[buy.client_order_id].status == OrderStatus.FILLED.value
    assert orders[buy.client_order_id].venue_order_id == buy.venue_order_id
    assert reader.count("events") > 0 and reader.symbol_steps()["BTC/USDT"][0] > 0


def test_run_pnl_reads_the_runs_fills_one_at_a_time_and_reports_what_compute_pnl_does(
    make_harness: Callable[..., Harness], tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite"
    h = make_harness(journal_path=path).start()
    for symbol in ("BTC/USDT", "ETH/USDT", "BTC/USDT"):
        _round_trip_to_take_profit(h, symbol)

    report = h.engine.run_pnl()

    reader = JournalReader(path)
    fills = reader.fills(since_ns=h.engine.started_wall_ns)
    assert list(reader.each_fill(since_ns=h.engine.started_wall_ns)) == fills and len(fills) == 6
    steps = h.engine.symbol_steps()
    expected = compute_pnl(
        fills,
        dust={symbol: lot for symbol, (_, lot) in steps.items()},
        start_ns=h.engine.started_wall_ns,
        end_ns=report.end_ns if report is not None else 0,
    )
    assert report == expected and report.overall.closed_trades == 3


def test_journal_position_opened_on_a_previous_positions_dust_has_its_entry_price(
    make_harness: Callable[..., Harness], tmp_path: Path
) -> None:
    # The fee in base leaves dust below the lot step after the first close; the second position
    # starts from it, and its row must still say what it was bought at.
    path = tmp_path / "journal.sqlite"
    h = make_harness(journal_path=path).start()
    for _ in range(2):
        _round_trip_to_take_profit(h, "BTC/USDT")
    h.engine.flush_journal()

    reader = JournalReader(path)
    buys = h.buys("BTC/USDT")
    assert h.paper_engine.held_qty("BTC/USDT") > 0  # the dust the second position started from
    assert [(p.entry_price, p.close_reason) for p in reader.positions()] == [  # newest first
        (b.avg_fill_price, "take_profit") for b in reversed(buys)
    ]


def test_journal_rejected_entry_is_recorded_with_its_state(
    make_harness: Callable[..., Harness], tmp_path: Path
) -> None:
    from autohedge.core.errors import OrderRejected

    path = tmp_path / "journal.sqlite"
    h = make_harness(journal_path=path).start()
    h.exchange.fail("submit_order", lambda: OrderRejected("price filter"))

    h.trigger_buy("BTC/USDT")
    h.engine.flush_journal()

    (order,) = JournalReader(path).orders()
    assert order.status == "rejected" and order.side == "buy" and order.reason == "hft"


class _BlockedWriter:
    """A journal disk that hangs until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.records: list[JournalRecord] = []

    def write(self, records: Sequence[JournalRecord]) -> None:
        self.entered.set()
        self.release.wait(timeout=30)
        self.records.extend(records)

    def close(self) -> None:
        self.release.set()


def test_journal_slow_disk_never_delays_an_order(make_harness: Callable[..., Harness]) -> None:
    h = make_harness().start()
    writer = _BlockedWriter()
    ref = JournalActor.start(writer_factory=lambda: writer, clock=h.clock, metrics=h.metrics)
    h.directory.register(JOURNAL, ref)
    try:
        ref.tell(Event(0, "probe", "", "the journal now hangs on its first write", "INFO"))
        ref.tell(FlushJournal())
        wait_for(writer.entered.is_set, what="journal blocked in a write")

        h.trigger_buy("BTC/USDT")  # settles the pipeline: the executor and monitor are not waiting

        wait_for(lambda: h.is_protected("BTC/USDT"))
        assert writer.records == []  # still blocked while the order went out and filled
        writer.release.set()
        ref.ask(FlushJournal(), timeout=10)
        assert any(type(r).__name__ == "OrderIntent" for r in writer.records)
    finally:
        writer.release.set()
        h.directory.unregister(JOURNAL, ref)
        ref.stop()


class _CountingWriter:
    def __init__(self) -> None:
        self.batches: list[list[JournalRecord]] = []

    def write(self, records: Sequence[JournalRecord]) -> None:
        self.batches.append(list(records))

    def close(self) -> None:
        """Nothing to release."""


def test_journal_writes_a_burst_as_one_batch_after_the_delay() -> None:
    clock = ManualClock()
    writer = _CountingWriter()
    ref = JournalActor.start(writer_factory=lambda: writer, clock=clock, metrics=Metrics(), max_delay_s=0.05)
    try:
        for i in range(3):
            ref.tell(Event(0, "probe", "", f"record {i}", "INFO"))
        ref.ask(Barrier())  # all three taken in, none written: the first waits for company
        assert writer.batches == []

        clock.advance(0.049)
        ref.ask(Barrier())
        assert writer.batches == []
        clock.advance(0.001)
        assert ref.ask(FlushJournal(), timeout=10) == 3  # the timer's flush came first; nothing left
        assert [[r.text for r in batch if isinstance(r, Event)] for batch in writer.batches] == [
            ["record 0", "record 1", "record 2"]
        ]
        assert clock.pending_delays_s() == []  # the timer was spent, none left behind
    finally:
        ref.stop()


class _FailingWriter:
    def write(self, records: Sequence[JournalRecord]) -> None:
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        """Nothing to release."""


def test_journal_failing_disk_is_counted_and_trading_goes_on(make_harness: Callable[..., Harness]) -> None:
    h = make_harness().start()
    ref = JournalActor.start(writer_factory=_FailingWriter, clock=h.clock, metrics=h.metrics)
    h.directory.register(JOURNAL, ref)
    try:
        h.buy_protected("BTC/USDT")
        ref.ask(FlushJournal(), timeout=10)

        assert h.metrics.get("journal_errors") >= 1 and h.metrics.get("journal_records_dropped") >= 1
        assert ref.is_alive()
    finally:
        h.directory.unregister(JOURNAL, ref)
        ref.stop()
    assert not pykka.ActorRegistry.get_by_urn(ref.actor_urn)


def test_control_pnl_adds_only_new_fills_between_calls(
    make_harness: Callable[..., Harness], tmp_path: Path
) -> None:
    from autohedge.control import EngineController

    h = make_harness(journal_path=tmp_path / "journal.sqlite").start()
    control = EngineController(h.engine)
    h.buy_protected("BTC/USDT")
    h.engine.flush_journal()
    before = control.pnl()
    take_profit = h.reach_take_profit("BTC/USDT")  # CheckExits sees it filled
    wait_for(lambda: h.position("BTC/USDT") is None, what="position closed")
    h.engine.flush_journal()
    after = control.pnl()

    assert before.closed_trades == 0 and before.fees > 0 and before.realized_pnl == 0
    assert after.closed_trades == 1 and after.realized_pnl > 0 and len(after.equity) == 1
    (trade,) = control.trades(10)
    assert trade.reason == "take_profit" and trade.exit_price == take_profit


def test_journal_closes_a_previous_accounts_holding_at_start_up_as_reconciled(
    make_harness: Callable[..., Harness], tmp_path: Path
) -> None:
    # The journal of an earlier run holds 0.5 BTC of another (paper) account, still open; this run's
    # fresh paper account holds nothing: the report must not show it open, nor invent P&L for it.
    path = tmp_path / "journal.sqlite"
    old = SqliteJournal(path)
    request = OrderRequest(
        client_order_id=entry_id(1), symbol="BTC/USDT", side=Side.BUY, qty=Decimal("0.5"), price=Decimal(100)
    )
    filled = OrderSnapshot(
        venue_order_id="v1",
        client_order_id=entry_id(1),
        symbol="BTC/USDT",
        side=Side.BUY,
        price=Decimal(100),
        qty=Decimal("0.5"),
        filled_qty=Decimal("0.5"),
        avg_fill_price=Decimal(100),
        status=OrderStatus.FILLED,
    )
    old.write(
        [
            AccountSnapshot(venue="paper", account="paper run 1", held=(), ts_init=1),
            OrderIntent.of(request, ts_init=2),
            OrderObserved(order=filled, ts_init=3),
            PositionOpened(symbol="BTC/USDT", qty=Decimal("0.5"), entry_price=Decimal(100), ts_init=3),
        ]
    )
    old.close()

    h = make_harness(journal_path=path).start()
    h.engine.flush_journal()

    reader = JournalReader(path)
    report = compute_pnl(reader.fills())
    assert report.open_lots == () and report.overall.realized_pnl == 0
    assert [(w.symbol, w.qty) for w in report.written_off] == [("BTC/USDT", Decimal("0.5"))]
    (position,) = reader.positions()
    assert position.close_reason == CloseReason.RECONCILED.value
    assert reader.count("accounts") == 2


def test_every_actor_of_the_tree_and_the_journal_take_messages_from_a_simple_queue(
    make_harness: Callable[..., Harness], tmp_path: Path
) -> None:
    # queue.Queue holds its mutex across bytecodes: a holder that lost the interpreter lock kept every
    # teller waiting (autohedge.actors.inbox). Lanes share the strategy runner's inbox.
    h = make_harness(journal_path=tmp_path / "journal.sqlite").start()

    names = h.directory.names()
    assert JOURNAL in names and SUPERVISOR in names and EXECUTOR in names
    inboxes = {name: h.directory.get(name).actor_inbox for name in names}  # type: ignore[union-attr]
    assert {name: type(inbox) for name, inbox in inboxes.items()} == dict.fromkeys(names, queue.SimpleQueue)
