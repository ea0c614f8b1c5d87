from decimal import Decimal

from autohedge.core.config import HftConfig
from autohedge.core.messages import Quote
from autohedge.core.strategy.hft import HftStrategy
from autohedge.core.types import Side


def quote(bid: str, ask: str) -> Quote:
    return Quote(venue="t", symbol="BTC/USDT", bid=Decimal(bid), ask=Decimal(ask), ts_event=0, ts_init=0)


def strategy_with(*, min_edge_bps: int, max_spread_bps: int) -> HftStrategy:
    """A strategy on a 3-quote window."""
    config = HftConfig(
        min_edge_bps=Decimal(min_edge_bps), max_spread_bps=Decimal(max_spread_bps), lookback_periods=3
    )
    return HftStrategy("BTC/USDT", config)


def warm(strategy: HftStrategy, n: int, bid: str = "99.99", ask: str = "100.01") -> None:
    for _ in range(n):
        assert strategy.on_quote(quote(bid, ask)) is None


def test_hft_window_not_full_no_signal() -> None:
    strategy = strategy_with(min_edge_bps=1, max_spread_bps=10)
    warm(strategy, 2)
    assert strategy.on_quote(quote("98", "98.01")) is None


def test_hft_ask_below_mean_by_min_edge_buys_at_the_ask() -> None:
    strategy = strategy_with(min_edge_bps=5, max_spread_bps=10)
    warm(strategy, 3)
    decision = strategy.on_quote(quote("99.90", "99.92"))  # edge = (100 - 99.92)/100 = 8 bps
    assert decision is not None
    assert decision.side is Side.BUY and decision.price == Decimal("99.92")
    assert decision.edge_bps == Decimal(8)


def test_hft_edge_below_threshold_no_signal() -> None:
    strategy = strategy_with(min_edge_bps=10, max_spread_bps=10)
    warm(strategy, 3)
    assert strategy.on_quote(quote("99.90", "99.92")) is None


def test_hft_wide_spread_blocks_even_a_large_edge() -> None:
    strategy = strategy_with(min_edge_bps=1, max_spread_bps=5)
    warm(strategy, 3)
    assert strategy.on_quote(quote("99.00", "99.50")) is None  # 50 bps spread


def test_hft_bid_above_mean_no_signal_long_only() -> None:
    strategy = strategy_with(min_edge_bps=5, max_spread_bps=10)
    warm(strategy, 3)
    assert strategy.on_quote(quote("100.10", "100.12")) is None


def test_hft_crossed_quote_never_enters_the_window_so_the_next_quote_does_not_buy() -> None:
    # A crossed book (bid above ask) is refused as a decision, but its mid (101.505) used to enter the
    # window: the mean rose above the real market, and the next ordinary quote "had" a 49 bps edge.
    strategy = strategy_with(min_edge_bps=5, max_spread_bps=10)
    warm(strategy, 3)
    assert strategy.on_quote(quote("103.00", "100.01")) is None
    assert strategy.on_quote(quote("99.99", "100.01")) is None


def test_hft_zero_price_quote_never_enters_the_window() -> None:
    strategy = strategy_with(min_edge_bps=5, max_spread_bps=10)
    warm(strategy, 3)
    assert strategy.on_quote(quote("0", "0")) is None
    assert strategy.mean_mid == Decimal(100)
