"""OrderReaderActor: reads the executor's resting entries by REST, off the executor's thread.

The executor says what to read (``ReadEntries``) and goes on deciding signals; the reader makes the
requests the venue charges least for (``core.reads.plan_reads``: a listing of a symbol's open orders
instead of one read per entry where that weighs less; an entry the listing does not show has ended and
is read on its own for its final fill) and tells the executor what it learned (``EntriesRead``), each
read dated by when its request was sent. It decides nothing about the entries: the executor applies the
answer to them as they are by then. It also reads the venue's quotes while our feed is stalled
(``ReadVenueQuotes``). On the protection path (a fill whose event is lost is found here), so restarted
within the promise like the executor; as it starts it tells the executor, which asks again what a
previous incarnation was reading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from loguru import logger

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.actors.protocol import (
    EntriesRead,
    EntryRead,
    OrderReaderStarted,
    ReadEntries,
    ReadVenueQuotes,
    VenueQuotesRead,
)
from autohedge.core.actor_names import EXECUTOR
from autohedge.core.errors import VenueError
from autohedge.core.messages import OrderSnapshot, Quote
from autohedge.core.ports import Exchange
from autohedge.core.pushback import is_pushback
from autohedge.core.reads import EntryRef, listed_entries, plan_reads

__all__ = ["OrderReaderActor", "read_entries"]


class _Sweep:
    """One ``ReadEntries`` being answered: the reads so far and what they cost (the reader's thread)."""

    def __init__(self, exchange: Exchange, now_ns: int) -> None:
        self.exchange = exchange
        self.asked_ns = now_ns
        self.reads: dict[str, EntryRead] = {}
        self.requests = 0
        self.weight = 0.0
        self.refusal: VenueError | None = None
        """The venue's pushback met so far: the rest of the sweep is not sent (it would be refused too)."""

    def listing(self, symbol: str | None, entries: Sequence[EntryRef], now_ns: int) -> list[EntryRef]:
        """List the open orders of ``symbol`` (None: all) and take the entries it shows; returns those
        it does not show (ended, or never placed: each read on its own next)."""
        weights = self.exchange.capabilities.read_weights
        if self.refusal is not None:
            self._failed(entries, self.refusal, now_ns)
            return []
        self.requests += 1
        self.weight += (weights.open_orders_symbol if symbol else weights.open_orders_all) or 0.0
        try:
            orders = self.exchange.open_orders(symbol)
        except VenueError as exc:
            self._failed(entries, exc, now_ns)
            return []
        shown = listed_entries(entries, orders)
        for coid, snapshot in shown.items():
            self.reads[coid] = EntryRead(coid, now_ns, snapshot=snapshot)
        return [e for e in entries if e.client_order_id not in shown]

    def single(self, entry: EntryRef, now_ns: int) -> None:
        if self.refusal is not None:
            self._failed((entry,), self.refusal, now_ns)
            return
        self.requests += 1
        self.weight += self.exchange.capabilities.read_weights.get_order
        coid = entry.client_order_id
        try:
            snapshot: OrderSnapshot = self.exchange.get_order(
                entry.symbol, venue_order_id=entry.venue_order_id or None, client_order_id=coid
            )
        except VenueError as exc:
            self._failed((entry,), exc, now_ns)
            return
        self.reads[coid] = EntryRead(coid, now_ns, snapshot=snapshot)

    def _failed(self, entries: Sequence[EntryRef], error: VenueError, now_ns: int) -> None:
        for entry in entries:
            self.reads[entry.client_order_id] = EntryRead(entry.client_order_id, now_ns, error=error)
        if is_pushback(error):
            self.refusal = error


def read_entries(exchange: Exchange, message: ReadEntries, wall_ns: Callable[[], int]) -> EntriesRead:
    """Read ``message.entries`` with the cheapest requests and describe every answer. Runs on the
    reader's thread; never raises for what the venue answers (a bug in reading an answer does).
    ``wall_ns``: the clock's ``wall_ns`` (each read is dated by its request's send)."""
    entries = message.entries
    plan = plan_reads(entries, exchange.capabilities.read_weights)
    sweep = _Sweep(exchange, wall_ns())
    unlisted: list[EntryRef] = []
    if plan.all_symbols:
        unlisted += sweep.listing(None, entries, wall_ns())
    for symbol in plan.symbols:
        unlisted += sweep.listing(symbol, [e for e in entries if e.symbol == symbol], wall_ns())
    singles = set(plan.singles)
    for entry in [*(e for e in entries if e.client_order_id in singles), *unlisted]:
        sweep.single(entry, wall_ns())
    return EntriesRead(
        read_id=message.read_id,
        asked_ns=sweep.asked_ns,
        reads=tuple(sweep.reads[e.client_order_id] for e in entries if e.client_order_id in sweep.reads),
        requests=sweep.requests,
        weight=sweep.weight,
    )


class OrderReaderActor(SupervisedActor):
    def __init__(self, ctx: ActorContext, *, exchange: Exchange) -> None:
        """Runs in the creating thread (the supervisor's)."""
        super().__init__(ctx)
        self._exchange = exchange

    def started(self) -> None:
        """Reader thread: a restarted reader's predecessor may have died with reads asked of it."""
        self.ctx.directory.tell_if_present(EXECUTOR, OrderReaderStarted(incarnation=self.ctx.incarnation))

    def on_read_entries(self, message: ReadEntries) -> None:
        """Reader thread: the sweep's requests, one after another; the answer goes to the executor now
        running (a restarted one applies it to the entries it tracks)."""
        answer = read_entries(self._exchange, message, self.ctx.clock.wall_ns)
        self.ctx.metrics.inc("entry_read_requests", answer.requests)
        self.ctx.directory.tell(EXECUTOR, answer)

    def on_read_venue_quotes(self, message: ReadVenueQuotes) -> None:
        """Reader thread: the venue's quotes, one request per symbol; a failed one is left out (the
        executor's next check asks again)."""
        quotes: list[Quote] = []
        for symbol in message.symbols:
            try:
                quotes.append(self._exchange.best_quote(symbol))
            except VenueError as exc:
                logger.debug("[{}] quote read for resting entries failed: {}", symbol, exc)
        self.ctx.directory.tell(EXECUTOR, VenueQuotesRead(quotes=tuple(quotes)))
