"""The batching rule for reads of resting entries: the cheapest requests for the venue's weights."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from autohedge.adapters.binance.constants import CAPABILITIES as BINANCE
from autohedge.adapters.binance.constants import WEIGHTS
from autohedge.core.messages import OrderSnapshot
from autohedge.core.reads import EntryRef, ReadWeights, listed_entries, plan_reads
from autohedge.core.types import OrderStatus, Side
from tests.ids import entry_id

BINANCE_WEIGHTS = BINANCE.read_weights
EVERY_REQUEST_ONE = ReadWeights()


def entries(per_symbol: dict[str, int]) -> list[EntryRef]:
    out: list[EntryRef] = []
    for symbol, count in per_symbol.items():
        for _ in range(count):
            key = len(out) + 1
            out.append(EntryRef(entry_id(key), symbol, f"v{key}"))
    return out


def test_binance_weights_are_the_venues() -> None:
    assert BINANCE_WEIGHTS.get_order == WEIGHTS["get_order"] == 4
    assert BINANCE_WEIGHTS.open_orders_symbol == WEIGHTS["open_orders_symbol"] == 6
    assert BINANCE_WEIGHTS.open_orders_all == WEIGHTS["open_orders_all"] == 80


def test_one_entry_is_read_on_its_own_where_that_weighs_less() -> None:
    (entry,) = entries({"BTC/USDT": 1})
    plan = plan_reads([entry], BINANCE_WEIGHTS)
    assert plan.singles == (entry.client_order_id,)
    assert plan.symbols == () and not plan.all_symbols
    assert plan.weight == 4


def test_a_tie_reads_on_its_own_since_that_needs_no_follow_up() -> None:
    (entry,) = entries({"BTC/USDT": 1})
    plan = plan_reads([entry], EVERY_REQUEST_ONE)
    assert plan.singles == (entry.client_order_id,) and not plan.all_symbols


def test_a_sweep_of_many_entries_on_one_symbol_is_one_listing() -> None:
    sweep = entries({"BTC/USDT": 30})
    plan = plan_reads(sweep, BINANCE_WEIGHTS)
    assert plan.symbols == ("BTC/USDT",)
    assert plan.singles == ()
    assert plan.weight == 6  # against 30 reads of weight 4: 120
    assert plan.listed("BTC/USDT")


def test_thirty_entries_on_three_symbols_cost_three_listings_on_binance() -> None:
    sweep = entries({"BTC/USDT": 10, "ETH/USDT": 10, "SOL/USDT": 10})
    plan = plan_reads(sweep, BINANCE_WEIGHTS)
    assert plan.symbols == ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    assert not plan.all_symbols
    assert plan.weight == 18  # against 120 before


def test_symbols_choose_each_for_itself() -> None:
    sweep = entries({"BTC/USDT": 1, "ETH/USDT": 2})
    plan = plan_reads(sweep, BINANCE_WEIGHTS)
    assert plan.symbols == ("ETH/USDT",)
    assert plan.singles == (sweep[0].client_order_id,)
    assert plan.weight == 4 + 6


def test_one_listing_for_every_symbol_when_it_weighs_less_than_one_per_symbol() -> None:
    symbols = {f"S{i}/USDT": 2 for i in range(14)}  # 14 listings of 6 weigh 84 > 80
    plan = plan_reads(entries(symbols), BINANCE_WEIGHTS)
    assert plan.all_symbols and plan.symbols == () and plan.singles == ()
    assert plan.weight == 80
    assert plan.listed("S3/USDT")
    thirteen = plan_reads(entries({f"S{i}/USDT": 2 for i in range(13)}), BINANCE_WEIGHTS)
    assert not thirteen.all_symbols and thirteen.weight == 78


def test_where_every_request_counts_one_a_sweep_over_symbols_is_one_listing() -> None:
    plan = plan_reads(entries({"BTC/USD": 3, "ETH/USD": 1}), EVERY_REQUEST_ONE)
    assert plan.all_symbols and plan.weight == 1


def test_a_venue_that_cannot_list_reads_every_entry() -> None:
    weights = ReadWeights(get_order=1, open_orders_symbol=None, open_orders_all=None)
    sweep = entries({"BTC/USD": 3})
    plan = plan_reads(sweep, weights)
    assert plan.singles == tuple(e.client_order_id for e in sweep)
    assert plan.weight == 3


def test_nothing_to_read_costs_nothing() -> None:
    plan = plan_reads([], BINANCE_WEIGHTS)
    assert (plan.symbols, plan.all_symbols, plan.singles, plan.weight) == ((), False, (), 0)


def test_weights_are_validated() -> None:
    with pytest.raises(ValidationError, match="get_order"):
        ReadWeights(get_order=0)


def snapshot(coid: str, venue_id: str, symbol: str = "BTC/USDT") -> OrderSnapshot:
    return OrderSnapshot(
        symbol=symbol,
        client_order_id=coid,
        venue_order_id=venue_id,
        side=Side.BUY,
        qty=Decimal(1),
        price=Decimal(100),
        status=OrderStatus.NEW,
        ts_event=0,
    )


def test_a_listing_shows_entries_by_client_id_or_by_the_venues_id() -> None:
    a, b, c = entries({"BTC/USDT": 3})
    listing = [snapshot(a.client_order_id, "other"), snapshot("", b.venue_order_id), snapshot("x", "y")]
    shown = listed_entries([a, b, c], listing)
    assert set(shown) == {a.client_order_id, b.client_order_id}  # c is not listed: it has ended
    assert shown[b.client_order_id].venue_order_id == b.venue_order_id
