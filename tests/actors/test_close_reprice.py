"""A stop close the market falls away from is re-priced at the new bid and sells what is still held."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from autohedge.core.actor_names import MONITOR
from autohedge.core.clock import NS_PER_S
from autohedge.core.errors import RateLimited
from autohedge.core.messages import OrderSnapshot, Quote
from autohedge.core.protection import close_price
from autohedge.core.types import OrderStatus, OrderType, quantize_down
from tests.actors.harness import Harness, make_config, wait_for
from tests.actors.test_simulation_findings import LOT, covered, half_filling_engine, held, stop_of

SYMBOL = "BTC/USDT"
STOP_BUDGET_S = 5.0
"""The stop guard's budget in the simulation (``simulate.stop_budget_s``)."""


def quote(h: Harness, bid: Decimal) -> None:
    """A quote whose spread the strategy will not trade: no entry joins the position being closed."""
    h.quote(SYMBOL, str(bid), str((bid * Decimal("1.004")).quantize(Decimal("0.01"))))


def protected_position(h: Harness) -> None:
    """One entry, filled in two halves (the second on a quote too wide for the strategy to buy again),
    and its exit resting for the whole holding."""
    h.trigger_buy(SYMBOL)
    quote(h, Decimal("99.50"))  # the ask 99.90 takes the rest of the entry
    h.advance(0.25)
    wait_for(lambda: h.buys(SYMBOL)[0].status is OrderStatus.FILLED, what="entry filled")
    h.advance(1.0)
    wait_for(lambda: covered(h) == quantize_down(held(h), LOT), what="exit covers the holding")
    assert len(h.buys(SYMBOL)) == 1


def closes(h: Harness) -> list[OrderSnapshot]:
    return [o for o in h.paper_engine.all_orders() if o.client_order_id.startswith("ah-c")]


def partly_sold_close_gapped_below(make_harness: Callable[..., Harness]) -> tuple[Harness, Decimal, Decimal]:
    """A guarded stop closed on a venue that fills half of every match: the close sold half on arrival,
    then the market fell below its price. Returns the harness, what was held when the stop was crossed
    and the gapped bid."""
    h = make_harness(make_config(), engine=half_filling_engine(), oco=False).start()
    protected_position(h)
    stop = stop_of(h)
    held_at_stop = held(h)
    crossing = stop - Decimal("0.01")
    quote(h, crossing)
    wait_for(lambda: len(closes(h)) == 1 and closes(h)[0].filled_qty > 0, what="the close sold part")
    close = h.paper_engine.get_order(SYMBOL, client_order_id=closes(h)[0].client_order_id)
    assert close.status is OrderStatus.PARTIALLY_FILLED
    gap = (close.price * Decimal("0.98")).quantize(Decimal("0.01"))
    quote(h, gap)  # below the close: it rests unsold
    return h, held_at_stop, gap


def test_partly_filled_close_the_market_fell_below_is_repriced_and_sells_the_rest_within_budget(
    make_harness: Callable[..., Harness],
) -> None:
    h, held_at_stop, gap = partly_sold_close_gapped_below(make_harness)
    first = h.paper_engine.get_order(SYMBOL, client_order_id=closes(h)[0].client_order_id)
    crossed_ns = h.clock.monotonic_ns()

    h.advance(0.5)
    quote(h, gap)
    assert len(closes(h)) == 1  # not before it has rested close_reprice_after_s
    h.advance(0.5)
    quote(h, gap)  # re-priced: half of the new close sells
    quote(h, gap)  # and the rest

    wait_for(lambda: held(h) < LOT, what="everything sold")
    assert (h.clock.monotonic_ns() - crossed_ns) / NS_PER_S < STOP_BUDGET_S
    old, new = (h.paper_engine.get_order(SYMBOL, client_order_id=c.client_order_id) for c in closes(h))
    assert old.status is OrderStatus.CANCELED and old.filled_qty == first.filled_qty
    assert new.price == close_price(gap, h.paper_engine.symbol_rules(SYMBOL))
    # The new close asked for what was still held, no more: its fills and the old one's are counted once.
    assert new.qty == held_at_stop - old.filled_qty - (held_at_stop - old.qty)
    assert new.status is OrderStatus.FILLED
    assert "close_repriced" in h.engine.parts.events.kinds()
    wait_for(lambda: h.position(SYMBOL) is None, what="the position closed")


def test_close_bid_still_takes_is_kept_while_it_fills_in_parts(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(make_config(), engine=half_filling_engine(), oco=False).start()
    protected_position(h)
    crossing = stop_of(h) - Decimal("0.01")
    quote(h, crossing)
    wait_for(lambda: len(closes(h)) == 1, what="the close placed")

    for _ in range(3):
        h.advance(1.0)
        quote(h, crossing)

    assert len(closes(h)) == 1 and held(h) < LOT
    assert "close_repriced" not in h.engine.parts.events.kinds()


def test_close_whose_cancel_is_refused_because_it_filled_meanwhile_is_not_sold_twice(
    make_harness: Callable[..., Harness],
) -> None:
    h, _, gap = partly_sold_close_gapped_below(make_harness)
    close = h.paper_engine.get_order(SYMBOL, client_order_id=closes(h)[0].client_order_id)
    recovered = Quote(
        venue="test",
        symbol=SYMBOL,
        bid=close.price,
        ask=close.price + Decimal("0.02"),
        ts_event=h.clock.wall_ns(),
        ts_init=h.clock.wall_ns(),
    )

    # The market takes the rest of the close on the venue just before the monitor's cancel reaches it.
    # (Two matches: this venue fills half of the order's quantity in each.)
    def fill_the_rest() -> None:
        for _ in range(2):
            h.paper_engine.on_quote(recovered)

    h.exchange.hold("cancel_order", fill_the_rest)

    h.advance(1.0)
    quote(h, gap)
    h.settle()

    assert len(closes(h)) == 1
    assert (
        h.paper_engine.get_order(SYMBOL, client_order_id=close.client_order_id).status is OrderStatus.FILLED
    )
    assert held(h) < LOT
    wait_for(lambda: h.position(SYMBOL) is None, what="the position closed by the filled close")
    assert not [o for o in h.open_sells(SYMBOL) if o.order_type is OrderType.LIMIT]


def test_close_reprice_refused_by_venue_pushback_is_retried_when_the_venue_allows(
    make_harness: Callable[..., Harness],
) -> None:
    h, _, gap = partly_sold_close_gapped_below(make_harness)
    h.exchange.fail("cancel_order", lambda: RateLimited("429", venue="paper", code=429, retry_after_s=2.0))

    h.advance(1.0)
    quote(h, gap)  # the cancel is refused: nothing else sent
    assert len(closes(h)) == 1
    assert h.child(MONITOR).restarts == 0

    h.advance(2.0)  # the venue allows again: the re-price goes first
    quote(h, gap)

    wait_for(lambda: held(h) < LOT, what="the rest sold after the pushback")
    assert len(closes(h)) == 2


def test_repriced_close_whose_new_sell_is_refused_by_pushback_is_sent_when_the_venue_allows(
    make_harness: Callable[..., Harness],
) -> None:
    h, _, gap = partly_sold_close_gapped_below(make_harness)
    old_id = closes(h)[0].client_order_id
    h.exchange.fail("submit_order", lambda: RateLimited("429", venue="paper", code=429, retry_after_s=2.0))

    h.advance(1.0)
    quote(h, gap)  # the old close is cancelled; its rest's new close is refused
    assert h.paper_engine.get_order(SYMBOL, client_order_id=old_id).status is OrderStatus.CANCELED
    assert len(closes(h)) == 1
    assert h.child(MONITOR).restarts == 0

    h.advance(2.0)  # the venue allows again: the waiting sell goes first
    quote(h, gap)

    wait_for(lambda: held(h) < LOT, what="the rest sold after the pushback")
    assert len(closes(h)) == 2
