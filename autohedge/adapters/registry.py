"""The venue registry: one typed entry per venue, read by the composition root.

Adding a venue = its folder under ``adapters/`` + one entry here. Nothing else branches on a venue name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from autohedge.adapters.alpaca import constants as alpaca_constants
from autohedge.adapters.binance import constants as binance_constants
from autohedge.adapters.coinbase import constants as coinbase_constants
from autohedge.adapters.kraken import constants as kraken_constants
from autohedge.adapters.paper import constants as paper_constants
from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.paper.stream import PaperUserStream
from autohedge.core.clock import Clock
from autohedge.core.config import AppConfig, PaperConfig, Secrets, VenueEndpoints
from autohedge.core.errors import ConfigError
from autohedge.core.ports import Capabilities, Exchange, MarketStream, UserStream

__all__ = ["VENUES", "VenueEntry", "at_account_fee", "venue_entry"]

ExchangeFactory = Callable[[AppConfig, Secrets, Clock, Path], Exchange]
StreamFactoryFactory = Callable[[AppConfig, Clock, Secrets, Exchange | None], Callable[[], MarketStream]]
CredentialCheck = Callable[[AppConfig, Secrets, Clock, Exchange | None], None]
UserStreamFactory = Callable[[AppConfig, Secrets, Clock, Exchange], UserStream]


@dataclass(frozen=True)
class VenueEntry:
    name: str
    create_exchange: ExchangeFactory
    """Builds the exchange port. Does no network I/O."""
    create_stream_factory: StreamFactoryFactory | None
    """Resolves symbols once (REST, at composition) and returns a factory of fresh market streams;
    None for a venue without market data of its own. Given the trading exchange when it trades on the same
    venue: its request budget is shared and what it already read is not asked again."""
    check_credentials: CredentialCheck
    """One signed call; raises ``AuthError`` naming the credential variables when keys are missing or
    rejected. Given the trading exchange when it trades on the same venue: the call spends from its
    request budget."""
    endpoints: Callable[[AppConfig], VenueEndpoints | None]
    capabilities: Capabilities
    is_live_endpoint: Callable[[str], bool]
    stream_needs_keys: bool = False
    """Its market data needs the account's keys (so a market-data-only use checks them too)."""
    matches_on_quotes: bool = False
    """The exchange matches orders on the quotes the feed delivers (the paper exchange's ``on_quote``)."""
    create_user_stream: UserStreamFactory | None = None
    """A new connection to the venue's private order stream, given the trading exchange built by
    ``create_exchange`` (its request budget is shared; the paper stream reads its engine). None: orders
    are polled."""


def _adapter(venue: str) -> ModuleType:
    """A venue's adapter module, imported on first use: each brings its own HTTP, signing and wire-model
    stack (together tens of MiB of a process's memory), and a process uses one or two venues."""
    return importlib.import_module(f"autohedge.adapters.{venue}.adapter")


def _exchange_of(venue: str) -> ExchangeFactory:
    def create(config: AppConfig, secrets: Secrets, clock: Clock, _base: Path) -> Exchange:
        exchange: Exchange = _adapter(venue).create_exchange(config, secrets, clock)
        return at_account_fee(exchange, VENUES[venue].endpoints(config))

    return create


def at_account_fee(exchange: Exchange, endpoints: VenueEndpoints | None) -> Exchange:
    """The account's own highest fee (``venues.<venue>.max_fee_rate``), where the user gave one, in place
    of the adapter's figure for the venue's lowest tier."""
    if endpoints is not None and endpoints.max_fee_rate is not None:
        update = {"max_fee_rate": endpoints.max_fee_rate}
        exchange.capabilities = exchange.capabilities.model_copy(update=update)
    return exchange


def _credentials_of(venue: str) -> CredentialCheck:
    return lambda config, secrets, clock, exchange: _adapter(venue).check_credentials(
        config, secrets, clock, budget=exchange.request_budget if exchange is not None else None
    )


def _streams_of(venue: str) -> StreamFactoryFactory:
    """Market streams built from the registry's arguments as they are (the trading exchange may be None)."""
    return lambda config, clock, secrets, exchange: _adapter(venue).create_stream_factory(
        config, clock, secrets, exchange
    )


def _user_stream_of(venue: str) -> UserStreamFactory:
    return lambda config, secrets, clock, exchange: _adapter(venue).create_user_stream(
        config, secrets, clock, exchange
    )


def _paper_exchange(config: AppConfig, secrets: Secrets, clock: Clock, base_dir: Path) -> Exchange:
    state_file = config.paper.state_file
    if state_file is not None and not state_file.is_absolute():
        state_file = base_dir / state_file
    paper = config.paper.model_copy(update={"state_file": state_file})
    return PaperExchange.from_config(paper, clock=clock, symbols=config.symbols)


def _paper_user_stream(config: AppConfig, secrets: Secrets, clock: Clock, exchange: Exchange) -> UserStream:
    """The paper engine's order events, in-process."""
    if not isinstance(exchange, PaperExchange):
        raise ConfigError("exchange.venue", "the paper user stream needs the paper exchange")
    return PaperUserStream(exchange.engine)


def _no_keys_needed(config: AppConfig, secrets: Secrets, clock: Clock, exchange: Exchange | None) -> None:
    """The paper exchange runs in-process: there are no keys to check."""


def _never_live(url: str) -> bool:
    return False


VENUES: Mapping[str, VenueEntry] = {
    "paper": VenueEntry(
        name="paper",
        create_exchange=_paper_exchange,
        create_stream_factory=None,
        check_credentials=_no_keys_needed,
        endpoints=lambda config: None,
        capabilities=paper_constants.capabilities(oco=True, fee_rate=PaperConfig().fee_rate),
        is_live_endpoint=_never_live,
        matches_on_quotes=True,
        create_user_stream=_paper_user_stream,
    ),
    "binance": VenueEntry(
        name="binance",
        create_exchange=_exchange_of("binance"),
        create_stream_factory=lambda config, clock, secrets, exchange: _adapter(
            "binance"
        ).create_stream_factory(
            config,
            clock,
            secrets,
            exchange=exchange if isinstance(exchange, _adapter("binance").BinanceExchange) else None,
        ),
        check_credentials=_credentials_of("binance"),
        endpoints=lambda config: config.venues.binance,
        capabilities=binance_constants.CAPABILITIES,
        is_live_endpoint=binance_constants.is_live_endpoint,
        create_user_stream=lambda config, secrets, clock, exchange: _adapter("binance").create_user_stream(
            config,
            secrets,
            clock,
            budget=exchange.request_budget,
            server_clock=(
                exchange.server_clock if isinstance(exchange, _adapter("binance").BinanceExchange) else None
            ),
        ),
    ),
    "alpaca": VenueEntry(
        name="alpaca",
        create_exchange=_exchange_of("alpaca"),
        create_stream_factory=lambda config, clock, secrets, exchange: _adapter(
            "alpaca"
        ).create_stream_factory(
            config, clock, secrets, budget=exchange.request_budget if exchange is not None else None
        ),
        check_credentials=_credentials_of("alpaca"),
        endpoints=lambda config: config.venues.alpaca,
        capabilities=alpaca_constants.CAPABILITIES,
        is_live_endpoint=alpaca_constants.is_live_endpoint,
        stream_needs_keys=True,
        create_user_stream=lambda config, secrets, clock, exchange: _adapter("alpaca").create_user_stream(
            config, secrets, clock, budget=exchange.request_budget
        ),
    ),
    "coinbase": VenueEntry(
        name="coinbase",
        create_exchange=_exchange_of("coinbase"),
        create_stream_factory=_streams_of("coinbase"),
        check_credentials=_credentials_of("coinbase"),
        endpoints=lambda config: config.venues.coinbase,
        capabilities=coinbase_constants.CAPABILITIES,
        is_live_endpoint=coinbase_constants.is_live_endpoint,
        create_user_stream=_user_stream_of("coinbase"),
    ),
    "kraken": VenueEntry(
        name="kraken",
        create_exchange=_exchange_of("kraken"),
        create_stream_factory=_streams_of("kraken"),
        check_credentials=_credentials_of("kraken"),
        endpoints=lambda config: config.venues.kraken,
        capabilities=kraken_constants.CAPABILITIES,
        is_live_endpoint=kraken_constants.is_live_endpoint,
        create_user_stream=_user_stream_of("kraken"),
    ),
}


def venue_entry(name: str, *, key_path: str = "exchange.venue") -> VenueEntry:
    try:
        return VENUES[name]
    except KeyError:
        raise ConfigError(key_path, f"venue {name!r} has no adapter in this build") from None
