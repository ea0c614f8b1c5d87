"""Each venue states the highest fee an order of ours can be charged there, as data; a user's own fee tier
(``venues.<venue>.max_fee_rate``) replaces it, and the paper venue's is its configured fee."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.registry import VENUES
from autohedge.core.clock import ManualClock
from autohedge.core.config import AppConfig, PaperConfig, Secrets, parse_config
from autohedge.core.errors import ConfigError

LOWEST_TIER_FEE = {
    "binance": Decimal("0.001"),  # regular account, maker and taker
    "alpaca": Decimal("0.0025"),  # crypto taker, under $100,000 in 30 days
    "kraken": Decimal("0.004"),  # Kraken Pro spot taker, lowest volume tier
    "coinbase": Decimal("0.012"),  # Advanced Trade taker, Intro 1
}


def _config(venue: str, **settings: str) -> AppConfig:
    defaults = VENUES[venue].endpoints(parse_config({}))
    assert defaults is not None
    endpoints = {"rest_url": defaults.rest_url, "ws_url": defaults.ws_url, **settings}
    return parse_config({"symbols": ["BTC/USD"], "venues": {venue: endpoints}})


def _fee_of(venue: str, config: AppConfig) -> Decimal:
    exchange = VENUES[venue].create_exchange(config, Secrets(_env_file=None), ManualClock(), Path.cwd())
    try:
        return exchange.capabilities.max_fee_rate
    finally:
        exchange.close()


@pytest.mark.parametrize("venue", sorted(LOWEST_TIER_FEE))
def test_a_venue_states_its_lowest_tier_fee_unless_the_account_gives_its_own(venue: str) -> None:
    assert VENUES[venue].capabilities.max_fee_rate == LOWEST_TIER_FEE[venue]
    assert _fee_of(venue, _config(venue)) == LOWEST_TIER_FEE[venue]
    assert _fee_of(venue, _config(venue, max_fee_rate="0.0005")) == Decimal("0.0005")
    # The venue's own figure is left as it was for any other exchange built from it.
    assert VENUES[venue].capabilities.max_fee_rate == LOWEST_TIER_FEE[venue]


def test_the_paper_venue_states_its_configured_fee() -> None:
    exchange = PaperExchange.from_config(
        PaperConfig(fee_rate=Decimal("0.006")), clock=ManualClock(), symbols=["BTC/USDT"]
    )
    assert exchange.capabilities.max_fee_rate == Decimal("0.006")


@pytest.mark.parametrize("value", ["0.1", "0.5", "-0.001", "a lot"])
def test_an_account_fee_outside_zero_to_ten_percent_names_its_key(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config("kraken", max_fee_rate=value)
    assert info.value.key_path == "venues.kraken.max_fee_rate"
