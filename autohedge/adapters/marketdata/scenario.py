"""A seeded market model for simulated trading days, and a stream the simulator pushes quotes through.

Each symbol moves through regimes drawn from its own seeded generator, one after another:

* ``walk``: a gaussian random walk at the symbol's volatility;
* ``trend``: the same walk with a drift up or down;
* ``quiet``: a fifth of the volatility, a tight spread;
* ``spread_blowout``: the spread 10-40 times wider;
* ``gap``: one jump of 1-4 % up or down, then a walk;
* ``flash_crash``: 4-12 % down within a few quotes, then back up over minutes.

Pure and deterministic for a seed: the same seed gives the same quotes. Prices pass through
``Decimal`` once, from a rounded float, and are quantized to the tick.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from autohedge.core.config import SyntheticSymbol
from autohedge.core.messages import Quote
from autohedge.core.ports import QuoteSink

__all__ = ["REGIMES", "MarketModel", "ScenarioStream"]

VENUE = "scenario"
REGIMES = ("walk", "trend", "quiet", "spread_blowout", "gap", "flash_crash")
_WEIGHTS = (40, 20, 15, 8, 9, 8)
_TICK = Decimal("0.01")
_BPS = 10_000.0


@dataclass
class _Regime:
    name: str
    remaining: int
    """Quotes left in this regime."""
    drift_bps: float = 0.0
    vol_factor: float = 1.0
    spread_factor: float = 1.0
    crash_steps: int = 0
    crash_bps: float = 0.0


class _SymbolModel:
    def __init__(self, params: SyntheticSymbol, rng: random.Random) -> None:
        self._rng = rng
        self._vol_bps = float(params.volatility_bps)
        self._spread_bps = float(params.spread_bps)
        self.mid = float(params.start_price)
        self._floor = self.mid * 0.05
        self.regime = self._draw()
        self.regimes_seen: dict[str, int] = {self.regime.name: 1}

    def _draw(self) -> _Regime:
        rng = self._rng
        name = rng.choices(REGIMES, weights=_WEIGHTS)[0]
        length = rng.randint(60, 900)
        if name == "trend":
            return _Regime(name, length, drift_bps=rng.choice((-1, 1)) * rng.uniform(0.3, 1.5))
        if name == "quiet":
            return _Regime(name, length, vol_factor=0.2, spread_factor=0.5)
        if name == "spread_blowout":
            return _Regime(name, rng.randint(10, 120), spread_factor=rng.uniform(10, 40), vol_factor=2.0)
        if name == "gap":
            self.mid *= 1 + rng.choice((-1, 1)) * rng.uniform(0.01, 0.04)
            return _Regime(name, length)
        if name == "flash_crash":
            steps = rng.randint(2, 8)
            drop_bps = rng.uniform(400, 1200)
            recovery = rng.randint(120, 600)
            # Fall over ``steps`` quotes, then drift back up by the same amount over ``recovery``.
            return _Regime(
                name,
                steps + recovery,
                drift_bps=drop_bps / recovery,
                crash_steps=steps,
                crash_bps=-drop_bps / steps,
                spread_factor=3.0,
            )
        return _Regime(name, length)

    def step(self) -> tuple[float, float]:
        """(mid, spread in bps) of the next quote."""
        regime = self.regime
        if regime.remaining <= 0:
            regime = self.regime = self._draw()
            self.regimes_seen[regime.name] = self.regimes_seen.get(regime.name, 0) + 1
        regime.remaining -= 1
        if regime.crash_steps > 0:
            regime.crash_steps -= 1
            move_bps = regime.crash_bps
            spread_factor = regime.spread_factor
        else:
            move_bps = regime.drift_bps + self._rng.gauss(0.0, 1.0) * self._vol_bps * regime.vol_factor
            spread_factor = 1.0 if regime.name == "flash_crash" else regime.spread_factor
        self.mid = max(self._floor, self.mid * (1 + move_bps / _BPS))
        return self.mid, self._spread_bps * spread_factor


class MarketModel:
    """Quotes for every symbol, one at a time, from one seed (each symbol has its own stream of draws)."""

    def __init__(self, seed: int, params: dict[str, SyntheticSymbol], symbols: Sequence[str]) -> None:
        self._models = {
            s: _SymbolModel(params.get(s, SyntheticSymbol()), random.Random(f"{seed}:{s}")) for s in symbols
        }

    def next_quote(self, symbol: str, *, ts_init: int) -> Quote:
        mid_f, spread_bps = self._models[symbol].step()
        mid = Decimal(repr(round(mid_f, 6)))
        half = mid * Decimal(repr(round(spread_bps, 4))) / Decimal(20_000)
        bid = max(_TICK, (mid - half).quantize(_TICK, rounding=ROUND_FLOOR))
        ask = (mid + half).quantize(_TICK, rounding=ROUND_CEILING)
        if ask <= bid:
            ask = bid + _TICK
        return Quote(
            venue=VENUE,
            symbol=symbol,
            bid=bid,
            ask=ask,
            bid_size=Decimal(5),
            ask_size=Decimal(5),
            ts_event=ts_init,
            ts_init=ts_init,
        )

    def regimes_seen(self) -> dict[str, int]:
        """How often each regime began, over all symbols."""
        out: dict[str, int] = {}
        for model in self._models.values():
            for name, count in model.regimes_seen.items():
                out[name] = out.get(name, 0) + count
        return dict(sorted(out.items()))


class ScenarioStream:
    """MarketStream with no thread of its own: the simulator pushes quotes (and disconnects) through
    the sink it was started with, on the simulator's thread."""

    venue = VENUE

    def __init__(self) -> None:
        self.sink: QuoteSink | None = None
        self.stopped = False

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        """The feed actor's thread."""
        self.sink = sink

    def stop(self) -> None:
        """The feed actor's thread."""
        self.stopped = True

    @property
    def live(self) -> bool:
        return self.sink is not None and not self.stopped
