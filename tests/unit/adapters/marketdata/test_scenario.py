from decimal import Decimal

from autohedge.adapters.marketdata.scenario import REGIMES, MarketModel
from autohedge.core.config import SyntheticSymbol

SYMBOLS = ("BTC/USDT", "ETH/USDT")
PARAMS = {"BTC/USDT": SyntheticSymbol(start_price=Decimal(60000)), "ETH/USDT": SyntheticSymbol()}


def quotes(seed: int, n: int) -> list[tuple[Decimal, Decimal]]:
    model = MarketModel(seed, PARAMS, SYMBOLS)
    return [(q.bid, q.ask) for q in (model.next_quote(SYMBOLS[i % 2], ts_init=i) for i in range(n))]


def test_scenario_same_seed_same_quotes() -> None:
    assert quotes(7, 2000) == quotes(7, 2000)


def test_scenario_other_seed_other_quotes() -> None:
    assert quotes(7, 200) != quotes(8, 200)


def test_scenario_quotes_are_on_the_tick_and_never_crossed() -> None:
    for bid, ask in quotes(3, 20_000):
        assert Decimal(0) < bid < ask
        assert bid == bid.quantize(Decimal("0.01")) and ask == ask.quantize(Decimal("0.01"))


def test_scenario_a_day_visits_every_regime() -> None:
    model = MarketModel(11, PARAMS, SYMBOLS)
    for i in range(86_400):
        model.next_quote(SYMBOLS[i % 2], ts_init=i)

    assert set(model.regimes_seen()) == set(REGIMES)


def test_scenario_flash_crash_drops_several_percent_within_seconds() -> None:
    model = MarketModel(11, PARAMS, ("BTC/USDT",))
    mids = [model.next_quote("BTC/USDT", ts_init=i).mid for i in range(86_400)]

    worst_drop = max((mids[i] - mids[i + 8]) / mids[i] for i in range(len(mids) - 8))
    assert worst_drop > Decimal("0.03")
