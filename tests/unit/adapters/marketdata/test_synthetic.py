from collections.abc import Sequence
from decimal import Decimal

from autohedge.adapters.marketdata.synthetic import SyntheticQuotes, SyntheticStream
from autohedge.core.clock import ManualClock
from autohedge.core.config import SyntheticConfig, SyntheticSymbol
from autohedge.core.messages import Quote

CONFIG = SyntheticConfig(
    seed=5, symbols={"BTC/USDT": SyntheticSymbol(start_price=Decimal(60000), spread_bps=Decimal(2))}
)


def test_synthetic_same_seed_same_quotes() -> None:
    a, b = SyntheticQuotes(CONFIG, ["BTC/USDT"]), SyntheticQuotes(CONFIG, ["BTC/USDT"])
    assert [a.next_quote("BTC/USDT", ts_init=i) for i in range(50)] == [
        b.next_quote("BTC/USDT", ts_init=i) for i in range(50)
    ]


def test_synthetic_quotes_are_valid_markets_on_the_tick() -> None:
    quotes = SyntheticQuotes(CONFIG, ["BTC/USDT", "ETH/USDT"])
    for i in range(500):
        for symbol in ("BTC/USDT", "ETH/USDT"):
            q = quotes.next_quote(symbol, ts_init=i)
            assert q.ask > q.bid > 0
            assert q.bid % Decimal("0.01") == 0 and q.ask % Decimal("0.01") == 0


def test_synthetic_spread_stays_near_the_configured_bps() -> None:
    quotes = SyntheticQuotes(CONFIG, ["BTC/USDT"])
    spreads = [quotes.next_quote("BTC/USDT", ts_init=0).spread_bps for _ in range(200)]
    assert all(Decimal("1.9") < s < Decimal("2.1") for s in spreads)


class ListSink:
    def __init__(self) -> None:
        self.quotes: list[Quote] = []

    def on_quote(self, quote: Quote) -> None:
        self.quotes.append(quote)

    def on_quotes(self, quotes: Sequence[Quote]) -> None:
        for quote in quotes:
            self.on_quote(quote)

    def on_malformed(self, raw: str | bytes, error: str) -> None:
        raise AssertionError(error)

    def on_disconnected(self, error: str) -> None:
        raise AssertionError(error)


def test_synthetic_stream_emit_once_gives_one_quote_per_symbol() -> None:
    stream = SyntheticStream(ManualClock(), CONFIG, symbols=["BTC/USDT", "ETH/USDT"])
    sink = ListSink()
    stream._sink = sink  # emit_once without the pacing thread
    stream._symbols = ("BTC/USDT", "ETH/USDT")
    stream.emit_once()
    assert [q.symbol for q in sink.quotes] == ["BTC/USDT", "ETH/USDT"]
