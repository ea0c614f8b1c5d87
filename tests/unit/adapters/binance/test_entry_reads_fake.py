"""What a sweep over resting entries costs at the local fake Binance (127.0.0.1), by the weights the fake
charges: one read per entry (the executor's former way) against the order reader's batched requests."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from autohedge.actors.protocol import ReadEntries
from autohedge.actors.reader import read_entries
from autohedge.adapters.binance.adapter import BinanceExchange, create_exchange
from autohedge.core.clock import RealClock
from autohedge.core.config import Secrets, parse_config
from autohedge.core.messages import OrderRequest
from autohedge.core.reads import EntryRef
from autohedge.core.types import OrderStatus, Side
from tests.fakes.binance import API_KEY, API_SECRET, ROUTES, FakeBinance
from tests.ids import entry_id

MARKET = {
    "BTC/USDT": ("50000", "49000", "0.01"),
    "ETH/USDT": ("3000", "2900", "0.1"),
    "SOL/USDT": ("150", "140", "1"),
}
READS = (("GET", "/api/v3/order"), ("GET", "/api/v3/openOrders"))


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(symbols=list(MARKET)) as server:
        for symbol, (mid, _, _) in MARKET.items():
            server.push_quote(symbol, Decimal(mid), Decimal(mid) + Decimal("0.5"))
        yield server


def exchange(fake: FakeBinance) -> BinanceExchange:
    config = parse_config(
        {
            "exchange": {"venue": "binance", "market_data": "binance"},
            "symbols": list(MARKET),
            "venues": {"binance": {"rest_url": fake.rest_url, "ws_url": fake.ws_url, "order_entry": "rest"}},
        }
    )
    secrets = Secrets(
        autohedge_binance_api_key=SecretStr(API_KEY), autohedge_binance_api_secret=SecretStr(API_SECRET)
    )
    return create_exchange(config, secrets, RealClock())


def resting(ex: BinanceExchange, per_symbol: int) -> list[EntryRef]:
    refs: list[EntryRef] = []
    for symbol, (_, price, qty) in MARKET.items():
        for _ in range(per_symbol):
            coid = entry_id(len(refs) + 1)
            request = OrderRequest(
                client_order_id=coid, symbol=symbol, side=Side.BUY, qty=Decimal(qty), price=Decimal(price)
            )
            refs.append(EntryRef(coid, symbol, ex.submit_order(request).venue_order_id))
    return refs


def reads_cost(fake: FakeBinance, before: int) -> tuple[int, int]:
    """(requests, weight) of the order reads the fake received after its first ``before`` requests."""
    made = [r for r in fake.requests()[before:] if (r[0], r[1]) in READS]
    return len(made), sum(ROUTES[(method, path)][2](params) for method, path, params in made)


def test_a_sweep_of_thirty_entries_on_three_symbols_costs_three_listings_not_thirty_reads(
    fake: FakeBinance,
) -> None:
    ex = exchange(fake)
    refs = resting(ex, 10)
    ended = refs[4]
    ex.cancel_order(ended.symbol, client_order_id=ended.client_order_id)  # ended, unseen by the sweep

    start = len(fake.requests())
    for ref in refs:  # one read per entry
        ex.get_order(ref.symbol, venue_order_id=ref.venue_order_id, client_order_id=ref.client_order_id)
    assert reads_cost(fake, start) == (30, 120)

    start = len(fake.requests())
    answer = read_entries(ex, ReadEntries(read_id=1, entries=tuple(refs)), RealClock().wall_ns)
    # A listing per symbol, and a read of the one that ended.
    assert reads_cost(fake, start) == (4, 6 + 6 + 6 + 4)
    assert (answer.requests, answer.weight) == (4, 22)
    snapshots = {s.client_order_id: s for s in answer.snapshots}
    assert len(snapshots) == 30
    assert snapshots[ended.client_order_id].status is OrderStatus.CANCELED
