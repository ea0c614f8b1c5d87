"""A venue's reference data, loaded once: its symbol map and the trading rules of our symbols.

Every venue adapter holds one. The first call that needs them (on whichever thread asks first) loads
them under a lock; later calls read what was loaded. A symbol without rules is refused before any
order is built, and an order off the rules is refused before it is sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Generic, TypeVar

from autohedge.core.errors import OrderRefused
from autohedge.core.messages import SymbolRules
from autohedge.core.risk import refuse_rule_violations

__all__ = ["VenueReference"]

MapT = TypeVar("MapT")


class VenueReference(Generic[MapT]):
    """Thread-safe, lazily loaded ``(symbol map, rules by our symbol)`` of one venue."""

    def __init__(self, venue: str, load: Callable[[], tuple[MapT, Mapping[str, SymbolRules]]]) -> None:
        self._venue = venue
        self._load = load
        self._lock = threading.Lock()
        self._map: MapT | None = None
        self._rules: dict[str, SymbolRules] = {}

    def symbol_map(self) -> MapT:
        loaded = self._map  # set once, never unset: read without the lock on every order
        if loaded is not None:
            return loaded
        with self._lock:
            if self._map is None:
                symbol_map, rules = self._load()
                self._rules.update(rules)
                self._map = symbol_map
            return self._map

    def rules(self, symbol: str) -> SymbolRules:
        self.symbol_map()
        try:
            return self._rules[symbol]
        except KeyError:
            raise OrderRefused(f"{self._venue}: no trading rules for {symbol}") from None

    def check(self, symbol: str, qty: Decimal, *prices: Decimal) -> None:
        """Refuse before sending what the venue's rules would reject."""
        refuse_rule_violations(self._venue, symbol, self.rules(symbol), qty, *prices)
