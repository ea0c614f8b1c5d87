"""The trade journal in SQLite: WAL mode, a versioned schema migrated on open, idempotent writes.

``SqliteJournal`` writes (one connection, used on the journal actor's thread only); ``JournalReader``
reads from any thread with its own connection (WAL lets readers and the writer work side by side).

Decimals are stored as text so nothing passes through a float. Keys that make writes idempotent:
orders by client order id, fills by venue trade id (else ``<client id>#<cumulative qty>``), order
states by (client id, status, filled qty), positions by (symbol, opened time), events by their
content and time, account snapshots by (time, venue, account).

An account snapshot is reconciled with the books in the transaction that writes it
(``core.journal.reconcile_account``): its write-offs and adoptions are fill rows of their own kind,
so every reader of the fills (report, API, run summary, backtest) sees the same books. A process
killed between a fill and its journal write leaves the venue and the journal apart until the next
start-up; each fill still counts once: one the venue made before that reconciliation but the journal
hears of after it is ``explained`` (the reconciliation counted it), and one the journal counted but
the venue lost and made again after it counts again (the reconciliation took the first off).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from autohedge.core.eventlog import Event
from autohedge.core.journal import (
    AccountSnapshot,
    BookAdjustment,
    ExitsArmed,
    JournalRecord,
    OrderIntent,
    OrderNoted,
    OrderObserved,
    PositionClosed,
    PositionOpened,
    fill_delta,
    fill_key,
    lost_by_the_venue,
    made_before_startup,
    reconcile_account,
)
from autohedge.core.messages import OrderUpdate, SymbolRules
from autohedge.core.pnl import Fill, FillKind, PnlBook
from autohedge.core.types import OrderPurpose, OrderStatus, Side

__all__ = [
    "FILL_QUERY",
    "MIGRATIONS",
    "PAGE_CACHE_KIB",
    "SCHEMA_VERSION",
    "JournalReader",
    "OrderRow",
    "PositionRow",
    "SqliteJournal",
    "open_connection",
]

MIGRATIONS: tuple[str, ...] = (
    # 1: orders, their state changes, fills, positions, notable events.
    """
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        purpose TEXT NOT NULL,
        order_type TEXT NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        stop_price TEXT,
        reason TEXT NOT NULL DEFAULT '',
        venue_order_id TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        filled_qty TEXT NOT NULL DEFAULT '0',
        avg_fill_price TEXT,
        fee TEXT NOT NULL DEFAULT '0',
        fee_asset TEXT NOT NULL DEFAULT '',
        created_ns INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL
    );
    CREATE TABLE order_states (
        client_order_id TEXT NOT NULL,
        status TEXT NOT NULL,
        filled_qty TEXT NOT NULL,
        ts_ns INTEGER NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (client_order_id, status, filled_qty)
    );
    CREATE TABLE fills (
        fill_id TEXT PRIMARY KEY,
        client_order_id TEXT NOT NULL,
        venue_order_id TEXT NOT NULL DEFAULT '',
        venue_trade_id TEXT NOT NULL DEFAULT '',
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        fee TEXT NOT NULL,
        fee_asset TEXT NOT NULL,
        ts_ns INTEGER NOT NULL
    );
    CREATE INDEX fills_ts ON fills (ts_ns);
    CREATE TABLE positions (
        symbol TEXT NOT NULL,
        opened_ns INTEGER NOT NULL,
        qty TEXT NOT NULL,
        entry_price TEXT,
        adopted INTEGER NOT NULL DEFAULT 0,
        take_profit TEXT,
        stop_loss TEXT,
        exit_order_ids TEXT NOT NULL DEFAULT '',
        armed_ns INTEGER,
        closed_ns INTEGER,
        close_reason TEXT,
        close_price TEXT,
        close_detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (symbol, opened_ns)
    );
    CREATE TABLE events (
        ts_ns INTEGER NOT NULL,
        kind TEXT NOT NULL,
        symbol TEXT NOT NULL,
        level TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (ts_ns, kind, symbol, text)
    );
    """,
    # 2: every arming of exits (history), and each symbol's precision for display.
    """
    CREATE TABLE exits (
        symbol TEXT NOT NULL,
        ts_ns INTEGER NOT NULL,
        qty TEXT NOT NULL,
        take_profit TEXT,
        stop_loss TEXT,
        order_ids TEXT NOT NULL,
        oco INTEGER NOT NULL,
        PRIMARY KEY (symbol, order_ids)
    );
    CREATE TABLE symbols (
        symbol TEXT PRIMARY KEY,
        tick_size TEXT NOT NULL,
        lot_step TEXT NOT NULL
    );
    """,
    # 3: what the venue held at each start-up, and fill rows that are book adjustments of it.
    """
    CREATE TABLE accounts (
        ts_ns INTEGER NOT NULL,
        venue TEXT NOT NULL,
        account TEXT NOT NULL,
        held TEXT NOT NULL,
        PRIMARY KEY (ts_ns, venue, account)
    );
    ALTER TABLE fills ADD COLUMN kind TEXT NOT NULL DEFAULT 'trade';
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

FILL_QUERY = (
    "SELECT f.rowid, f.symbol, f.side, f.qty, f.price, f.ts_ns, f.fee, f.fee_asset, "
    "COALESCE(o.purpose, ''), COALESCE(o.reason, ''), f.client_order_id, f.kind "
    "FROM fills f LEFT JOIN orders o ON o.client_order_id = f.client_order_id "
)
"""Fill rows with the reason of their order (append a WHERE clause); read by ``_fill``."""


PAGE_CACHE_KIB = 256
"""SQLite's page cache per journal connection, in KiB (SQLite's default is 2,000)."""


def open_connection(path: Path, *, migrate: bool = True) -> sqlite3.Connection:
    """Open (creating the folder and file), switch to WAL and bring the schema to the latest version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread off: the journal is opened on the starting thread and then used only by the
    # journal actor, one thread at a time.
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL: a commit survives a killed process (the OS has it); only power loss can lose
    # the newest commits, never corrupt the file.
    conn.execute("PRAGMA synchronous=NORMAL")
    # The journal appends and reads back only recent rows: a small page cache does (the default, 2 MiB
    # per connection, filled with written pages during a busy run and held them for nothing).
    conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
    if migrate:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            conn.close()
            raise RuntimeError(
                f"journal {path} has schema version {version}; this build knows up to {SCHEMA_VERSION}"
            )
        for number in range(version, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    return conn


def _d(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


ORDER_CACHE_SIZE = 4096
"""Orders whose journal state is kept in memory (the most recently first seen); an older order's next
record reads its row. Without a bound the cache grew with every order of the run."""


_SETTLED = frozenset(status.value for status in OrderStatus if status.is_terminal)
"""Order statuses after which the venue reports nothing new: such an order's state leaves the cache at
once (its row is the record; a late or replayed event reads it)."""


def _rows_of_json(columns: int) -> str:
    """A query of the rows in one parameter, a JSON array of arrays, as columns ``c0``... in the
    array's order. One statement text for any number of rows: texts that vary with the row count each
    took a slot of the connection's statement cache, about 14 MiB in a busy run."""
    values = ", ".join(f"json_extract(value, '$[{i}]') AS c{i}" for i in range(columns))
    return f"SELECT {values} FROM json_each(?) ORDER BY key"


_ORDER_STATE_QUERY = (
    "SELECT client_order_id, status, filled_qty, avg_fill_price, fee, venue_order_id, fee_asset, updated_ns "
    "FROM orders WHERE client_order_id IN (SELECT value FROM json_each(?))"
)
"""The states of the orders whose ids are in a JSON array."""
_NEW_ORDERS = (
    "INSERT INTO orders (client_order_id, symbol, side, purpose, order_type, qty, price, stop_price, reason, "
    "created_ns, venue_order_id, status, filled_qty, avg_fill_price, fee, fee_asset, updated_ns) "
    + _rows_of_json(17)
)
_CHANGED_ORDERS = (
    "UPDATE orders SET venue_order_id = v.c1, status = v.c2, filled_qty = v.c3, avg_fill_price = v.c4, "
    f"fee = v.c5, fee_asset = v.c6, updated_ns = v.c7 FROM ({_rows_of_json(8)}) AS v "
    "WHERE orders.client_order_id = v.c0"
)
_POSITIONS_ARMED = (
    "UPDATE positions SET qty = v.c2, take_profit = v.c3, stop_loss = v.c4, exit_order_ids = v.c5, "
    f"armed_ns = v.c6 FROM ({_rows_of_json(7)}) AS v "
    "WHERE positions.symbol = v.c0 AND positions.opened_ns = v.c1"
)
_POSITIONS_CLOSED = (
    "UPDATE positions SET closed_ns = v.c2, close_reason = v.c3, close_price = v.c4, close_detail = v.c5 "
    f"FROM ({_rows_of_json(6)}) AS v WHERE positions.symbol = v.c0 AND positions.opened_ns = v.c1"
)
_POSITIONS_FOUND = (
    f"SELECT symbol, opened_ns FROM positions WHERE (symbol, opened_ns) IN ({_rows_of_json(2)})"
)
_FILL_COLUMNS = (
    "fill_id, client_order_id, venue_order_id, venue_trade_id, symbol, side, qty, price, fee, fee_asset, "
    "ts_ns, kind"
)
_APPENDS: tuple[tuple[str, str], ...] = (
    ("order_states", "INSERT OR IGNORE INTO order_states " + _rows_of_json(5)),
    ("fills", f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}) " + _rows_of_json(12)),
    ("events", "INSERT OR IGNORE INTO events " + _rows_of_json(5)),
    ("exits", "INSERT OR IGNORE INTO exits " + _rows_of_json(7)),
    ("symbols", "INSERT OR REPLACE INTO symbols " + _rows_of_json(3)),
    (
        "positions",
        "INSERT OR IGNORE INTO positions (symbol, opened_ns, qty, entry_price, adopted) " + _rows_of_json(5),
    ),
)
"""Tables a record only adds rows to, and the statement that adds a batch's rows (in the order the records
came, so the first of two rows with one key is kept, as row by row)."""


@dataclass(slots=True)
class _OrderState:
    """An order's columns that records change, as its row holds them (or will, once the batch is written)."""

    status: str
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    fee: Decimal
    venue_order_id: str
    fee_asset: str
    updated_ns: int
    # When the journal counted the order's newest fill (its row's ts_ns), if known: read from the fills
    # only when a replayed fill needs it (``_filled_again``), for an order whose state came from its row.
    counted_ns: int | None = None
    counted_known: bool = True

    @classmethod
    def of_row(cls, row: Sequence[Any]) -> _OrderState:
        """From ``_ORDER_STATE_QUERY``'s columns after the id."""
        return cls(
            row[0], Decimal(row[1]), _dec(row[2]), Decimal(row[3]), row[4], row[5], int(row[6]), None, False
        )

    def columns(self) -> tuple[Any, ...]:
        return (
            self.venue_order_id,
            self.status,
            _d(self.filled_qty),
            _d(self.avg_fill_price),
            _d(self.fee),
            self.fee_asset,
            self.updated_ns,
        )


class SqliteJournal:
    """``JournalWriter`` over SQLite. Not thread-safe: one owner thread (the journal actor's).

    A batch of records costs a handful of statements, not a few per record: Python's ``sqlite3`` lets go
    of the interpreter lock around every statement, and while the trading threads are busy each
    statement then waits up to the interpreter's switch interval (5 ms) to get it back. Row by row, the
    journal wrote about 600 records a second while the strategy fired on every symbol, and its inbox
    grew by 2,300 a second. So records change state kept in memory: the orders the batch names (read in
    one query at its start), the open positions and the last start-up's time (read once, when opened:
    this writer is the journal's only one). Rows wait in ``_rows`` and go out in one statement per
    table when the batch ends. A read that could see rows still waiting (rare: replays, start-up
    reconciliation) writes them first, so every record sees what the records before it wrote.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = open_connection(path)
        self._orders: dict[str, _OrderState] = {}
        # This batch's orders: every order it read or wrote (None: no row); settled ones stay till its end.
        self._batch: dict[str, _OrderState | None] = {}
        # Rows waiting to be written: new orders (their fixed columns and state), orders changed, rows to add.
        self._new_orders: dict[str, tuple[tuple[Any, ...], _OrderState]] = {}
        self._changed_orders: dict[str, _OrderState] = {}
        self._rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table, _ in _APPENDS}
        self._filled_orders: set[str] = set()  # orders with a fill row waiting
        # Positions' changed columns, by (symbol, opened_ns): the newest arming, the closing.
        self._armings: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._closings: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._open: dict[str, int] = {}  # symbol -> its open position's opened_ns
        # Position keys (symbol, opened_ns) this batch may open: is there a row (or one waiting)?
        self._position_rows: dict[tuple[str, int], bool] = {}
        self._startup: int | None = None
        self._load()

    def close(self) -> None:
        self._conn.close()

    def _load(self) -> None:
        """Read what this writer keeps in memory across batches from the file (on open, after a rollback)."""
        self._orders.clear()
        self._batch.clear()
        self._new_orders.clear()
        self._changed_orders.clear()
        for rows in self._rows.values():
            rows.clear()
        self._filled_orders.clear()
        self._armings.clear()
        self._closings.clear()
        self._open = {
            row[0]: int(row[1])
            for row in self._conn.execute(
                "SELECT symbol, opened_ns FROM positions WHERE closed_ns IS NULL ORDER BY opened_ns"
            ).fetchall()
        }
        row = self._conn.execute("SELECT MAX(ts_ns) FROM accounts").fetchone()
        self._startup = None if row is None or row[0] is None else int(row[0])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN")
        try:
            yield self._conn
            self._write_rows(self._conn)
            # Inside: a COMMIT that fails (a full disk or a lock when the WAL is written) may leave the
            # transaction open, and every later BEGIN failed ("within a transaction"): the journal wrote
            # nothing more for the rest of the run, and memory kept the batch's uncommitted changes.
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._load()  # memory may hold rolled-back changes
            raise
        finally:
            self._batch.clear()
            self._position_rows.clear()

    def write(self, records: Sequence[JournalRecord]) -> None:
        with self._transaction() as conn:
            self._read_orders(conn, records)
            self._read_positions(conn, records)
            for record in records:
                self._apply(conn, record)

    # -- batching --------------------------------------------------------------------------------------

    def _read_orders(self, conn: sqlite3.Connection, records: Sequence[JournalRecord]) -> None:
        """Read the state of every order ``records`` name that memory does not hold, in one query."""
        wanted = {
            coid
            for record in records
            if (coid := _order_id(record)) and coid not in self._orders and coid not in self._batch
        }
        if not wanted:
            return
        ids = sorted(wanted)
        for row in conn.execute(_ORDER_STATE_QUERY, (json.dumps(ids),)).fetchall():
            self._batch[row[0]] = _OrderState.of_row(row[1:])
        for coid in ids:
            self._batch.setdefault(coid, None)

    def _read_positions(self, conn: sqlite3.Connection, records: Sequence[JournalRecord]) -> None:
        """Read which of the positions ``records`` may open have a row already, in one query."""
        keys = sorted(
            {
                (record.symbol, record.ts_init)
                for record in records
                if isinstance(record, PositionOpened | ExitsArmed) and record.symbol not in self._open
            }
        )
        if keys:
            found = set(conn.execute(_POSITIONS_FOUND, (json.dumps(keys),)).fetchall())
            for key in keys:
                self._position_rows[key] = key in found

    def _write_rows(self, conn: sqlite3.Connection) -> None:
        """Write every row waiting: a few multi-row statements, whatever the number of records."""
        if self._new_orders:
            rows = [fixed + state.columns() for fixed, state in self._new_orders.values()]
            _write(conn, _NEW_ORDERS, rows)
            self._new_orders.clear()
        if self._changed_orders:
            rows = [(coid, *state.columns()) for coid, state in self._changed_orders.items()]
            _write(conn, _CHANGED_ORDERS, rows)
            self._changed_orders.clear()
        for table, statement in _APPENDS:
            rows = self._rows[table]
            if rows:
                _write(conn, statement, rows)
                rows.clear()
        self._filled_orders.clear()
        for statement, changes in ((_POSITIONS_ARMED, self._armings), (_POSITIONS_CLOSED, self._closings)):
            if changes:
                _write(conn, statement, [key + columns for key, columns in changes.items()])
                changes.clear()

    # -- records ---------------------------------------------------------------------------------------

    def _apply(self, conn: sqlite3.Connection, record: JournalRecord | SymbolRules) -> None:
        if isinstance(record, OrderObserved):
            self._observed(conn, record)
        elif isinstance(record, OrderUpdate):
            self._event(conn, record)
        elif isinstance(record, OrderIntent):
            self._intent(conn, record)
        elif isinstance(record, OrderNoted):
            self._ended(conn, record)
        elif isinstance(record, Event):
            self._rows["events"].append((record.ts_ns, record.kind, record.symbol, record.level, record.text))
        elif isinstance(record, PositionOpened):
            self._opened(conn, record)
        elif isinstance(record, ExitsArmed):
            self._armed(conn, record)
        elif isinstance(record, PositionClosed):
            self._closed(record)
        elif isinstance(record, AccountSnapshot):
            self._account(conn, record)
        elif isinstance(record, BookAdjustment):
            self._insert_fill(
                coid="",
                venue_order_id="",
                trade_id="",
                symbol=record.symbol,
                side=(Side.SELL if record.kind is FillKind.RECONCILED else Side.BUY).value,
                qty=record.qty,
                price=record.price,
                fee=Decimal(0),
                fee_asset="",
                cum_qty=record.qty,
                ts_ns=record.ts_init,
                kind=record.kind,
            )
        elif isinstance(record, SymbolRules):
            self._rows["symbols"].append((record.symbol, _d(record.tick_size), _d(record.lot_step)))

    def _order(self, conn: sqlite3.Connection, client_order_id: str) -> _OrderState | None:
        """The order's state, held in ``_batch`` until the batch's rows are written (the cache may let
        it go before then, and its row is not yet up to date)."""
        if client_order_id in self._batch:
            return self._batch[client_order_id]
        state = self._orders.get(client_order_id)
        if state is None:
            # Not named by the batch's records (one made by a reconciliation): read its row.
            row = conn.execute(_ORDER_STATE_QUERY, (json.dumps([client_order_id]),)).fetchone()
            state = None if row is None else _OrderState.of_row(row[1:])
            if state is not None and state.status not in _SETTLED:
                self._remember(client_order_id, state)
        self._batch[client_order_id] = state
        return state

    def _remember(self, client_order_id: str, state: _OrderState) -> None:
        """Cache ``state``; beyond ``ORDER_CACHE_SIZE`` the order cached first is let go (its row stays
        the record, and an order the batch changed stays in ``_batch`` until its row is written)."""
        self._orders[client_order_id] = state
        if len(self._orders) > ORDER_CACHE_SIZE:
            del self._orders[next(iter(self._orders))]

    def _changed(self, client_order_id: str, state: _OrderState) -> None:
        """``state`` changed: its row is to be written; a settled order's state leaves the cache."""
        if client_order_id not in self._new_orders:
            self._changed_orders[client_order_id] = state
        if state.status in _SETTLED:
            self._orders.pop(client_order_id, None)
        elif client_order_id not in self._orders:
            self._remember(client_order_id, state)

    def _new_order(self, client_order_id: str, fixed: tuple[Any, ...], state: _OrderState) -> None:
        """A row for an order the journal has not seen: ``fixed`` are its columns no record changes."""
        self._new_orders[client_order_id] = (fixed, state)
        self._batch[client_order_id] = state
        self._remember(client_order_id, state)

    def _state_change(self, coid: str, status: str, filled: Decimal, ts_ns: int, detail: str = "") -> None:
        self._rows["order_states"].append((coid, status, _d(filled), ts_ns, detail))

    def _intent(self, conn: sqlite3.Connection, intent: OrderIntent) -> None:
        if self._order(conn, intent.client_order_id) is not None:
            return
        self._new_order(
            intent.client_order_id,
            (
                intent.client_order_id,
                intent.symbol,
                intent.side.value,
                intent.purpose.value,
                intent.order_type.value,
                _d(intent.qty),
                _d(intent.price),
                _d(intent.stop_price),
                intent.reason,
                intent.ts_init,
            ),
            _OrderState("pending", Decimal(0), None, Decimal(0), "", "", intent.ts_init),
        )
        self._state_change(intent.client_order_id, "pending", Decimal(0), intent.ts_init)

    def _observed(self, conn: sqlite3.Connection, record: OrderObserved) -> None:
        order, ts_ns = record.order, record.ts_init
        state = self._order(conn, order.client_order_id)
        if state is None:
            # Seen without an intent (placed before this journal existed, or adopted): record it now.
            state = _OrderState("pending", Decimal(0), None, Decimal(0), order.venue_order_id, "", ts_ns)
            self._new_order(
                order.client_order_id,
                (
                    order.client_order_id,
                    order.symbol,
                    order.side.value,
                    (OrderPurpose.ENTRY if order.side is Side.BUY else OrderPurpose.CLOSE).value,
                    order.order_type.value,
                    _d(order.qty),
                    _d(order.price),
                    _d(order.stop_price),
                    "",
                    ts_ns,
                ),
                state,
            )
        delta = fill_delta(
            prev_qty=state.filled_qty,
            prev_avg_price=state.avg_fill_price,
            prev_fee=state.fee,
            cum_qty=order.filled_qty,
            avg_price=order.avg_fill_price,
            limit_price=order.price,
            cum_fee=order.fee,
        )
        if delta is not None:
            self._insert_fill(
                coid=order.client_order_id,
                venue_order_id=order.venue_order_id,
                trade_id="",
                symbol=order.symbol,
                side=order.side.value,
                qty=delta.qty,
                price=delta.price,
                fee=delta.fee,
                fee_asset=order.fee_asset,
                cum_qty=delta.cum_qty,
                ts_ns=ts_ns,
                kind=self._execution_kind(conn, order.symbol, order.side, order.ts_event),
            )
            state.filled_qty, state.avg_fill_price, state.fee = (
                order.filled_qty,
                order.avg_fill_price or order.price,
                order.fee,
            )
        status = order.status.value
        if delta is None and status == state.status:
            return
        state.status, state.venue_order_id, state.fee_asset, state.updated_ns = (
            status,
            order.venue_order_id,
            order.fee_asset,
            ts_ns,
        )
        self._changed(order.client_order_id, state)
        self._state_change(order.client_order_id, status, state.filled_qty, ts_ns)

    def _event(self, conn: sqlite3.Connection, update: OrderUpdate) -> None:
        """An order event from the venue's private stream: its state, and its fill keyed by the venue's
        trade id. The order's cumulative quantity decides what is new, so an event replayed, or a fill
        already seen in a REST snapshot, adds nothing."""
        state = self._order(conn, update.client_order_id)
        if state is None:
            # The fills are counted below, event by event.
            self._observed(
                conn, OrderObserved(order=update.snapshot(with_fills=False), ts_init=update.ts_init)
            )
            state = self._order(conn, update.client_order_id)
            assert state is not None
        delta = update.cum_filled_qty - state.filled_qty
        if update.kind.is_fill and delta > 0:
            # The event's own fill when it is all that is new; else what makes the averages agree, and
            # the missed fills' fees at this event's rate (as the executor counts them): counted as
            # nothing, a fee in the base asset left more held on the books than the venue holds.
            fee = update.fee_of(delta)
            implied = fill_delta(
                prev_qty=state.filled_qty,
                prev_avg_price=state.avg_fill_price,
                prev_fee=state.fee,
                cum_qty=update.cum_filled_qty,
                avg_price=update.avg_fill_price or update.last_price,
                limit_price=update.price,
                cum_fee=state.fee + fee,
            )
            assert implied is not None
            price = update.last_price if delta == update.last_qty and update.last_price > 0 else implied.price
            kind = self._execution_kind(conn, update.symbol, update.side, update.ts_event)
            self._insert_event_fill(update, qty=delta, price=price, fee=fee, kind=kind)
            prev_value = (state.avg_fill_price or Decimal(0)) * state.filled_qty
            state.avg_fill_price = (prev_value + delta * price) / update.cum_filled_qty
            state.filled_qty, state.fee = update.cum_filled_qty, state.fee + fee
        elif update.kind.is_fill and update.last_qty > 0:
            self._filled_again(conn, update, state)
        status = update.kind.order_status.value
        if delta <= 0 and status == state.status:
            return
        state.status, state.venue_order_id, state.updated_ns = status, update.venue_order_id, update.ts_init
        if update.fee_asset:
            state.fee_asset = update.fee_asset
        self._changed(update.client_order_id, state)
        self._state_change(update.client_order_id, status, state.filled_qty, update.ts_init, update.reason)

    def _execution_kind(
        self, conn: sqlite3.Connection, symbol: str, side: Side, venue_ts_ns: int
    ) -> FillKind:
        """A new fill is a trade, or one the last start-up reconciliation already counted: made before
        it, and of the kind that reconciliation adjusted (a buy in what it adopted, a sale in what it
        wrote off)."""
        startup_ns = self._startup
        if startup_ns is None or not made_before_startup(venue_ts_ns=venue_ts_ns, startup_ns=startup_ns):
            return FillKind.TRADE
        adjusted = FillKind.ADOPTED if side is Side.BUY else FillKind.RECONCILED
        return FillKind.EXPLAINED if self._adjusted(conn, adjusted, symbol, startup_ns) else FillKind.TRADE

    def _filled_again(self, conn: sqlite3.Connection, update: OrderUpdate, state: _OrderState) -> None:
        """A fill event that brings nothing new to the order's count: a replay, unless the venue lost
        the fill the journal counted and made it again after the last start-up."""
        startup_ns = self._startup
        if startup_ns is None or update.ts_event <= startup_ns:
            return  # only a fill made after the last start-up can be one made again
        if not state.counted_known:
            if update.client_order_id in self._filled_orders:
                self._write_rows(conn)  # a fill row of the order is still waiting
            row = conn.execute(
                "SELECT MAX(ts_ns) FROM fills WHERE client_order_id = ?", (update.client_order_id,)
            ).fetchone()
            state.counted_ns = None if row is None or row[0] is None else int(row[0])
            state.counted_known = True
        counted_ns = state.counted_ns
        if not lost_by_the_venue(venue_ts_ns=update.ts_event, startup_ns=startup_ns, counted_ns=counted_ns):
            return
        # The start-up took the first off the books: a buy's holding written off, a sale's adopted back.
        taken_off = FillKind.RECONCILED if update.side is Side.BUY else FillKind.ADOPTED
        if not self._adjusted(conn, taken_off, update.symbol, startup_ns):
            return
        self._insert_event_fill(
            update,
            qty=update.last_qty,
            price=update.last_price,
            fee=update.fee,
            again_after_ns=startup_ns,
        )

    def _adjusted(self, conn: sqlite3.Connection, kind: FillKind, symbol: str, startup_ns: int) -> bool:
        """Did the start-up reconciliation at ``startup_ns`` adjust ``symbol``'s books that way?"""
        self._write_rows(conn)
        key = _adjustment_key(kind, symbol, startup_ns)
        return conn.execute("SELECT 1 FROM fills WHERE fill_id = ?", (key,)).fetchone() is not None

    def _insert_event_fill(
        self,
        update: OrderUpdate,
        *,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        kind: FillKind = FillKind.TRADE,
        again_after_ns: int | None = None,
    ) -> None:
        self._insert_fill(
            coid=update.client_order_id,
            venue_order_id=update.venue_order_id,
            trade_id=update.trade_id or "",
            symbol=update.symbol,
            side=update.side.value,
            qty=qty,
            price=price,
            fee=fee,
            fee_asset=update.fee_asset,
            cum_qty=update.cum_filled_qty,
            ts_ns=update.ts_init,
            kind=kind,
            again_after_ns=again_after_ns,
        )

    def _insert_fill(
        self,
        *,
        coid: str,
        venue_order_id: str,
        trade_id: str,
        symbol: str,
        side: str,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_asset: str,
        cum_qty: Decimal,
        ts_ns: int,
        kind: FillKind = FillKind.TRADE,
        again_after_ns: int | None = None,
    ) -> None:
        """``again_after_ns``: the start-up after which the venue made this fill again (it lost the
        first, which the journal had counted): keyed apart from the first."""
        key = (
            fill_key(coid, cum_qty, trade_id) if kind in _EXECUTIONS else _adjustment_key(kind, symbol, ts_ns)
        )
        if again_after_ns is not None:
            key += f"@{again_after_ns}"
        self._rows["fills"].append(
            (
                key,
                coid,
                venue_order_id,
                trade_id,
                symbol,
                side,
                _d(qty),
                _d(price),
                _d(fee),
                fee_asset,
                ts_ns,
                kind.value,
            )
        )
        self._filled_orders.add(coid)
        state = self._batch.get(coid)
        if state is not None and state.counted_known:
            state.counted_ns = ts_ns if state.counted_ns is None else max(state.counted_ns, ts_ns)

    def _account(self, conn: sqlite3.Connection, snapshot: AccountSnapshot) -> None:
        """Record what the venue holds and bring the books and open positions to agree with it."""
        self._write_rows(conn)  # the books below are read from the rows
        previous = conn.execute("SELECT venue, account FROM accounts ORDER BY ts_ns DESC LIMIT 1").fetchone()
        held = json.dumps({symbol: _d(qty) for symbol, qty in sorted(snapshot.held)})
        inserted = conn.execute(
            "INSERT OR IGNORE INTO accounts VALUES (?, ?, ?, ?)",
            (snapshot.ts_init, snapshot.venue, snapshot.account, held),
        ).rowcount
        if not inserted:
            return  # a replayed snapshot: reconciled when first written
        self._startup = snapshot.ts_init if self._startup is None else max(self._startup, snapshot.ts_init)
        book = PnlBook()
        rows = conn.execute(FILL_QUERY + "WHERE f.ts_ns <= ? ORDER BY f.ts_ns, f.rowid", (snapshot.ts_init,))
        for row in rows.fetchall():
            book.add(_fill(row))
        open_positions = {
            row[0]: Decimal(row[1])
            for row in conn.execute(
                "SELECT symbol, qty FROM positions WHERE closed_ns IS NULL ORDER BY opened_ns"
            ).fetchall()
        }
        dust = {row[0]: Decimal(row[1]) for row in conn.execute("SELECT symbol, lot_step FROM symbols")}
        for record in reconcile_account(
            snapshot=snapshot,
            books=book.holdings(),
            open_positions=open_positions,
            previous_account=None if previous is None else (previous[0], previous[1]),
            dust=dust,
        ):
            self._apply(conn, record)

    def _ended(self, conn: sqlite3.Connection, record: OrderNoted) -> None:
        state = self._order(conn, record.client_order_id)
        if state is None or state.status == record.status:
            return
        state.status, state.updated_ns = record.status, record.ts_init
        self._changed(record.client_order_id, state)
        self._state_change(
            record.client_order_id, record.status, state.filled_qty, record.ts_init, record.detail
        )

    def _opened(self, conn: sqlite3.Connection, record: PositionOpened) -> None:
        if record.symbol in self._open:
            return
        key = (record.symbol, record.ts_init)
        if key not in self._position_rows:  # not foreseen by the batch (a reconciliation's): read it
            row = conn.execute("SELECT 1 FROM positions WHERE symbol = ? AND opened_ns = ?", key).fetchone()
            self._position_rows[key] = row is not None
        if self._position_rows[key]:
            return  # a closed position has this key (a replay): still none open
        self._rows["positions"].append(
            (record.symbol, record.ts_init, _d(record.qty), _d(record.entry_price), int(record.adopted))
        )
        self._position_rows[key] = True
        self._open[record.symbol] = record.ts_init

    def _armed(self, conn: sqlite3.Connection, record: ExitsArmed) -> None:
        order_ids = ",".join(record.client_order_ids)
        self._rows["exits"].append(
            (
                record.symbol,
                record.ts_init,
                _d(record.qty),
                _d(record.take_profit),
                _d(record.stop_loss),
                order_ids,
                int(record.oco),
            )
        )
        if record.symbol not in self._open:
            self._opened(conn, PositionOpened(symbol=record.symbol, qty=record.qty, ts_init=record.ts_init))
        opened = self._open.get(record.symbol, record.ts_init)
        self._armings[record.symbol, opened] = (
            _d(record.qty),
            _d(record.take_profit),
            _d(record.stop_loss),
            order_ids,
            record.ts_init,
        )

    def _closed(self, record: PositionClosed) -> None:
        opened = self._open.pop(record.symbol, None)
        if opened is None:
            return  # already closed (a replayed record), or never seen open
        self._closings[record.symbol, opened] = (
            record.ts_init,
            record.reason.value,
            _d(record.price),
            record.detail,
        )


def _write(conn: sqlite3.Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """Run a statement over ``_rows_of_json`` with ``rows``."""
    conn.execute(statement, (json.dumps(rows),))


def _order_id(record: JournalRecord) -> str:
    """The order a record is about ('' for none)."""
    if isinstance(record, OrderObserved):
        return record.order.client_order_id
    if isinstance(record, OrderUpdate | OrderIntent | OrderNoted):
        return record.client_order_id
    return ""


@dataclass(frozen=True)
class OrderRow:
    client_order_id: str
    symbol: str
    side: str
    purpose: str
    qty: Decimal
    price: Decimal
    status: str
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    reason: str
    venue_order_id: str
    created_ns: int
    updated_ns: int


@dataclass(frozen=True)
class PositionRow:
    symbol: str
    opened_ns: int
    qty: Decimal
    entry_price: Decimal | None
    adopted: bool
    take_profit: Decimal | None
    stop_loss: Decimal | None
    exit_order_ids: tuple[str, ...]
    closed_ns: int | None
    close_reason: str | None
    close_price: Decimal | None


class JournalReader:
    """Read-only queries; one short-lived connection per call, usable from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():
            raise FileNotFoundError(f"no journal at {self.path}")
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version != SCHEMA_VERSION:
                raise RuntimeError(
                    f"journal {self.path} has schema version {version}, expected {SCHEMA_VERSION}: "
                    "open it once with this version (autohedge run or backtest) to migrate it"
                )
            yield conn
        finally:
            conn.close()

    def fills(self, since_ns: int = 0) -> list[Fill]:
        """Every fill since ``since_ns``, oldest first, with the reason of its order."""
        return list(self.each_fill(since_ns))

    def each_fill(self, since_ns: int = 0) -> Iterator[Fill]:
        """``fills``, read as the caller goes: a long run's rows and fills are never all in memory at
        once (the run summary at shutdown adds up every fill of the run)."""
        with self._connect() as conn:
            for row in conn.execute(FILL_QUERY + "WHERE f.ts_ns >= ? ORDER BY f.ts_ns, f.rowid", (since_ns,)):
                yield _fill(row)

    def fills_after(self, rowid: int) -> tuple[list[Fill], int]:
        """The fills written after row ``rowid``, in the order written, and the newest row id (for the
        next call): lets a reader add only what is new."""
        with self._connect() as conn:
            rows = conn.execute(FILL_QUERY + "WHERE f.rowid > ? ORDER BY f.rowid", (rowid,)).fetchall()
        return [_fill(row) for row in rows], (rows[-1][0] if rows else rowid)

    def symbol_steps(self) -> dict[str, tuple[Decimal, Decimal]]:
        """symbol -> (tick size, lot step) for every symbol the journal has seen rules for."""
        with self._connect() as conn:
            rows = conn.execute("SELECT symbol, tick_size, lot_step FROM symbols").fetchall()
        return {row[0]: (Decimal(row[1]), Decimal(row[2])) for row in rows}

    def positions(self, *, open_only: bool = False, limit: int = 1000) -> list[PositionRow]:
        where = "WHERE closed_ns IS NULL" if open_only else ""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT symbol, opened_ns, qty, entry_price, adopted, take_profit, stop_loss, "
                f"exit_order_ids, closed_ns, close_reason, close_price FROM positions {where} "
                "ORDER BY opened_ns DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            PositionRow(
                symbol=row[0],
                opened_ns=row[1],
                qty=Decimal(row[2]),
                entry_price=_dec(row[3]),
                adopted=bool(row[4]),
                take_profit=_dec(row[5]),
                stop_loss=_dec(row[6]),
                exit_order_ids=tuple(i for i in row[7].split(",") if i),
                closed_ns=row[8],
                close_reason=row[9],
                close_price=_dec(row[10]),
            )
            for row in rows
        ]

    def orders(self, limit: int = 100) -> list[OrderRow]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT client_order_id, symbol, side, purpose, qty, price, status, filled_qty, "
                "avg_fill_price, reason, venue_order_id, created_ns, updated_ns FROM orders "
                "ORDER BY created_ns DESC, client_order_id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            OrderRow(
                client_order_id=row[0],
                symbol=row[1],
                side=row[2],
                purpose=row[3],
                qty=Decimal(row[4]),
                price=Decimal(row[5]),
                status=row[6],
                filled_qty=Decimal(row[7]),
                avg_fill_price=_dec(row[8]),
                reason=row[9],
                venue_order_id=row[10],
                created_ns=row[11],
                updated_ns=row[12],
            )
            for row in rows
        ]

    def last_ts_ns(self) -> int | None:
        """The newest time recorded (an event, a fill or an order change): where the journal ends."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT MAX(ts) FROM (SELECT MAX(ts_ns) AS ts FROM events UNION ALL "
                "SELECT MAX(ts_ns) FROM fills UNION ALL SELECT MAX(updated_ns) FROM orders)"
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def count(self, table: str) -> int:
        if table not in (
            "orders",
            "order_states",
            "fills",
            "positions",
            "events",
            "exits",
            "symbols",
            "accounts",
        ):
            raise ValueError(f"no journal table {table!r}")
        with self._connect() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _adjustment_key(kind: FillKind, symbol: str, ts_ns: int) -> str:
    """The fill row key of a start-up reconciliation's adjustment of ``symbol`` (at its snapshot's time)."""
    return f"{kind}:{symbol}:{ts_ns}"


_EXECUTIONS = (FillKind.TRADE, FillKind.EXPLAINED)
"""Fill rows of the venue's executions (keyed by trade id or cumulative quantity, with a reason)."""


def _fill(row: tuple[Any, ...]) -> Fill:
    kind = FillKind(row[11])
    return Fill(
        symbol=row[1],
        side=Side(row[2]),
        qty=Decimal(row[3]),
        price=Decimal(row[4]),
        ts_ns=row[5],
        fee=Decimal(row[6]),
        fee_asset=row[7],
        reason=_fill_reason(row[8], row[9]) if kind in _EXECUTIONS else kind.value,
        client_order_id=row[10],
        kind=kind,
    )


def _fill_reason(purpose: str, reason: str) -> str:
    """Why a fill happened: a close order says why it closed; other orders say what they were."""
    if purpose == OrderPurpose.CLOSE.value and reason:
        return reason
    return purpose or "unknown"
