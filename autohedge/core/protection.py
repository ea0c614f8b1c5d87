"""Exit pricing and sizing: what protects a long position, given config, venue rules and capabilities.

* TP = reference * (1 + take_profit_pct/100), rounded up to the tick; SL trigger = reference *
  (1 - stop_loss_pct/100), rounded down; the SL's limit sits ``STOP_LIMIT_SLIPPAGE`` below the trigger so
  a stop-limit still fills in a fast market.
* A strategy may propose its own TP/SL; they are used only on the right side of the reference and
  within bounds (TP at most ``TP_BOUND_FACTOR`` times the configured distance, SL at most
  ``SL_BOUND_FACTOR`` times), otherwise the configured ones apply.
* Exit quantity = held quantity quantized *down* to the lot step: never more than is held. Dust joining
  a protected holding is sold with its next exit, unless what the exit leaves uncovered adds up to a
  sellable order: then the exit is placed again for the whole.
* Dust kept beside resting closes (they sell whole lot steps only, so each leaves its holding's part
  below the step) is protected on its own once it and those parts add up to a sellable order
  (``join_dust``): the same rule for what ended positions and lots left, whichever closes still rest.
* A close sells at a marketable limit ``STOP_LIMIT_SLIPPAGE`` below the bid; once the bid falls below a
  close's price it rests unsold, so after ``close_reprice_after_s`` it is re-priced at the new bid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from autohedge.core.config import SymbolParams
from autohedge.core.messages import EntryProtection, Quote, SymbolRules
from autohedge.core.ports import Capabilities
from autohedge.core.types import decimal_str, quantize_down, quantize_up

__all__ = [
    "SL_BOUND_FACTOR",
    "STOP_LIMIT_SLIPPAGE",
    "TP_BOUND_FACTOR",
    "ExitPrices",
    "JoinedDust",
    "ProtectionPlan",
    "close_price",
    "close_price_for",
    "close_remainder",
    "close_reprice",
    "dust_beside_closes_sellable",
    "exit_falls_short",
    "exit_orders_owed",
    "exit_orders_per_entry",
    "exit_prices",
    "exit_qty",
    "is_dust",
    "join_dust",
    "plan_for",
    "qty_text",
    "stop_triggered",
]

STOP_LIMIT_SLIPPAGE = Decimal("0.005")
TP_BOUND_FACTOR = Decimal(10)
SL_BOUND_FACTOR = Decimal(3)
_HUNDRED = Decimal(100)


class ProtectionPlan(StrEnum):
    OCO = "oco"
    """TP and SL held together on the venue (an OCO list, or one bracket order holding both legs)."""
    TP_WITH_GUARDED_SL = "tp_with_guarded_sl"
    """TP rests on the venue; the monitor watches quotes and closes at the SL."""


def plan_for(capabilities: Capabilities, symbol: str) -> ProtectionPlan:
    """The venue's OCO (or bracket) where it accepts one for ``symbol``, else TP + guarded SL."""
    accepted = capabilities.oco and (capabilities.oco_symbols is None or symbol in capabilities.oco_symbols)
    return ProtectionPlan.OCO if accepted else ProtectionPlan.TP_WITH_GUARDED_SL


def exit_orders_owed(capabilities: Capabilities, entry_symbols: Iterable[str]) -> int:
    """Order slots the exits of these entries (one symbol per entry in flight or resting) take once they
    fill: an OCO places two orders, a TP with a guarded SL one (the SL is watched, not placed)."""
    return sum(2 if plan_for(capabilities, s) is ProtectionPlan.OCO else 1 for s in entry_symbols)


def exit_orders_per_entry(capabilities: Capabilities) -> int | None:
    """The order slots one entry's exits take when that is the same for every symbol (an OCO for all of
    them: 2; no OCO: 1), so the count needs no walk over the entries; None when it depends on the symbol."""
    if not capabilities.oco:
        return 1
    return 2 if capabilities.oco_symbols is None else None


@dataclass(frozen=True)
class ExitPrices:
    take_profit: Decimal
    stop_loss: Decimal
    stop_limit: Decimal


def exit_prices(
    reference: Decimal, params: SymbolParams, rules: SymbolRules, proposal: EntryProtection | None = None
) -> ExitPrices:
    """TP/SL for a long position entered at ``reference``."""
    if reference <= 0:
        raise ValueError(f"reference price must be positive, got {reference}")
    tp_distance = reference * params.take_profit_pct / _HUNDRED
    sl_distance = reference * params.stop_loss_pct / _HUNDRED
    take_profit = reference + tp_distance
    stop_loss = reference - sl_distance
    if proposal is not None:
        if (
            proposal.take_profit is not None
            and reference < proposal.take_profit <= reference + tp_distance * TP_BOUND_FACTOR
        ):
            take_profit = proposal.take_profit
        if (
            proposal.stop_loss is not None
            and reference - sl_distance * SL_BOUND_FACTOR <= proposal.stop_loss < reference
        ):
            stop_loss = proposal.stop_loss
    tick = rules.tick_size
    tp = quantize_up(take_profit, tick)
    sl = max(quantize_down(stop_loss, tick), tick)
    stop_limit = max(quantize_down(sl * (1 - STOP_LIMIT_SLIPPAGE), tick), tick)
    return ExitPrices(take_profit=tp, stop_loss=sl, stop_limit=stop_limit)


def exit_qty(held: Decimal, rules: SymbolRules) -> Decimal:
    """Largest sellable quantity not above ``held``; 0 when below the venue minimum (dust)."""
    if held <= 0:
        return Decimal(0)
    qty = quantize_down(held, rules.lot_step)
    if qty < rules.min_qty or qty <= 0:
        return Decimal(0)
    return qty


def is_dust(qty: Decimal, rules: SymbolRules, price: Decimal) -> bool:
    """A holding no exit can sell on the venue: below its lot step or minimum quantity, or worth less
    than its minimum order value at ``price`` (the lowest price an exit of it would ask)."""
    sellable = exit_qty(qty, rules)
    return sellable <= 0 or sellable * price < rules.min_notional


def exit_falls_short(held: Decimal, covered: Decimal, rules: SymbolRules, price: Decimal) -> bool:
    """An exit for ``covered`` leaves uncovered a part of ``held`` worth the venue's minimum order value at
    ``price`` (the bid): a sell of it alone would be valid, so the exit must be placed again for the whole.
    Less than that is carried along until the exit is next placed (a cancel-and-replace per remainder
    too small to sell would cost requests and protect nothing more)."""
    short = exit_qty(held, rules) - covered
    return short > 0 and short * price >= rules.min_notional


def close_remainder(held: Decimal, offered: Decimal, rules: SymbolRules) -> Decimal:
    """What a resting close leaves of the holding ``held`` it sells once it has sold the ``offered`` it
    still offers: the part below the lot step (a close sells whole steps). 0 when nothing is left, or
    when more than a step would be (that is no rounding of the close's: its holder keeps it)."""
    left = held - offered
    return left if 0 < left < rules.lot_step else Decimal(0)


def dust_beside_closes_sellable(
    dust: Decimal, remainders: Iterable[Decimal], rules: SymbolRules, price: Decimal
) -> bool:
    """Dust kept beside resting closes, with the ``remainders`` those closes leave held once they have sold
    what they offer (below the lot step: ``close_remainder``), makes an exit the venue accepts at
    ``price`` (the lowest an exit of it asks): judged alone, such dust stayed without an exit while the
    closes' parts would have made it sellable."""
    return not is_dust(dust + sum(remainders, Decimal(0)), rules, price)


@dataclass(frozen=True)
class JoinedDust:
    """Dust and the parts below the lot step of resting closes, protected as one lot."""

    qty: Decimal
    """The lot's holding: the dust and every part taken over."""
    taken: tuple[Decimal, ...]
    """Per resting close, in the order given, the part below the step its holder hands over (0: none)."""


def join_dust(
    dust: Decimal,
    closes: Sequence[tuple[Decimal, Decimal]],
    rules: SymbolRules,
    price: Decimal,
    *,
    beside: Decimal = Decimal(0),
) -> JoinedDust | None:
    """What ended positions and lots left below the venue minimum (``dust``), joined with the parts below
    the lot step the resting ``closes`` leave (``(held, offered)`` per close: ``close_remainder``) and
    with what a closing position holds ``beside`` its close (the lot's exit sells that too, its arming
    takes it over): one lot once together they make an exit the venue accepts at ``price`` (the lowest
    an exit of it asks), else None (kept, judged again at the next bid or remainder)."""
    taken = tuple(close_remainder(held, offered, rules) for held, offered in closes)
    if not dust_beside_closes_sellable(dust, [beside, *taken], rules, price):
        return None
    return JoinedDust(qty=dust + sum(taken, Decimal(0)), taken=taken)


def qty_text(qty: Decimal, rules: SymbolRules) -> str:
    """A quantity as plain digits (never an exponent): at the lot step's precision when it is a multiple
    of the lot step, else every digit it has (dust left by fees is finer than the lot step)."""
    if qty == quantize_down(qty, rules.lot_step):
        return format(qty.quantize(rules.lot_step), "f")
    return decimal_str(qty)


def stop_triggered(quote: Quote, stop_loss: Decimal) -> bool:
    """A long position's stop: the best bid at or below the stop price."""
    return quote.bid <= stop_loss


def close_price(bid: Decimal, rules: SymbolRules) -> Decimal:
    """A close's limit: marketable, ``STOP_LIMIT_SLIPPAGE`` below the bid, never below one tick."""
    return max(quantize_down(bid * (1 - STOP_LIMIT_SLIPPAGE), rules.tick_size), rules.tick_size)


def close_price_for(bid: Decimal, qty: Decimal, rules: SymbolRules) -> Decimal | None:
    """The limit of a close selling ``qty`` at ``bid``: ``close_price``, raised to the lowest tick at which
    the order is worth the venue's minimum order value while that is still at or below the bid (it sells
    at once all the same). None when no limit at or below the bid makes a valid order of ``qty``: the
    venue refuses every such close, so placing one (and cancelling the exits for it) protects nothing."""
    if qty <= 0:
        return None
    price = close_price(bid, rules)
    if qty * price >= rules.min_notional:
        return price
    floor = quantize_up(rules.min_notional / qty, rules.tick_size)
    if qty * floor < rules.min_notional:  # the division rounded
        floor += rules.tick_size
    return floor if floor <= bid else None


def close_reprice(
    price: Decimal, bid: Decimal, *, rested_s: float, reprice_after_s: float, rules: SymbolRules
) -> Decimal | None:
    """A resting close's new price, or None to keep it. Kept while the bid takes it (it is filling, in
    parts at worst) and for ``reprice_after_s`` after it was placed or last re-priced (so re-pricing is
    bounded); once the bid has fallen below it, it is re-priced at the new bid less the slippage."""
    if bid >= price or rested_s < reprice_after_s:
        return None
    new_price = close_price(bid, rules)
    return new_price if new_price < price else None
