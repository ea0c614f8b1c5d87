"""JournalActor: the one writer of the trade journal, off the trading path.

Actors ``tell`` it records (``record_in_journal(ctx, record)``) and never wait: a slow or failing disk delays
only this actor's inbox, never an order. Records are written in batches (group commit): ``max_delay_s``
after the first record of a batch (a timer message) or once ``max_batch`` records are pending, whichever
comes first; so a ``kill -9`` loses at most the last ``max_delay_s`` of records. Writing at once
instead (one transaction per record, about 0.2 ms of interpreter time each) ran while the orders of
the same tick were still being decided and sent, and took the interpreter lock from them; after the
delay the whole burst is one transaction.

It is started before the supervised tree and stopped after it, so it sees the tree's last records.
A write failure is logged and counted (``journal_errors``) and the batch dropped: the journal never
crashes and never holds trading back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pykka
from loguru import logger

from autohedge.actors.base import ActorContext
from autohedge.actors.directory import Directory
from autohedge.actors.inbox import new_inbox
from autohedge.actors.protocol import Barrier
from autohedge.core.actor_names import JOURNAL
from autohedge.core.clock import Clock, TimerHandle
from autohedge.core.journal import JournalRecord, JournalWriter
from autohedge.core.messages import Message
from autohedge.core.metrics import Metrics

__all__ = ["FlushJournal", "JournalActor", "ObserveOrders", "journal_to", "record_in_journal"]

MAX_DELAY_S = 0.05
"""How long the first record of a batch waits for company: longer than a burst of orders takes to
leave, short against what a crash may lose."""


class FlushJournal(Message):
    """Ask: write everything pending now. Returns the number of records written so far."""


class _FlushDue(Message):
    """Timer: the oldest pending record has waited ``max_delay_s``."""


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
    _create_actor_inbox = staticmethod(new_inbox)

    def __init__(
        self,
        *,
        writer_factory: Callable[[], JournalWriter],
        clock: Clock,
        metrics: Metrics,
        max_batch: int = 500,
        max_delay_s: float = MAX_DELAY_S,
    ) -> None:
        """Runs in the creating thread; the writer is opened on the actor's own thread."""
        super().__init__()
        self._writer_factory = writer_factory
        self._writer: JournalWriter | None = None
        self._clock = clock
        self._metrics = metrics
        self._max_batch = max_batch
        self._max_delay_s = max_delay_s
        self._pending: list[JournalRecord] = []
        self._flush_timer: TimerHandle | None = None
        self.written = 0

    def on_start(self) -> None:
        """Actor thread: open (and migrate) the journal here; SQLite connections stay on one thread."""
        self._writer = self._writer_factory()

    def on_receive(self, message: Any) -> Any:
        """Actor thread."""
        if isinstance(message, FlushJournal | _FlushDue):
            self._flush()
            return self.written
        if isinstance(message, Barrier):
            return None
        self._pending.append(message)
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif self._flush_timer is None:
            self._flush_timer = self._clock.call_later(self._max_delay_s, self._flush_due)
        return None

    def _flush_due(self) -> None:
        """Timer thread: tell this actor to write (an actor already stopped has nothing pending)."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_FlushDue())

    def _flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
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
