"""The SQLite journal: WAL, schema migration on open, idempotent writes, fills from observations."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from autohedge.adapters.journal import sqlite as journal_module
from autohedge.adapters.journal.sqlite import MIGRATIONS, SCHEMA_VERSION, JournalReader, SqliteJournal
from autohedge.core.eventlog import Event
from autohedge.core.journal import (
    AccountSnapshot,
    ExitsArmed,
    JournalRecord,
    OrderIntent,
    OrderNoted,
    OrderObserved,
    PositionClosed,
    PositionOpened,
)
from autohedge.core.messages import (
    OrderEventKind,
    OrderRequest,
    OrderSnapshot,
    OrderUpdate,
    SymbolRules,
)
from autohedge.core.pnl import FillKind, compute_pnl
from autohedge.core.types import CloseReason, OrderPurpose, OrderStatus, Side
from tests.ids import our_id

D = Decimal

S = "BTC/USDT"


CLOSE2 = our_id(OrderPurpose.CLOSE, 2, 0)
ENTRY1 = our_id(OrderPurpose.ENTRY, 1, 0)
ENTRY3 = our_id(OrderPurpose.ENTRY, 3, 0)
SL1 = our_id(OrderPurpose.STOP_LOSS, 1, 0)
TP1 = our_id(OrderPurpose.TAKE_PROFIT, 1, 0)
TP5 = our_id(OrderPurpose.TAKE_PROFIT, 5, 0)


def _request(
    coid: str = ENTRY1,
    side: Side = Side.BUY,
    purpose: OrderPurpose = OrderPurpose.ENTRY,
) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol=S, side=side, qty=D(1), price=D(100), purpose=purpose)


def _snapshot(
    filled: str,
    avg: str | None,
    fee: str,
    status: OrderStatus,
    coid: str = ENTRY1,
    side: Side = Side.BUY,
) -> OrderSnapshot:
    return OrderSnapshot(
        venue_order_id="v1",
        client_order_id=coid,
        symbol=S,
        side=side,
        price=D(100),
        qty=D(1),
        filled_qty=D(filled),
        avg_fill_price=D(avg) if avg is not None else None,
        fee=D(fee),
        fee_asset="BTC" if side is Side.BUY else "USDT",
        status=status,
    )


def _partial_fill_records() -> list[JournalRecord]:
    return [
        OrderIntent.of(_request(), ts_init=1, reason="hft"),
        OrderObserved(order=_snapshot("0", None, "0", OrderStatus.NEW), ts_init=2),
        OrderObserved(order=_snapshot("0.4", "100", "0.0004", OrderStatus.PARTIALLY_FILLED), ts_init=3),
        OrderObserved(order=_snapshot("0.4", "100", "0.0004", OrderStatus.PARTIALLY_FILLED), ts_init=4),
        OrderObserved(order=_snapshot("1", "99.4", "0.001", OrderStatus.FILLED), ts_init=5),
    ]


def test_journal_opens_in_wal_mode_at_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "state" / "journal.sqlite"
    SqliteJournal(path).close()

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_journal_connection_keeps_a_small_page_cache(tmp_path: Path) -> None:
    # The cache size is per connection (not stored in the file): the writer's own connection is asked.
    journal = SqliteJournal(tmp_path / "journal.sqlite")
    try:
        assert journal._conn.execute("PRAGMA cache_size").fetchone()[0] == -journal_module.PAGE_CACHE_KIB
    finally:
        journal.close()
    assert journal_module.PAGE_CACHE_KIB < 2_000  # below SQLite's default


def test_journal_migrates_an_older_schema_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO events VALUES (1, 'started', '', 'INFO', 'v1 row')")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()

    journal = SqliteJournal(path)
    journal.write([SymbolRules(symbol=S, tick_size=D("0.01"), lot_step=D("0.00001"))])
    journal.close()

    reader = JournalReader(path)
    assert reader.count("events") == 1
    assert reader.symbol_steps() == {S: (D("0.01"), D("0.00001"))}


def test_journal_partial_fills_become_deltas_at_the_implied_price(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    journal.write(_partial_fill_records())
    journal.close()

    reader = JournalReader(tmp_path / "j.sqlite")
    fills = reader.fills()
    # 0.4 @ 100 then 0.6 @ (99.4 * 1 - 100 * 0.4) / 0.6 = 99; fees 0.0004 then 0.0006 BTC.
    assert [(f.qty, f.price, f.fee, f.fee_asset, f.reason) for f in fills] == [
        (D("0.4"), D(100), D("0.0004"), "BTC", "entry"),
        (D("0.6"), D(99), D("0.0006"), "BTC", "entry"),
    ]
    (order,) = reader.orders()
    assert order.status == "filled" and order.venue_order_id == "v1" and order.filled_qty == D(1)
    assert reader.count("order_states") == 4  # pending, new, partially_filled, filled


def test_journal_writes_are_idempotent_across_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    records = [
        *_partial_fill_records(),
        PositionOpened(symbol=S, qty=D("0.999"), entry_price=D("99.4"), ts_init=5),
        Event(6, "exit_armed", S, "OCO", "INFO"),
    ]
    first = SqliteJournal(path)
    first.write(records)
    first.close()

    again = SqliteJournal(path)
    again.write(records)
    again.close()

    reader = JournalReader(path)
    assert [reader.count(t) for t in ("orders", "fills", "positions", "events")] == [1, 2, 1, 1]


def test_journal_position_lifecycle_with_close_reason(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    journal.write(
        [
            PositionOpened(symbol=S, qty=D("0.999"), entry_price=D(100), ts_init=10),
            ExitsArmed(
                symbol=S,
                qty=D("0.99"),
                take_profit=D("100.4"),
                stop_loss=D("99.6"),
                client_order_ids=(
                    TP1,
                    SL1,
                ),
                oco=True,
                ts_init=11,
            ),
            PositionClosed(
                symbol=S, qty=D("0.99"), price=D("99.6"), reason=CloseReason.STOP_LOSS, ts_init=20
            ),
            PositionClosed(
                symbol=S, qty=D("0.99"), price=D("99.6"), reason=CloseReason.STOP_LOSS, ts_init=21
            ),
        ]
    )
    journal.close()

    (position,) = JournalReader(path).positions()
    assert position.exit_order_ids == (
        TP1,
        SL1,
    ) and position.take_profit == D("100.4")
    assert position.closed_ns == 20 and position.close_reason == "stop_loss"


def test_journal_close_order_fills_carry_the_close_reason(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    close = _request(CLOSE2, Side.SELL, OrderPurpose.CLOSE)
    journal.write(
        [
            OrderIntent.of(close, ts_init=1, reason=CloseReason.LLM_SELL.value),
            OrderObserved(
                order=_snapshot("1", "101", "0.101", OrderStatus.FILLED, CLOSE2, Side.SELL),
                ts_init=2,
            ),
            OrderIntent.of(_request(ENTRY3), ts_init=3),
            OrderNoted(
                client_order_id=ENTRY3,
                symbol=S,
                status="rejected",
                detail="no funds",
                ts_init=4,
            ),
        ]
    )
    journal.close()

    reader = JournalReader(path)
    (fill,) = reader.fills()
    assert fill.reason == "llm_sell" and fill.side is Side.SELL and fill.fee_asset == "USDT"
    assert [o.status for o in reader.orders()] == ["rejected", "filled"]


def _event(kind: str, cum: str, last: str, trade_id: str | None, ts: int) -> OrderUpdate:
    return OrderUpdate(
        venue="paper",
        kind=OrderEventKind(kind),
        symbol=S,
        client_order_id=TP5,
        venue_order_id="v5",
        side=Side.SELL,
        price=D(101),
        order_qty=D(1),
        cum_filled_qty=D(cum),
        last_qty=D(last),
        last_price=D(101) if trade_id else D(0),
        fee=D("0.0404") if trade_id else D(0),
        fee_asset="USDT",
        trade_id=trade_id,
        ts_event=ts,
        ts_init=ts,
    )


def test_journal_stream_events_fill_by_trade_id_and_a_later_snapshot_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    journal.write(
        [
            OrderIntent.of(
                _request(TP5, Side.SELL, OrderPurpose.TAKE_PROFIT),
                ts_init=1,
            ),
            _event("accepted", "0", "0", None, 2),
            _event("partially_filled", "0.4", "0.4", "T1", 3),
            _event("partially_filled", "0.4", "0.4", "T1", 4),  # a replayed event
            _event("filled", "1", "0.6", "T2", 5),
            OrderObserved(
                order=_snapshot("1", "101", "0.101", OrderStatus.FILLED, TP5, Side.SELL),
                ts_init=6,
            ),
        ]
    )
    journal.close()

    reader = JournalReader(path)
    fills = reader.fills()
    assert [(f.qty, f.price, f.fee, f.reason) for f in fills] == [
        (D("0.4"), D(101), D("0.0404"), "take_profit"),
        (D("0.6"), D(101), D("0.0404"), "take_profit"),
    ]
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT fill_id FROM fills ORDER BY ts_ns")] == [
        f"trade:{TP5}:T1",
        f"trade:{TP5}:T2",
    ]
    (order,) = reader.orders()
    assert order.status == "filled" and order.filled_qty == D(1)


def test_journal_lets_a_settled_orders_state_go_and_reads_its_row_for_a_late_record(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    journal.write(
        [
            OrderIntent.of(_request(TP5, Side.SELL, OrderPurpose.TAKE_PROFIT), ts_init=1),
            _event("accepted", "0", "0", None, 2),
            _event("filled", "1", "1", "T1", 3),
            OrderIntent.of(_request(ENTRY3), ts_init=4),
        ]
    )
    assert set(journal._orders) == {ENTRY3}  # the filled exit's row is its record; the open entry stays
    journal.write(
        [
            _event("filled", "1", "1", "T1", 5),  # replayed after its state left the cache
            OrderObserved(
                order=_snapshot("1", "101", "0.101", OrderStatus.FILLED, TP5, Side.SELL), ts_init=6
            ),
        ]
    )
    assert set(journal._orders) == {ENTRY3}
    journal.close()

    reader = JournalReader(path)
    assert [(f.qty, f.price) for f in reader.fills()] == [(D(1), D(101))]
    filled = next(o for o in reader.orders() if o.client_order_id == TP5)
    assert filled.status == "filled" and filled.filled_qty == D(1)


def _account(held: dict[str, str], account: str, ts_init: int) -> AccountSnapshot:
    return AccountSnapshot(
        venue="paper", account=account, held=tuple((s, D(q)) for s, q in held.items()), ts_init=ts_init
    )


def test_journal_migrates_a_version_2_file_whose_fills_become_trades(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0] + MIGRATIONS[1])
    conn.execute(
        "INSERT INTO fills VALUES ('f1', ?, 'v1', '', ?, 'buy', '0.5', '100', '0', '', 7)", (ENTRY1, S)
    )
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()

    SqliteJournal(path).close()

    (fill,) = JournalReader(path).fills()
    assert (fill.kind, fill.qty, fill.reason) == (FillKind.TRADE, D("0.5"), "unknown")
    assert JournalReader(path).count("accounts") == 0


def test_journal_account_snapshot_closes_what_another_account_held_once(tmp_path: Path) -> None:
    # Run 1 bought 1 @ 99.4 (0.001 BTC fee kept: 0.999 held) and its position stayed open; run 2's
    # fresh paper account holds nothing: the 0.999 are written off at their cost, the row closed.
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    journal.write(
        [
            *_partial_fill_records(),
            PositionOpened(symbol=S, qty=D("0.999"), entry_price=D("99.4"), ts_init=6),
            _account({S: "0.999"}, "paper run 1", 5),
        ]
    )
    journal.write([_account({}, "paper run 2", 100)])
    journal.write([_account({}, "paper run 2", 100)])  # replayed: nothing more
    journal.close()

    reader = JournalReader(path)
    report = compute_pnl(reader.fills())
    assert report.open_lots == () and report.overall.realized_pnl == 0
    (written_off,) = report.written_off
    assert written_off.qty == D("0.999") and written_off.closed_ns == 100
    (position,) = reader.positions()
    assert position.close_reason == CloseReason.RECONCILED.value and position.closed_ns == 100
    assert reader.count("accounts") == 2 and reader.count("fills") == 3


def test_journal_keeps_a_later_accounts_fill_that_reuses_an_earlier_trade_id(tmp_path: Path) -> None:
    # A fresh paper account numbers its trades from 1 again: trade T1 of another order is a new fill.
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    journal.write([OrderIntent.of(_request(TP5, Side.SELL, OrderPurpose.TAKE_PROFIT), ts_init=1)])
    journal.write([_event("partially_filled", "0.4", "0.4", "T1", 3)])
    journal.write([OrderIntent.of(_request(TP1, Side.SELL, OrderPurpose.TAKE_PROFIT), ts_init=10)])
    journal.write(
        [_event("partially_filled", "0.4", "0.4", "T1", 13).model_copy(update={"client_order_id": TP1})]
    )
    journal.close()

    assert [f.client_order_id for f in JournalReader(path).fills()] == [TP5, TP1]


# -- a process killed between the venue's fill and the journal's write (kill -9), either way round --------


def _entry_event(kind: str, cum: str, trade_id: str, ts_event: int, ts_init: int) -> OrderUpdate:
    """The entry's fill event: bought ``cum`` at 100, the fee (0.1%) kept in BTC."""
    event = _event(kind, cum, cum, trade_id, ts_event)
    update = {"client_order_id": ENTRY1, "venue_order_id": "v1", "side": Side.BUY, "price": D(100)}
    return event.model_copy(
        update=update | {"last_price": D(100), "fee": D(cum) / 1000, "fee_asset": "BTC", "ts_init": ts_init}
    )


def _restarted(held: str, ts_init: int) -> AccountSnapshot:
    """The next process's account snapshot: the same paper account, holding ``held`` at 100."""
    return AccountSnapshot(
        venue="paper",
        account="state.json",
        held=((S, D(held)),) if D(held) > 0 else (),
        entry_prices=((S, D(100)),) if D(held) > 0 else (),
        ts_init=ts_init,
    )


def _held(path: Path) -> Decimal:
    report = compute_pnl(JournalReader(path).fills(), dust={S: D("0.001")})
    return sum((lots.qty for lots in report.open_lots), D(0))


def test_journal_counts_once_an_entry_fill_the_venue_kept_and_the_journal_heard_after_the_restart(
    tmp_path: Path,
) -> None:
    # The entry filled at the venue at 5 (its state saved); the process died before the journal wrote
    # it. The restart adopts what the venue holds; then the entry, read again, reports its fill.
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    journal.write([OrderIntent.of(_request(), ts_init=1), _account({}, "state.json", 2)])
    journal.write([_restarted("0.999", 10)])
    late = _snapshot("1", "100", "0.001", OrderStatus.FILLED).model_copy(update={"ts_event": 5})
    journal.write([OrderObserved(order=late, ts_init=11)])
    journal.write([_entry_event("filled", "1", "T1", 5, 12)])  # its event, late too: a replay
    journal.close()

    assert _held(path) == D("0.999")
    report = compute_pnl(JournalReader(path).fills(), dust={S: D("0.001")})
    (lots,) = report.open_lots
    assert lots.cost == D(100) and report.written_off == ()


def test_journal_counts_once_an_exit_fill_the_venue_kept_and_the_journal_heard_after_the_restart(
    tmp_path: Path,
) -> None:
    # 0.999 held; the take-profit sold it at the venue at 20 and the process died before the journal
    # wrote it. The restart writes the holding off; then the exit's event arrives: it is the sale.
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    journal.write([*_partial_fill_records(), _account({S: "0.999"}, "state.json", 6)])
    journal.write([OrderIntent.of(_request(TP5, Side.SELL, OrderPurpose.TAKE_PROFIT), ts_init=7)])
    journal.write([_restarted("0", 30)])
    sold = _event("filled", "0.999", "0.999", "T9", 20).model_copy(
        update={"order_qty": D("0.999"), "ts_init": 31}
    )
    journal.write([sold, sold])
    journal.close()

    report = compute_pnl(JournalReader(path).fills(), dust={S: D("0.001")})
    assert report.open_lots == () and report.written_off == () and report.overall.unmatched_qty == 0
    (trade,) = report.trades
    assert trade.qty == D("0.999") and trade.realized_pnl > 0


def test_journal_counts_once_an_entry_fill_the_journal_kept_and_the_venue_lost_in_the_crash(
    tmp_path: Path,
) -> None:
    # The journal wrote the entry's fill (trade T1 at 5); the venue's state was not saved before the
    # process died. The restart writes the holding off; the entry, still open at the venue, fills
    # again after it (the venue's trade counter, restored, names it T1 again).
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    journal.write([OrderIntent.of(_request(), ts_init=1), _entry_event("filled", "1", "T1", 5, 5)])
    journal.write([_restarted("0", 10)])
    assert _held(path) == 0
    refill = _entry_event("filled", "1", "T1", 12, 12)
    journal.write([refill])
    journal.write([refill])  # a replay of it
    journal.close()

    assert _held(path) == D("0.999")


def test_journal_counts_a_fill_made_before_a_start_up_that_adjusted_nothing_as_a_trade(
    tmp_path: Path,
) -> None:
    # The venue was read before the entry filled (at 12); the snapshot (at 15) agreed with the books,
    # which hold an adoption from an earlier start-up: the late fill takes nothing back from it.
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    journal.write([OrderIntent.of(_request(), ts_init=1), _restarted("0.5", 10)])
    journal.write([_restarted("0.5", 15)])
    journal.write([_entry_event("filled", "1", "T1", 12, 16)])
    journal.close()

    assert _held(path) == D("1.499")
    assert {f.kind for f in JournalReader(path).fills()} == {FillKind.ADOPTED, FillKind.TRADE}


def test_journal_counts_the_fees_of_fills_whose_events_were_missed_at_the_events_rate(tmp_path: Path) -> None:
    # The entry's first fill (0.4) was never heard of; the event that filled the rest brings the order's
    # whole 1 BTC and only its own 0.0006 BTC fee. The venue kept 0.001 BTC in all: 0.999 is held.
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    missed = _entry_event("filled", "1", "T2", 5, 5).model_copy(
        update={"last_qty": D("0.6"), "fee": D("0.0006"), "avg_fill_price": D(100)}
    )
    journal.write([OrderIntent.of(_request(), ts_init=1), missed])
    journal.write([OrderObserved(order=_snapshot("1", "100", "0.001", OrderStatus.FILLED), ts_init=6)])
    journal.close()

    reader = JournalReader(path)
    assert [(f.qty, f.fee, f.fee_asset) for f in reader.fills()] == [(D(1), D("0.001"), "BTC")]
    assert _held(path) == D("0.999")
    (order,) = reader.orders()
    assert order.filled_qty == D(1)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT fee FROM orders").fetchone() == ("0.001",)
    finally:
        conn.close()


def _journal_rows(path: Path) -> list[list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return [
            conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("orders", "order_states", "fills")
        ]
    finally:
        conn.close()


def test_journal_orders_let_go_by_the_bounded_cache_continue_from_their_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three orders interleaved: with a cache of one, nearly every record reads its order's row back.
    interleaved: list[JournalRecord] = [
        OrderIntent.of(_request(ENTRY3), ts_init=1, reason="hft"),
        OrderIntent.of(_request(), ts_init=1, reason="hft"),
        OrderIntent.of(_request(TP5, Side.SELL, OrderPurpose.TAKE_PROFIT), ts_init=1),
        OrderObserved(order=_snapshot("0", None, "0", OrderStatus.NEW), ts_init=2),
        _event("accepted", "0", "0", None, 2),
        OrderObserved(order=_snapshot("0.4", "100", "0.0004", OrderStatus.PARTIALLY_FILLED), ts_init=3),
        _event("partially_filled", "0.4", "0.4", "T1", 3),
        OrderObserved(order=_snapshot("1", "99.4", "0.001", OrderStatus.FILLED), ts_init=5),
        _event("filled", "1", "0.6", "T2", 5),
        OrderNoted(client_order_id=ENTRY3, symbol=S, status="gone", detail="unknown to the venue", ts_init=6),
    ]
    SqliteJournal(tmp_path / "wide.sqlite").write(interleaved)
    monkeypatch.setattr(journal_module, "ORDER_CACHE_SIZE", 1)
    narrow = SqliteJournal(tmp_path / "narrow.sqlite")
    narrow.write(interleaved)
    narrow.close()

    assert _journal_rows(tmp_path / "narrow.sqlite") == _journal_rows(tmp_path / "wide.sqlite")
    assert len(JournalReader(tmp_path / "narrow.sqlite").fills()) == 4


def _all_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in tables
        }
    finally:
        conn.close()


def _exits(ts_init: int, qty: str = "0.99") -> ExitsArmed:
    return ExitsArmed(
        symbol=S,
        qty=D(qty),
        take_profit=D("100.4"),
        stop_loss=D("99.6"),
        client_order_ids=(TP1, SL1),
        oco=True,
        ts_init=ts_init,
    )


_LATE_ENTRY = _snapshot("1", "100", "0.001", OrderStatus.FILLED).model_copy(update={"ts_event": 5})
_SOLD = _event("filled", "0.999", "0.999", "T9", 20).model_copy(
    update={"order_qty": D("0.999"), "ts_init": 31}
)
_BATCH_SCENARIOS: dict[str, list[JournalRecord]] = {
    "a position's life, twice, with replays": [
        SymbolRules(symbol=S, tick_size=D("0.01"), lot_step=D("0.001")),
        *_partial_fill_records(),
        PositionOpened(symbol=S, qty=D("0.999"), entry_price=D("99.4"), ts_init=5),
        Event(6, "exit_armed", S, "OCO", "INFO"),
        Event(6, "exit_armed", S, "OCO", "INFO"),
        _exits(6),
        _exits(7, "0.98"),
        PositionClosed(symbol=S, qty=D("0.98"), price=D("99.6"), reason=CloseReason.STOP_LOSS, ts_init=8),
        PositionClosed(symbol=S, qty=D("0.98"), price=D("99.6"), reason=CloseReason.STOP_LOSS, ts_init=9),
        PositionOpened(symbol=S, qty=D("0.999"), entry_price=D("99.4"), ts_init=5),  # replayed: stays closed
        _exits(10),  # armed with none open: opens one
        PositionClosed(symbol=S, qty=D("0.99"), price=D("100.4"), reason=CloseReason.TAKE_PROFIT, ts_init=11),
    ],
    "stream events, a late snapshot, a settled order's late record": [
        OrderIntent.of(_request(TP5, Side.SELL, OrderPurpose.TAKE_PROFIT), ts_init=1),
        OrderIntent.of(_request(ENTRY3), ts_init=1, reason="hft"),
        _event("accepted", "0", "0", None, 2),
        _event("partially_filled", "0.4", "0.4", "T1", 3),
        _event("filled", "1", "0.6", "T2", 4),
        _event("filled", "1", "0.6", "T2", 4),
        OrderObserved(order=_snapshot("1", "100.6", "0.0404", OrderStatus.FILLED, TP5, Side.SELL), ts_init=5),
        OrderNoted(client_order_id=TP5, symbol=S, status="gone", detail="late", ts_init=6),
        OrderNoted(client_order_id=ENTRY3, symbol=S, status="gone", detail="unknown to the venue", ts_init=6),
        OrderIntent.of(_request(ENTRY3), ts_init=7, reason="hft"),
    ],
    "the venue kept an entry fill the journal heard of after the restart": [
        OrderIntent.of(_request(), ts_init=1),
        _account({}, "state.json", 2),
        _restarted("0.999", 10),
        OrderObserved(order=_LATE_ENTRY, ts_init=11),
        _entry_event("filled", "1", "T1", 5, 12),
    ],
    "the venue kept an exit fill the journal heard of after the restart": [
        *_partial_fill_records(),
        _account({S: "0.999"}, "state.json", 6),
        OrderIntent.of(_request(TP5, Side.SELL, OrderPurpose.TAKE_PROFIT), ts_init=7),
        _restarted("0", 30),
        _SOLD,
        _SOLD,
    ],
    "the venue lost a fill the journal kept and made it again": [
        OrderIntent.of(_request(), ts_init=1),
        _entry_event("filled", "1", "T1", 5, 5),
        _restarted("0", 10),
        _entry_event("filled", "1", "T1", 12, 12),
        _entry_event("filled", "1", "T1", 12, 12),
    ],
}


@pytest.mark.parametrize("cache_size", [journal_module.ORDER_CACHE_SIZE, 1])
@pytest.mark.parametrize("scenario", list(_BATCH_SCENARIOS))
def test_journal_batch_writes_the_rows_of_its_records_written_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str, cache_size: int
) -> None:
    # A batch keeps order states and positions in memory and writes its rows at its end: every record
    # must still see what the records before it wrote, as when each is a write of its own.
    monkeypatch.setattr(journal_module, "ORDER_CACHE_SIZE", cache_size)
    records = _BATCH_SCENARIOS[scenario]
    one_by_one = SqliteJournal(tmp_path / "one.sqlite")
    for record in records:
        one_by_one.write([record])
    one_by_one.close()
    batched = SqliteJournal(tmp_path / "batch.sqlite")
    batched.write(records)
    batched.close()

    rows = _all_rows(tmp_path / "one.sqlite")
    assert rows["fills"] and rows["order_states"]  # the scenario wrote what it is about
    assert _all_rows(tmp_path / "batch.sqlite") == rows


def test_journal_batch_costs_the_same_few_statements_for_ten_orders_or_two_hundred(tmp_path: Path) -> None:
    # Each statement lets go of the interpreter lock and, while trading threads are busy, waits up to
    # the switch interval to get it back: a batch's statements must not grow with its records.
    def lifecycles(count: int, first: int) -> list[JournalRecord]:
        records: list[JournalRecord] = []
        for n in range(first, first + count):
            entry = our_id(OrderPurpose.ENTRY, n, 0)
            records += [
                OrderIntent.of(_request(entry), ts_init=n, reason="hft"),
                OrderObserved(order=_snapshot("0", None, "0", OrderStatus.NEW, entry), ts_init=n),
                OrderObserved(order=_snapshot("1", "100", "0.001", OrderStatus.FILLED, entry), ts_init=n),
                Event(n, "filled", S, entry, "INFO"),
                _exits(n),
                PositionClosed(
                    symbol=S, qty=D("0.99"), price=D("100.4"), reason=CloseReason.TAKE_PROFIT, ts_init=n
                ),
            ]
        return records

    statements: list[str] = []
    journal = SqliteJournal(tmp_path / "j.sqlite")
    journal._conn.set_trace_callback(statements.append)
    journal.write(lifecycles(10, 1))
    ten = len(statements)
    statements.clear()
    journal.write(lifecycles(200, 100))
    journal.close()

    assert len(statements) == ten <= 12
    assert JournalReader(tmp_path / "j.sqlite").count("fills") == 210


def test_journal_batch_rolled_back_leaves_memory_as_the_file_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The batch that closed the position failed when its rows were written: written again, it closes it.
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    journal.write([*_partial_fill_records(), _exits(6)])
    closed = PositionClosed(symbol=S, qty=D("0.99"), price=D("99.6"), reason=CloseReason.STOP_LOSS, ts_init=8)
    failing: list[JournalRecord] = [
        OrderNoted(client_order_id=ENTRY1, symbol=S, status="gone", ts_init=7),
        closed,
    ]

    def disk_full(_conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with monkeypatch.context() as patch:
        patch.setattr(journal, "_write_rows", disk_full)
        with pytest.raises(sqlite3.OperationalError, match="disk is full"):
            journal.write(failing)
    assert JournalReader(path).positions(open_only=True)
    journal.write(failing)
    journal.close()

    assert JournalReader(path).positions(open_only=True) == []
    assert [o.status for o in JournalReader(path).orders()] == ["gone"]


class _CommitFailsOnce:
    """The journal's connection, whose next COMMIT fails (a full disk or a lock when the WAL is written),
    leaving the transaction open as SQLite may."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.failed = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def test_journal_commit_failed_once_leaves_later_batches_written(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    conn = journal._conn
    journal._conn = _CommitFailsOnce(conn)  # type: ignore[assignment]
    records = _partial_fill_records()
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        journal.write(records[:3])  # dropped by the journal actor

    journal.write(records)  # the disk has room again: every later batch is written
    journal.close()

    fills = JournalReader(path).fills()
    assert sum((f.qty for f in fills), D(0)) == D(1)
