"""The edge/spread ("HFT") strategy: pure, one instance per symbol, fed one quote at a time.

Rule (also in the README). Keep the mids of the last ``lookback_periods`` quotes *before* the current one
(quotes that are no market, a zero price or a crossed book, are skipped and never kept);
``mean_mid`` is their average. For the current quote:

* ``spread_bps = (ask - bid) / mid * 10_000``; no trade unless ``spread_bps <= max_spread_bps``.
* edge ``= (mean_mid - ask) / mean_mid * 10_000``: how far the ask sits below the recent mean.
* Buy at the ask when the edge >= ``min_edge_bps``. Nothing until the window is full.

Spot is long-only: positions are closed by their take-profit and stop-loss, not by this strategy.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from autohedge.core.config import HftConfig
from autohedge.core.messages import Quote
from autohedge.core.types import Side

__all__ = ["HftDecision", "HftStrategy"]

_BPS = Decimal(10_000)


@dataclass(frozen=True)
class HftDecision:
    side: Side
    price: Decimal
    edge_bps: Decimal
    spread_bps: Decimal
    mean_mid: Decimal


class HftStrategy:
    """Edge detection and spread analysis over a rolling window of mids."""

    def __init__(self, symbol: str, config: HftConfig) -> None:
        self.symbol = symbol
        self._config = config
        self._mids: deque[Decimal] = deque(maxlen=config.lookback_periods)
        self._sum = Decimal(0)

    @property
    def ready(self) -> bool:
        return len(self._mids) == self._config.lookback_periods

    @property
    def mean_mid(self) -> Decimal | None:
        return self._sum / len(self._mids) if self._mids else None

    def on_quote(self, quote: Quote) -> HftDecision | None:
        """Decide on ``quote``, then add it to the window. A quote that is no market (a price at or
        below zero, a crossed book) is neither decided nor kept: its mid would skew the mean, and the
        next real quote would "find" an edge against it."""
        if quote.bid <= 0 or quote.ask < quote.bid:
            return None
        decision = self._decide(quote) if self.ready else None
        self._push(quote.mid)
        return decision

    def _decide(self, quote: Quote) -> HftDecision | None:
        mean_mid = self._sum / len(self._mids)
        if mean_mid <= 0:
            return None
        spread_bps = quote.spread_bps
        if spread_bps > self._config.max_spread_bps:
            return None
        edge = (mean_mid - quote.ask) / mean_mid * _BPS
        if edge >= self._config.min_edge_bps:
            return HftDecision(Side.BUY, quote.ask, edge, spread_bps, mean_mid)
        return None

    def _push(self, mid: Decimal) -> None:
        if len(self._mids) == self._mids.maxlen:
            self._sum -= self._mids[0]
        self._mids.append(mid)
        self._sum += mid
