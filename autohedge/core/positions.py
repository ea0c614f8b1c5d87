"""Position arithmetic: fills -> held quantity and average entry price (long spot positions)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from autohedge.core.ledger import KeptRecord
from autohedge.core.messages import Balance, OrderFilled, PositionSnapshot
from autohedge.core.types import Side, base_of

__all__ = [
    "SALE_STEPS_KEPT",
    "FillInFlight",
    "GrowthCredit",
    "Holding",
    "KnownSale",
    "net_base_qty",
    "spot_positions",
    "unheard_sales",
]

SALE_STEPS_KEPT = 32
"""Reports kept per exit leg: forgetting an older one only makes the sale read less included (safe)."""


def spot_positions(balances: Mapping[str, Balance], symbols: Sequence[str]) -> tuple[PositionSnapshot, ...]:
    """Spot: a symbol's position is the whole balance (free + held for orders) of its base asset; a
    symbol whose base asset is not held has none. The venue does not know an entry price."""
    out = []
    for symbol in symbols:
        balance = balances.get(base_of(symbol))
        if balance is not None and balance.total > 0:
            out.append(PositionSnapshot(symbol=symbol, qty=balance.total))
    return tuple(out)


def net_base_qty(fill: OrderFilled) -> Decimal:
    """Base quantity a fill adds (buy) or removes (sell), net of fees charged in the base asset.

    A buy of 1 BTC with a 0.001 BTC fee leaves 0.999 BTC held; an exit must never ask for more.
    """
    fee_in_base = fill.fee if fill.fee_asset == base_of(fill.symbol) else Decimal(0)
    if fill.side is Side.BUY:
        return fill.fill_qty - fee_in_base
    return fill.fill_qty + fee_in_base


def unheard_sales(
    order_ids: Iterable[str], heard: Mapping[str, Decimal], applied: Callable[[str], Decimal]
) -> Decimal:
    """What the sells ``order_ids`` of one position sold that a ledger has applied (``applied``: its
    applied fill of an order) beyond what their reports told so far (``heard``: cumulative fill per
    order): sales already gone from the ledger's holding while their reports are still on their way."""
    return sum(
        (max(applied(coid) - heard.get(coid, Decimal(0)), Decimal(0)) for coid in set(order_ids)),
        Decimal(0),
    )


@dataclass(frozen=True)
class Holding:
    """Quantity held and its volume-weighted average entry price (None when unknown, e.g. adopted)."""

    qty: Decimal = Decimal(0)
    entry_price: Decimal | None = None

    def after_fill(self, fill: OrderFilled) -> Holding:
        delta = net_base_qty(fill)
        if fill.side is Side.BUY:
            new_qty = self.qty + delta
            if self.entry_price is None or self.qty <= 0:
                price = fill.fill_price
            else:
                price = (self.entry_price * self.qty + fill.fill_price * delta) / new_qty
            return Holding(new_qty, price)
        remaining = max(Decimal(0), self.qty - delta)
        return Holding(remaining, self.entry_price if remaining > 0 else None)


@dataclass(frozen=True)
class KnownSale:
    """What one exit leg of ``symbol`` is known to have sold, report by report: each step is the leg's
    cumulative sale and the time of the report that told it (an order event's ``ts_event``; for a venue
    read, the read's time). A balance snapshot taken after a step includes that step, whether or not
    the ledger has applied its event."""

    symbol: str
    steps: tuple[tuple[Decimal, int], ...]
    """(cumulative quantity, report time in ns), in the order learned (the quantity grows)."""

    def after(self, cum_qty: Decimal, ts_event: int) -> KnownSale:
        """This sale with one more report (the oldest forgotten beyond ``SALE_STEPS_KEPT``)."""
        return KnownSale(self.symbol, (*self.steps, (cum_qty, ts_event))[-SALE_STEPS_KEPT:])

    def unapplied(self, not_in_ledger: Callable[[Decimal, int], Decimal]) -> tuple[Decimal, KnownSale | None]:
        """How much of this sale the ledger's balances do not include, and what is worth keeping of it
        (None once the ledger has it all). ``not_in_ledger(cum_qty, ts_event)``: the ledger's
        ``unapplied_fill`` for the leg. A step the ledger includes (applied, or inside a later snapshot)
        includes every step before it: one order's events are applied in order. The result is never
        less than what is really missing, so an exit sized from it is never above what is held."""
        included = Decimal(0)
        first_kept = 0
        for index, (cum_qty, ts_event) in enumerate(self.steps):
            if not_in_ledger(cum_qty, ts_event) <= 0:
                included, first_kept = cum_qty, index
        cum_qty, ts_event = self.steps[-1]
        missing = min(not_in_ledger(cum_qty, ts_event), cum_qty - included)
        if missing <= 0:
            return Decimal(0), None
        return missing, KnownSale(self.symbol, self.steps[first_kept:])


@dataclass(frozen=True)
class FillInFlight:
    """An entry fill reported to the monitor whose order event may not have reached the ledger yet."""

    client_order_id: str
    cum_qty: Decimal
    """The order's cumulative filled quantity with this fill."""
    gross_qty: Decimal
    """What this report added to the order's fill (before fees)."""
    net_qty: Decimal
    """What this report added to the holding (net of fees in the base asset)."""
    ts_event: int
    kept: KeptRecord | None = None
    """Keeps the ledger's record of the order until the exit is armed for this fill: the placement asks
    the ledger whether the fill is in, and held off for long (a venue's ban) while many other orders ended,
    the bound on ended orders' records had forgotten it (the fill looked missing and was counted twice)."""

    def unapplied_net(self, unapplied_gross: Decimal) -> Decimal:
        """The holding still missing from a ledger that lacks ``unapplied_gross`` of the order's fill:
        this report's net share of it, never more than the report added."""
        if unapplied_gross <= 0 or self.gross_qty <= 0:
            return Decimal(0)
        if unapplied_gross >= self.gross_qty:
            return self.net_qty
        return self.net_qty * unapplied_gross / self.gross_qty


@dataclass(frozen=True)
class GrowthCredit:
    """Holding taken in from a record of the venue (a REST read, or the ledger) beyond the fills reported
    so far: a fill report arriving later may be inside it already. Only a fill that happened before the
    record was taken (and, for the ledger, that the ledger has applied) can be; any other is new."""

    qty: Decimal
    as_of_ns: int
    """When the record was taken (the venue's event-time scale)."""
    from_ledger: bool
    ledger_mark: int | None = None
    """For a record read from the ledger, its ``fill_mark`` then: a fill it applied later is not inside
    (in one instant of a simulated clock, the time cannot tell)."""

    def may_include(self, fill_ts_event: int, *, applied_by_ledger: bool) -> bool:
        if self.qty <= 0 or fill_ts_event > self.as_of_ns:
            return False
        return applied_by_ledger or not self.from_ledger

    def carried(self, held: Decimal, into: GrowthCredit | None = None) -> GrowthCredit:
        """This credit as it goes with ``held``, what of its holding is carried on (a remainder kept as
        dust, joined to another holding): never more than ``held``; joined with ``into``, the credit the
        receiving holding has already. A fill report may then be inside either: the later record and, only
        where both came from the ledger, the ledger's condition."""
        if into is None:
            return GrowthCredit(min(self.qty, held), self.as_of_ns, self.from_ledger, self.ledger_mark)
        marks = (self.ledger_mark, into.ledger_mark)
        return GrowthCredit(
            min(self.qty, held) + into.qty,
            max(self.as_of_ns, into.as_of_ns),
            self.from_ledger and into.from_ledger,
            None if None in marks else max(m for m in marks if m is not None),
        )

    def use(self, added: Decimal, lot_step: Decimal) -> tuple[Decimal, GrowthCredit | None]:
        """What of a fill that ``added`` to the holding the credit already counted, and the credit left
        (None once less than a lot step is left: rounding by fees is no further fill)."""
        counted = min(added, self.qty)
        left = self.qty - counted
        rest = (
            GrowthCredit(left, self.as_of_ns, self.from_ledger, self.ledger_mark)
            if left >= lot_step
            else None
        )
        return counted, rest
