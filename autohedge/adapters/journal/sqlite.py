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


@dataclass(slots=True)
class _OrderState:
    symbol: str
    side: str
    status: str
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    fee: Decimal


class SqliteJournal:
    """``JournalWriter`` over SQLite. Not thread-safe: one owner thread (the journal actor's)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = open_connection(path)
        self._orders: dict[str, _OrderState] = {}

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._orders.clear()  # the cache may hold rolled-back changes
            raise
        self._conn.execute("COMMIT")

    def write(self, records: Sequence[JournalRecord]) -> None:
        with self._transaction() as conn:
            for record in records:
                self._apply(conn, record)

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
            conn.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)",
                (record.ts_ns, record.kind, record.symbol, record.level, record.text),
            )
        elif isinstance(record, PositionOpened):
            self._opened(conn, record)
        elif isinstance(record, ExitsArmed):
            self._armed(conn, record)
        elif isinstance(record, PositionClosed):
            self._closed(conn, record)
        elif isinstance(record, AccountSnapshot):
            self._account(conn, record)
        elif isinstance(record, BookAdjustment):
            self._insert_fill(
                conn,
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
            conn.execute(
                "INSERT OR REPLACE INTO symbols VALUES (?, ?, ?)",
                (record.symbol, _d(record.tick_size), _d(record.lot_step)),
            )

    def _order(self, conn: sqlite3.Connection, client_order_id: str) -> _OrderState | None:
        state = self._orders.get(client_order_id)
        if state is None:
            row = conn.execute(
                "SELECT symbol, side, status, filled_qty, avg_fill_price, fee FROM orders "
                "WHERE client_order_id = ?",
                (client_order_id,),
            ).fetchone()
            if row is None:
                return None
            state = _OrderState(row[0], row[1], row[2], Decimal(row[3]), _dec(row[4]), Decimal(row[5]))
            if state.status not in _SETTLED:
                self._remember(client_order_id, state)
        return state

    def _remember(self, client_order_id: str, state: _OrderState) -> None:
        """Cache ``state``; beyond ``ORDER_CACHE_SIZE`` the order cached first is let go (its row stays
        the record: the same connection reads its own uncommitted writes)."""
        self._orders[client_order_id] = state
        if len(self._orders) > ORDER_CACHE_SIZE:
            del self._orders[next(iter(self._orders))]

    def _status_written(self, client_order_id: str, state: _OrderState) -> None:
        """``state``'s status is now in its row: a settled order's state leaves the cache."""
        if state.status in _SETTLED:
            self._orders.pop(client_order_id, None)

    def _state_change(
        self, conn: sqlite3.Connection, coid: str, status: str, filled: Decimal, ts_ns: int, detail: str = ""
    ) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO order_states VALUES (?, ?, ?, ?, ?)",
            (coid, status, _d(filled), ts_ns, detail),
        )

    def _intent(self, conn: sqlite3.Connection, intent: OrderIntent) -> None:
        if self._order(conn, intent.client_order_id) is not None:
            return
        conn.execute(
            "INSERT INTO orders (client_order_id, symbol, side, purpose, order_type, qty, price, "
            "stop_price, reason, status, created_ns, updated_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                "pending",
                intent.ts_init,
                intent.ts_init,
            ),
        )
        self._remember(
            intent.client_order_id,
            _OrderState(intent.symbol, intent.side.value, "pending", Decimal(0), None, Decimal(0)),
        )
        self._state_change(conn, intent.client_order_id, "pending", Decimal(0), intent.ts_init)

    def _observed(self, conn: sqlite3.Connection, record: OrderObserved) -> None:
        order, ts_ns = record.order, record.ts_init
        state = self._order(conn, order.client_order_id)
        if state is None:
            # Seen without an intent (placed before this journal existed, or adopted): record it now.
            conn.execute(
                "INSERT INTO orders (client_order_id, symbol, side, purpose, order_type, qty, price, "
                "stop_price, venue_order_id, status, created_ns, updated_ns) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order.client_order_id,
                    order.symbol,
                    order.side.value,
                    (OrderPurpose.ENTRY if order.side is Side.BUY else OrderPurpose.CLOSE).value,
                    order.order_type.value,
                    _d(order.qty),
                    _d(order.price),
                    _d(order.stop_price),
                    order.venue_order_id,
                    "pending",
                    ts_ns,
                    ts_ns,
                ),
            )
            state = _OrderState(order.symbol, order.side.value, "pending", Decimal(0), None, Decimal(0))
            self._remember(order.client_order_id, state)
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
                conn,
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
        state.status = status
        conn.execute(
            "UPDATE orders SET venue_order_id = ?, status = ?, filled_qty = ?, avg_fill_price = ?, fee = ?, "
            "fee_asset = ?, updated_ns = ? WHERE client_order_id = ?",
            (
                order.venue_order_id,
                status,
                _d(state.filled_qty),
                _d(state.avg_fill_price),
                _d(state.fee),
                order.fee_asset,
                ts_ns,
                order.client_order_id,
            ),
        )
        self._state_change(conn, order.client_order_id, status, state.filled_qty, ts_ns)
        self._status_written(order.client_order_id, state)

    def _event(self, conn: sqlite3.Connection, update: OrderUpdate) -> None:
        """An order event from the venue's private stream: its state, and its fill keyed by the venue's
        trade id. The order's cumulative quantity decides what is new, so an event replayed, or a fill
        already seen in a REST snapshot, adds nothing."""
        snapshot = update.snapshot(with_fills=False)  # the fills are counted below, event by event
        state = self._order(conn, update.client_order_id)
        if state is None:
            self._observed(conn, OrderObserved(order=snapshot, ts_init=update.ts_init))
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
            self._insert_event_fill(conn, update, qty=delta, price=price, fee=fee, kind=kind)
            prev_value = (state.avg_fill_price or Decimal(0)) * state.filled_qty
            state.avg_fill_price = (prev_value + delta * price) / update.cum_filled_qty
            state.filled_qty, state.fee = update.cum_filled_qty, state.fee + fee
        elif update.kind.is_fill and update.last_qty > 0:
            self._filled_again(conn, update)
        status = snapshot.status.value
        if delta <= 0 and status == state.status:
            return
        state.status = status
        conn.execute(
            "UPDATE orders SET venue_order_id = ?, status = ?, filled_qty = ?, avg_fill_price = ?, "
            "fee = ?, fee_asset = CASE WHEN ? = '' THEN fee_asset ELSE ? END, updated_ns = ? "
            "WHERE client_order_id = ?",
            (
                update.venue_order_id,
                status,
                _d(state.filled_qty),
                _d(state.avg_fill_price),
                _d(state.fee),
                update.fee_asset,
                update.fee_asset,
                update.ts_init,
                update.client_order_id,
            ),
        )
        self._state_change(
            conn, update.client_order_id, status, state.filled_qty, update.ts_init, update.reason
        )
        self._status_written(update.client_order_id, state)

    @staticmethod
    def _startup_ns(conn: sqlite3.Connection) -> int | None:
        """When the last start-up reconciled the books with the venue (its account snapshot)."""
        row = conn.execute("SELECT MAX(ts_ns) FROM accounts").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _execution_kind(
        self, conn: sqlite3.Connection, symbol: str, side: Side, venue_ts_ns: int
    ) -> FillKind:
        """A new fill is a trade, or one the last start-up reconciliation already counted: made before
        it, and of the kind that reconciliation adjusted (a buy in what it adopted, a sale in what it
        wrote off)."""
        startup_ns = self._startup_ns(conn)
        if startup_ns is None or not made_before_startup(venue_ts_ns=venue_ts_ns, startup_ns=startup_ns):
            return FillKind.TRADE
        adjusted = FillKind.ADOPTED if side is Side.BUY else FillKind.RECONCILED
        return FillKind.EXPLAINED if _adjusted(conn, adjusted, symbol, startup_ns) else FillKind.TRADE

    def _filled_again(self, conn: sqlite3.Connection, update: OrderUpdate) -> None:
        """A fill event that brings nothing new to the order's count: a replay, unless the venue lost
        the fill the journal counted and made it again after the last start-up."""
        startup_ns = self._startup_ns(conn)
        row = conn.execute(
            "SELECT MAX(ts_ns) FROM fills WHERE client_order_id = ?", (update.client_order_id,)
        ).fetchone()
        counted_ns = None if row is None or row[0] is None else int(row[0])
        if not lost_by_the_venue(venue_ts_ns=update.ts_event, startup_ns=startup_ns, counted_ns=counted_ns):
            return
        # The start-up took the first off the books: a buy's holding written off, a sale's adopted back.
        taken_off = FillKind.RECONCILED if update.side is Side.BUY else FillKind.ADOPTED
        if startup_ns is None or not _adjusted(conn, taken_off, update.symbol, startup_ns):
            return
        self._insert_event_fill(
            conn,
            update,
            qty=update.last_qty,
            price=update.last_price,
            fee=update.fee,
            again_after_ns=startup_ns,
        )

    def _insert_event_fill(
        self,
        conn: sqlite3.Connection,
        update: OrderUpdate,
        *,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        kind: FillKind = FillKind.TRADE,
        again_after_ns: int | None = None,
    ) -> None:
        self._insert_fill(
            conn,
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
        conn: sqlite3.Connection,
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
        conn.execute(
            "INSERT OR IGNORE INTO fills (fill_id, client_order_id, venue_order_id, venue_trade_id, symbol, "
            "side, qty, price, fee, fee_asset, ts_ns, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )

    def _account(self, conn: sqlite3.Connection, snapshot: AccountSnapshot) -> None:
        """Record what the venue holds and bring the books and open positions to agree with it."""
        previous = conn.execute("SELECT venue, account FROM accounts ORDER BY ts_ns DESC LIMIT 1").fetchone()
        held = json.dumps({symbol: _d(qty) for symbol, qty in sorted(snapshot.held)})
        inserted = conn.execute(
            "INSERT OR IGNORE INTO accounts VALUES (?, ?, ?, ?)",
            (snapshot.ts_init, snapshot.venue, snapshot.account, held),
        ).rowcount
        if not inserted:
            return  # a replayed snapshot: reconciled when first written
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
        state.status = record.status
        conn.execute(
            "UPDATE orders SET status = ?, updated_ns = ? WHERE client_order_id = ?",
            (record.status, record.ts_init, record.client_order_id),
        )
        self._state_change(
            conn, record.client_order_id, record.status, state.filled_qty, record.ts_init, record.detail
        )
        self._status_written(record.client_order_id, state)

    def _open_position(self, conn: sqlite3.Connection, symbol: str) -> int | None:
        row = conn.execute(
            "SELECT opened_ns FROM positions WHERE symbol = ? AND closed_ns IS NULL "
            "ORDER BY opened_ns DESC LIMIT 1",
            (symbol,),
        ).fetchone()
        return None if row is None else int(row[0])

    def _opened(self, conn: sqlite3.Connection, record: PositionOpened) -> None:
        if self._open_position(conn, record.symbol) is not None:
            return
        conn.execute(
            "INSERT OR IGNORE INTO positions (symbol, opened_ns, qty, entry_price, adopted) "
            "VALUES (?, ?, ?, ?, ?)",
            (record.symbol, record.ts_init, _d(record.qty), _d(record.entry_price), int(record.adopted)),
        )

    def _armed(self, conn: sqlite3.Connection, record: ExitsArmed) -> None:
        order_ids = ",".join(record.client_order_ids)
        conn.execute(
            "INSERT OR IGNORE INTO exits VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.symbol,
                record.ts_init,
                _d(record.qty),
                _d(record.take_profit),
                _d(record.stop_loss),
                order_ids,
                int(record.oco),
            ),
        )
        opened = self._open_position(conn, record.symbol)
        if opened is None:
            self._opened(conn, PositionOpened(symbol=record.symbol, qty=record.qty, ts_init=record.ts_init))
            opened = record.ts_init
        conn.execute(
            "UPDATE positions SET qty = ?, take_profit = ?, stop_loss = ?, exit_order_ids = ?, armed_ns = ? "
            "WHERE symbol = ? AND opened_ns = ?",
            (
                _d(record.qty),
                _d(record.take_profit),
                _d(record.stop_loss),
                order_ids,
                record.ts_init,
                record.symbol,
                opened,
            ),
        )

    def _closed(self, conn: sqlite3.Connection, record: PositionClosed) -> None:
        opened = self._open_position(conn, record.symbol)
        if opened is None:
            return  # already closed (a replayed record), or never seen open
        conn.execute(
            "UPDATE positions SET closed_ns = ?, close_reason = ?, close_price = ?, close_detail = ? "
            "WHERE symbol = ? AND opened_ns = ?",
            (
                record.ts_init,
                record.reason.value,
                _d(record.price),
                record.detail,
                record.symbol,
                opened,
            ),
        )


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
        with self._connect() as conn:
            rows = conn.execute(
                FILL_QUERY + "WHERE f.ts_ns >= ? ORDER BY f.ts_ns, f.rowid", (since_ns,)
            ).fetchall()
        return [_fill(row) for row in rows]

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


def _adjusted(conn: sqlite3.Connection, kind: FillKind, symbol: str, startup_ns: int) -> bool:
    """Did the start-up reconciliation at ``startup_ns`` adjust ``symbol``'s books that way?"""
    key = _adjustment_key(kind, symbol, startup_ns)
    return conn.execute("SELECT 1 FROM fills WHERE fill_id = ?", (key,)).fetchone() is not None


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
