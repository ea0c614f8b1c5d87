"""A moving market for end-to-end runs against a fake venue: a seeded random walk pushed at 50 quotes/s."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

from autohedge.adapters.marketdata.synthetic import SyntheticQuotes
from autohedge.core.config import SyntheticConfig, SyntheticSymbol

__all__ = ["Market"]


class Market:
    """``with Market(fake.push_quote, "BTC/USDT", seed=3):`` moves the fake's market until the block ends."""

    def __init__(
        self,
        push: Callable[[str, Decimal, Decimal], None],
        symbol: str,
        *,
        seed: int,
        start_price: Decimal = Decimal(60000),
    ) -> None:
        self._push = push
        self._symbol = symbol
        self._quotes = SyntheticQuotes(
            SyntheticConfig(
                seed=seed,
                symbols={symbol: SyntheticSymbol(start_price=start_price, volatility_bps=Decimal(4))},
            ),
            [symbol],
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-market", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):  # the market's own pace, not a test waiting
            quote = self._quotes.next_quote(self._symbol, ts_init=0)
            self._push(self._symbol, quote.bid, quote.ask)

    def __enter__(self) -> Market:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
