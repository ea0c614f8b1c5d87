"""One behaviour suite every exchange adapter passes, skipped by capability."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autohedge.core.client_ids import ClientId
from autohedge.core.errors import InsufficientFunds, OrderRejected, UnknownOrder
from autohedge.core.messages import OcoRequest, OrderRequest
from autohedge.core.protection import ProtectionPlan, plan_for
from autohedge.core.types import OrderPurpose, OrderStatus, Side, base_of, quantize_down, quote_of
from tests.contract.conftest import VenueUnderTest
from tests.ids import PREFIX, our_id

D = Decimal


def limit(v: VenueUnderTest, coid: str, side: Side, qty: Decimal, price: Decimal) -> OrderRequest:
    rules = v.exchange.symbol_rules(v.symbol)
    return OrderRequest(
        client_order_id=coid,
        symbol=v.symbol,
        side=side,
        qty=quantize_down(qty, rules.lot_step),
        price=quantize_down(price, rules.tick_size),
    )


_POSITION_QTY = D("0.01")
_POSITION_PRICE = D(50000)


def buy_position(
    v: VenueUnderTest, qty: Decimal = _POSITION_QTY, price: Decimal = _POSITION_PRICE
) -> Decimal:
    v.push_quote(v.symbol, price - 1, price)
    v.exchange.submit_order(limit(v, "ct-pos", Side.BUY, qty, price + 10))
    (position,) = v.exchange.positions([v.symbol])
    return position.qty


def test_contract_symbol_rules_are_sane(venue: VenueUnderTest) -> None:
    rules = venue.exchange.symbol_rules(venue.symbol)
    assert rules.tick_size > 0 and rules.lot_step > 0 and rules.min_qty >= 0 and rules.min_notional >= 0


def test_contract_resting_limit_is_open_and_found_by_both_ids(venue: VenueUnderTest) -> None:
    venue.push_quote(venue.symbol, D(50000), D(50001))
    placed = venue.exchange.submit_order(limit(venue, "ct-rest", Side.BUY, D("0.01"), D(49000)))
    assert placed.status is OrderStatus.NEW and placed.client_order_id == "ct-rest"
    assert [o.client_order_id for o in venue.exchange.open_orders(venue.symbol)] == ["ct-rest"]
    by_venue = venue.exchange.get_order(venue.symbol, venue_order_id=placed.venue_order_id)
    by_client = venue.exchange.get_order(venue.symbol, client_order_id="ct-rest")
    assert by_venue.venue_order_id == by_client.venue_order_id == placed.venue_order_id


def test_contract_cancel_removes_from_open_orders(venue: VenueUnderTest) -> None:
    venue.push_quote(venue.symbol, D(50000), D(50001))
    placed = venue.exchange.submit_order(limit(venue, "ct-cancel", Side.BUY, D("0.01"), D(49000)))
    venue.exchange.cancel_order(venue.symbol, venue_order_id=placed.venue_order_id)
    assert venue.exchange.get_order(venue.symbol, client_order_id="ct-cancel").status is OrderStatus.CANCELED
    assert venue.exchange.open_orders(venue.symbol) == ()


def test_contract_unknown_order_raises_on_get_and_cancel(venue: VenueUnderTest) -> None:
    with pytest.raises(UnknownOrder):
        venue.exchange.get_order(venue.symbol, client_order_id="ct-none")
    with pytest.raises(UnknownOrder):
        venue.exchange.cancel_order(venue.symbol, client_order_id="ct-none")


def test_contract_crossing_buy_fills_and_moves_balances(venue: VenueUnderTest) -> None:
    quote_asset = quote_of(venue.symbol)
    before = venue.exchange.balances()[quote_asset].total
    venue.push_quote(venue.symbol, D(49999), D(50000))
    venue.exchange.submit_order(limit(venue, "ct-fill", Side.BUY, D("0.01"), D(50010)))
    venue.push_quote(venue.symbol, D(49999), D(50000))
    filled = venue.exchange.get_order(venue.symbol, client_order_id="ct-fill")
    assert filled.status is OrderStatus.FILLED and filled.filled_qty == D("0.01")
    assert filled.avg_fill_price is not None and filled.avg_fill_price <= D(50010)
    assert venue.exchange.balances()[quote_asset].total < before
    assert venue.exchange.balances()[base_of(venue.symbol)].total > 0


def test_contract_insufficient_funds_is_typed(venue: VenueUnderTest) -> None:
    venue.push_quote(venue.symbol, D(50000), D(50001))
    with pytest.raises(InsufficientFunds):
        venue.exchange.submit_order(limit(venue, "ct-poor", Side.BUY, D(1000), D(49000)))


def test_contract_duplicate_client_id_places_no_second_order(venue: VenueUnderTest) -> None:
    venue.push_quote(venue.symbol, D(50000), D(50001))
    venue.exchange.submit_order(limit(venue, "ct-dup", Side.BUY, D("0.01"), D(49000)))
    with pytest.raises(OrderRejected):
        venue.exchange.submit_order(limit(venue, "ct-dup", Side.BUY, D("0.01"), D(49000)))
    assert len(venue.exchange.open_orders(venue.symbol)) == 1


def test_contract_positions_reflect_the_holding(venue: VenueUnderTest) -> None:
    held = buy_position(venue)
    assert D("0.009") < held <= D("0.01")


def test_contract_best_quote_is_the_last_quote(venue: VenueUnderTest) -> None:
    venue.push_quote(venue.symbol, D(50000), D(50002))
    quote = venue.exchange.best_quote(venue.symbol)
    assert (quote.bid, quote.ask) == (D(50000), D(50002))


# The legs are named as the monitor names them (a venue holding both in one order derives them from the
# list id).
_OCO_KEY = 7
_TP = our_id(OrderPurpose.TAKE_PROFIT, _OCO_KEY)
_SL = our_id(OrderPurpose.STOP_LOSS, _OCO_KEY)


def _oco(v: VenueUnderTest, qty: Decimal) -> OcoRequest:
    rules = v.exchange.symbol_rules(v.symbol)
    return OcoRequest(
        list_client_id=ClientId(PREFIX, None, _OCO_KEY).encode(),
        symbol=v.symbol,
        side=Side.SELL,
        qty=quantize_down(qty, rules.lot_step),
        take_profit_price=D(51000),
        stop_price=D(49000),
        stop_limit_price=D(48900),
        take_profit_client_order_id=_TP,
        stop_loss_client_order_id=_SL,
    )


def _has_oco(v: VenueUnderTest) -> bool:
    v.exchange.symbol_rules(v.symbol)  # a venue learns per product with its rules whether it holds one
    return plan_for(v.exchange.capabilities, v.symbol) is ProtectionPlan.OCO


@pytest.mark.parametrize(
    ("bid", "ask", "filled", "cancelled"),
    [(D(51000), D(51001), _TP, _SL), (D(48950), D(48960), _SL, _TP)],
    ids=["take-profit-fill-cancels-the-stop", "stop-trigger-cancels-the-take-profit"],
)
def test_contract_oco_one_leg_done_cancels_the_other(
    venue: VenueUnderTest, bid: Decimal, ask: Decimal, filled: str, cancelled: str
) -> None:
    if not _has_oco(venue):
        pytest.skip(f"{venue.name} has no OCO for {venue.symbol}")
    held = buy_position(venue)
    venue.exchange.submit_oco(_oco(venue, held))
    venue.push_quote(venue.symbol, bid, ask)
    assert venue.exchange.get_order(venue.symbol, client_order_id=filled).status is OrderStatus.FILLED
    assert venue.exchange.get_order(venue.symbol, client_order_id=cancelled).status is OrderStatus.CANCELED


def test_contract_resting_oco_shows_both_legs_and_one_cancel_ends_it(venue: VenueUnderTest) -> None:
    if not _has_oco(venue):
        pytest.skip(f"{venue.name} has no OCO for {venue.symbol}")
    held = buy_position(venue)
    venue.exchange.submit_oco(_oco(venue, held))
    resting = {o.client_order_id: o for o in venue.exchange.open_orders(venue.symbol)}
    assert set(resting) == {_TP, _SL} and all(o.list_id for o in resting.values())
    assert (
        resting[_TP].remaining_qty
        == resting[_SL].remaining_qty
        == quantize_down(held, venue.exchange.symbol_rules(venue.symbol).lot_step)
    )
    venue.exchange.cancel_order(venue.symbol, client_order_id=_SL)
    assert venue.exchange.open_orders(venue.symbol) == ()
    assert venue.exchange.get_order(venue.symbol, client_order_id=_TP).status is OrderStatus.CANCELED
