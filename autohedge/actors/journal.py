"""JournalActor: the one writer of the trade journal, off the trading path.

Actors ``tell`` it records (``record_in_journal(ctx, record)``) and never wait: a slow or failing disk delays
only this actor's inbox, never an order. Records are written in batches (group commit): when the inbox
is empty, when ``max_batch`` records are pending, or when the oldest pending record is ``max_delay_s``
old, whichever comes first; so a ``kill -9`` loses at most the last second of records.

It is started before the supervised tree and stopped after it, so it sees the tree's last records.
A write failure is logged and counted (``journal_errors``) and the batch dropped: the journal never
crashes and never holds trading back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pykka
from loguru import logger

from autohedge.actors.base import ActorContext
from autohedge.actors.directory import Directory
from autohedge.core.actor_names import JOURNAL
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.journal import JournalRecord, JournalWriter
from autohedge.core.messages import Message
from autohedge.core.metrics import Metrics

__all__ = ["FlushJournal", "JournalActor", "ObserveOrders", "journal_to", "record_in_journal"]


class FlushJournal(Message):
    """Ask: write everything pending now. Returns the number of records written so far."""


class ObserveOrders(Message):
    """Told by the monitor to itself: query orders that vanished so the journal learns their end."""

    symbol: str
    client_order_ids: tuple[str, ...]


def journal_to(directory: Directory, record: JournalRecord) -> None:
    """Tell the journal a record (any thread; never blocks; nothing happens without a journal)."""
    directory.tell_if_present(JOURNAL, record)


def record_in_journal(ctx: ActorContext, record: JournalRecord) -> None:
    """Tell the journal a record from a supervised actor's thread."""
    journal_to(ctx.directory, record)


class JournalActor(pykka.ThreadingActor):
    def __init__(
        self,
        *,
        writer_factory: Callable[[], JournalWriter],
        clock: Clock,
        metrics: Metrics,
        max_batch: int = 500,
        max_delay_s: float = 1.0,
    ) -> None:
        """Runs in the creating thread; the writer is opened on the actor's own thread."""
        super().__init__()
        self._writer_factory = writer_factory
        self._writer: JournalWriter | None = None
        self._clock = clock
        self._metrics = metrics
        self._max_batch = max_batch
        self._max_delay_ns = int(max_delay_s * NS_PER_S)
        self._pending: list[JournalRecord] = []
        self._oldest_ns = 0
        self.written = 0

    def on_start(self) -> None:
        """Actor thread: open (and migrate) the journal here; SQLite connections stay on one thread."""
        self._writer = self._writer_factory()

    def on_receive(self, message: Any) -> Any:
        """Actor thread."""
        if isinstance(message, FlushJournal):
            self._flush()
            return self.written
        if not self._pending:
            self._oldest_ns = self._clock.monotonic_ns()
        self._pending.append(message)
        if (
            len(self._pending) >= self._max_batch
            or self.actor_inbox.empty()
            or self._clock.monotonic_ns() - self._oldest_ns >= self._max_delay_ns
        ):
            self._flush()
        return None

    def _flush(self) -> None:
        if not self._pending or self._writer is None:
            return
        batch, self._pending = self._pending, []
        try:
            self._writer.write(batch)
        except Exception as exc:  # noqa: BLE001 - a journal failure must never stop trading
            self._metrics.inc("journal_errors")
            self._metrics.inc("journal_records_dropped", len(batch))
            logger.error("journal write of {} records failed: {}: {}", len(batch), type(exc).__name__, exc)
            return
        self.written += len(batch)

    def on_stop(self) -> None:
        """Actor thread, orderly stop: write what is pending, close the file."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def on_failure(self, *_: object) -> None:
        """Actor thread, after a crash in a handler: say so loudly; later records become dead letters."""
        logger.error("the journal stopped after an unexpected error: trading goes on without it")
        if self._writer is not None:
            self._writer.close()
            self._writer = None
