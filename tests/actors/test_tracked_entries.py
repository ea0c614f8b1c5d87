"""The executor's tracked entries, by client order id and by symbol (a signal reads only its symbol's)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from autohedge.actors.executor import TrackedEntries, TrackedEntry
from tests.ids import entry_id


def entry(n: int, symbol: str) -> TrackedEntry:
    return TrackedEntry(
        client_order_id=entry_id(n), symbol=symbol, qty=Decimal(1), price=Decimal(100), placed_ns=n
    )


def test_a_symbols_entries_follow_every_change_of_the_entries() -> None:
    entries = TrackedEntries()
    for n, symbol in enumerate(["BTC/USDT", "ETH/USDT", "BTC/USDT"], start=1):
        entries[entry_id(n)] = entry(n, symbol)
    assert [e.client_order_id for e in entries.of_symbol("BTC/USDT")] == [entry_id(1), entry_id(3)]

    filled = replace(entries[entry_id(1)], filled_qty=Decimal("0.5"))
    entries[entry_id(1)] = filled  # an update replaces the entry in both views
    assert next(iter(entries.of_symbol("BTC/USDT"))) is filled

    del entries[entry_id(3)]
    assert entries.pop(entry_id(2)).symbol == "ETH/USDT"
    assert entries.pop(entry_id(2), None) is None
    assert list(entries.of_symbol("BTC/USDT")) == [filled]
    assert list(entries.of_symbol("ETH/USDT")) == []
    assert list(entries) == [entry_id(1)] and len(entries) == 1 and entry_id(1) in entries


def test_an_entry_stored_again_under_another_symbol_leaves_its_old_symbol() -> None:
    entries = TrackedEntries()
    entries[entry_id(1)] = entry(1, "BTC/USDT")

    entries[entry_id(1)] = entry(1, "ETH/USDT")

    assert list(entries.of_symbol("BTC/USDT")) == []
    assert [e.symbol for e in entries.of_symbol("ETH/USDT")] == ["ETH/USDT"]


def test_a_symbols_unfilled_quantity_follows_fills_moves_and_ends() -> None:
    entries = TrackedEntries()
    for n, symbol in enumerate(["BTC/USDT", "ETH/USDT", "BTC/USDT"], start=1):
        entries[entry_id(n)] = entry(n, symbol)
    assert entries.unfilled_qty("BTC/USDT") == 2 and entries.unfilled_qty("ETH/USDT") == 1

    entries[entry_id(1)] = replace(entries[entry_id(1)], filled_qty=Decimal("0.25"))
    assert entries.unfilled_qty("BTC/USDT") == Decimal("1.75")

    entries[entry_id(3)] = replace(entries[entry_id(3)], symbol="ETH/USDT")  # stored again elsewhere
    assert entries.unfilled_qty("BTC/USDT") == Decimal("0.75") and entries.unfilled_qty("ETH/USDT") == 2

    del entries[entry_id(1)]
    assert entries.unfilled_qty("BTC/USDT") == 0 and "BTC/USDT" not in {e.symbol for e in entries.values()}
    entries.pop(entry_id(2))
    entries.pop(entry_id(3))
    assert entries.unfilled_qty("ETH/USDT") == 0 and entries.unfilled_qty("SOL/USDT") == 0
