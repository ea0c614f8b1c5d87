"""Reading resting orders by REST: which requests a sweep makes, decided from the venue's weights.

Pure (no threads, no clock). The executor's reads of its resting entries (the safety poll, the re-read
after a reconnect or a gap, the look for an unreported fill) run on the order reader; a sweep over many
entries costs what the venue charges least for: one open-orders listing per symbol (or one for every
symbol) where that weighs less than one order read per entry. An entry the listing does not show has
ended (or never existed): only then is it read on its own, for its final fill.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from autohedge.core.messages import OrderSnapshot

__all__ = ["EntryRef", "ReadPlan", "ReadWeights", "listed_entries", "plan_reads"]


class ReadWeights(BaseModel):
    """What a venue charges for each kind of order read, in its own budget's units (Binance request
    weight; one request each where every request counts the same: Alpaca, Coinbase, Kraken, paper)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    get_order: float = Field(default=1.0, gt=0)
    """One order by id."""
    open_orders_symbol: float | None = Field(default=1.0, gt=0)
    """Every open order of one symbol (None: the venue cannot list one symbol's)."""
    open_orders_all: float | None = Field(default=1.0, gt=0)
    """Every open order of the account (None: the venue cannot list them all in one request)."""


@dataclass(frozen=True)
class EntryRef:
    """An order to read: by the venue's id when known, else by our client id."""

    client_order_id: str
    symbol: str
    venue_order_id: str = ""


@dataclass(frozen=True)
class ReadPlan:
    """The requests of one sweep: listings first, then single reads (plus one for each entry a listing
    turns out not to show)."""

    symbols: tuple[str, ...]
    """One open-orders listing for each of these symbols."""
    all_symbols: bool
    """One open-orders listing for every symbol (then ``symbols`` is empty)."""
    singles: tuple[str, ...]
    """Client ids read one by one from the start."""
    weight: float
    """What the plan costs if every listed entry is still open."""

    def listed(self, symbol: str) -> bool:
        """Is ``symbol``'s entry read from a listing (rather than on its own)?"""
        return self.all_symbols or symbol in self.symbols


def plan_reads(entries: Sequence[EntryRef], weights: ReadWeights) -> ReadPlan:
    """The cheapest way to read ``entries``: per symbol, one listing or one read per entry, whichever
    weighs less (single reads on a tie: they need no follow-up); then one listing for every symbol
    instead, when it weighs less than all of that."""
    by_symbol: dict[str, list[str]] = {}
    for entry in entries:
        by_symbol.setdefault(entry.symbol, []).append(entry.client_order_id)
    per_symbol: list[str] = []
    singles: list[str] = []
    weight = 0.0
    for symbol, coids in by_symbol.items():
        one_by_one = weights.get_order * len(coids)
        listing = weights.open_orders_symbol
        if listing is not None and listing < one_by_one:
            per_symbol.append(symbol)
            weight += listing
        else:
            singles += coids
            weight += one_by_one
    everything = weights.open_orders_all
    if everything is not None and len(by_symbol) > 0 and everything < weight:
        return ReadPlan(symbols=(), all_symbols=True, singles=(), weight=everything)
    return ReadPlan(symbols=tuple(per_symbol), all_symbols=False, singles=tuple(singles), weight=weight)


def listed_entries(
    entries: Iterable[EntryRef], orders: Iterable[OrderSnapshot]
) -> Mapping[str, OrderSnapshot]:
    """The entries a listing shows, by client id: matched on our client id, or on the venue's id where
    the entry has one (a venue that drops client ids from its listing still names the order)."""
    listing = list(orders)
    by_coid = {o.client_order_id: o for o in listing if o.client_order_id}
    by_venue_id = {o.venue_order_id: o for o in listing if o.venue_order_id}
    out: dict[str, OrderSnapshot] = {}
    for entry in entries:
        found = by_coid.get(entry.client_order_id)
        if found is None and entry.venue_order_id:
            found = by_venue_id.get(entry.venue_order_id)
        if found is not None:
            out[entry.client_order_id] = found
    return out
