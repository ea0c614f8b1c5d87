"""Our exits' sales the ledger's balances do not include yet, kept outside the monitor's incarnation.

The monitor learns of a sale of its exit (a placement's answer, an order event, a venue read) before the
ledger may have applied that sale's event; until it has, the ledger's holding still counts the sold
quantity as held. The monitor takes these sales off what the ledger holds. Kept by the composition root
beside the ledger and handed to each monitor incarnation: lost with a crashed incarnation while such a
sale's event was delayed, the ledger's holding looked sellable to the next one, which placed exits for
what had been sold (simulation, four symbols, seed 13: refused as insufficient, four times). A process
restart starts with none, which is right: its ledger is read from the venue, after every sale.

Bounded: a sale leaves once the ledger's balances include it (its events applied, or a snapshot taken
after it), and beyond ``capacity`` the oldest are forgotten (the holding then reads larger: the venue
refuses what it cannot sell, and the refused exit is re-armed from its answer).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from autohedge.core.ledger import AccountLedger
from autohedge.core.positions import KnownSale

__all__ = ["SALES_KEPT", "KnownSales"]

SALES_KEPT = 1_000
"""Known exit sales remembered until the ledger has them (the oldest are forgotten first)."""


@dataclass(frozen=True)
class _Entry:
    sale: KnownSale
    learned_ns: int
    """When (our wall clock) the newest of its reports reached us: an account read started later
    includes the whole sale."""
    ledger_mark: int
    """The ledger's ``fill_mark`` then: a read started in the same instant but re-based after it includes
    the sale too (taken as missing from it, the sale was counted twice: exits short until forgotten)."""


def _not_in_ledger(ledger: AccountLedger, symbol: str, coid: str) -> Callable[[Decimal, int], Decimal]:
    """The ledger's ``unapplied_fill`` for one leg (client order id ``coid``), as a known sale asks it."""
    return lambda cum_qty, ts_event: ledger.unapplied_fill(symbol, coid, cum_qty, ts_event=ts_event)


class KnownSales:
    """Per exit leg (client order id), the sale we know of, until the ledger's balances include it.

    Thread-safe: one monitor incarnation at a time uses it, from its own thread, but a crashed one's
    handler may still be finishing when the next one starts."""

    def __init__(self, capacity: int = SALES_KEPT) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def remember(
        self,
        symbol: str,
        client_order_id: str,
        cum_qty: Decimal,
        *,
        reported_ns: int,
        learned_ns: int,
        ledger_mark: int,
    ) -> None:
        """Leg ``client_order_id`` of ``symbol`` has sold ``cum_qty`` in all, as a report made at
        ``reported_ns`` (the venue's event time, or the time of a venue read) told us at ``learned_ns``
        (our wall clock), when the ledger's ``fill_mark`` was ``ledger_mark``."""
        with self._lock:
            known = self._entries.get(client_order_id)
            sale = (
                KnownSale(symbol, ((cum_qty, reported_ns),))
                if known is None
                else known.sale.after(cum_qty, reported_ns)
            )
            self._entries[client_order_id] = _Entry(sale, learned_ns, ledger_mark)
            self._entries.move_to_end(client_order_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def unapplied(self, symbol: str, ledger: AccountLedger) -> Decimal:
        """What our exits of ``symbol`` sold that ``ledger``'s balances do not include yet: take it off
        the ledger's holding to get what is held. Forgets every sale (of any symbol) the ledger includes
        by now. Each report is asked at its own time: a balance snapshot taken after it has it."""
        missing = Decimal(0)
        with self._lock:
            for coid, entry in list(self._entries.items()):
                if ledger.read_after(entry.learned_ns, entry.ledger_mark):
                    del self._entries[coid]  # an account read started after we knew it all
                    continue
                unapplied, kept = entry.sale.unapplied(_not_in_ledger(ledger, entry.sale.symbol, coid))
                if kept is None:
                    del self._entries[coid]
                    continue
                self._entries[coid] = _Entry(kept, entry.learned_ns, entry.ledger_mark)
                if kept.symbol == symbol:
                    missing += unapplied
        return missing

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
