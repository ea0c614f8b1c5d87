"""The exchange contract suite's registry: every exchange adapter under test, behind one fixture.

To add a venue, append a factory to ``VENUES``: it returns a ``VenueUnderTest`` whose ``exchange``
implements ``core.ports.Exchange`` (for a real venue: the adapter pointed at its local fake server)
and whose ``push_quote`` moves that venue's market so resting orders can fill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pytest
from pydantic import SecretStr

from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.paper.engine import PaperEngine
from autohedge.adapters.registry import venue_entry
from autohedge.core.clock import ManualClock, RealClock
from autohedge.core.config import PaperFaults, Secrets, parse_config
from autohedge.core.messages import Quote
from autohedge.core.ports import Exchange, OrderSessionHolder, UserStream
from tests.fakes.venue_server import VenueFaults, endpoints_of


class FakeServer(Protocol):
    """What the suite uses of a venue's local fake server."""

    @property
    def engine(self) -> PaperEngine: ...

    @property
    def faults(self) -> VenueFaults: ...

    def requests(self, path: str | None = None) -> list[tuple[str, str, Any]]: ...

    def push_quote(self, symbol: str, bid: Decimal, ask: Decimal) -> None: ...

    def __exit__(self, *exc: object) -> object: ...


@dataclass
class VenueUnderTest:
    name: str
    exchange: Exchange
    push_quote: Callable[[str, Decimal, Decimal], None]
    symbol: str
    close: Callable[[], None] = field(default=lambda: None)
    user_stream: Callable[[], UserStream] | None = None
    """A new connection to the venue's private order stream."""
    fake: FakeServer | None = None
    """The local fake server behind a real venue's adapter, with its fault switches (None: paper)."""
    server_error_means_not_run: bool = False
    """The venue's server-error answer says the request did not run (Kraken's ``EService:Unavailable``),
    so a submit answered with it is unavailable, not of unknown outcome."""


def paper_venue() -> VenueUnderTest:
    clock = ManualClock()
    engine = PaperEngine(clock=clock, balances={"USDT": Decimal(100_000)}, fee_rate=Decimal("0.001"))
    exchange = PaperExchange(engine, faults=PaperFaults(), seed=1, oco=True)

    def push(symbol: str, bid: Decimal, ask: Decimal) -> None:
        exchange.on_quote(
            Quote(
                venue="paper",
                symbol=symbol,
                bid=bid,
                ask=ask,
                ts_event=clock.wall_ns(),
                ts_init=clock.wall_ns(),
            )
        )

    from autohedge.adapters.paper.stream import PaperUserStream

    return VenueUnderTest("paper", exchange, push, "BTC/USDT", user_stream=lambda: PaperUserStream(engine))


def _real_venue(
    name: str,
    fake: FakeServer,
    symbol: str,
    endpoints: dict[str, str],
    secrets: Secrets,
    *,
    live: bool = False,
    server_error_means_not_run: bool = False,
    supervisor: dict[str, float] | None = None,
) -> VenueUnderTest:
    """A venue's adapter and private stream built through the registry (as ``run`` builds them), pointed
    at its local fake (already entered; closed with the venue). ``supervisor``: its reconnect settings."""
    config = parse_config(
        {
            "exchange": {"venue": name, "market_data": name, "live": live},
            "symbols": [symbol],
            "venues": {name: endpoints},
            "supervisor": supervisor or {},
        }
    )
    clock = RealClock()
    entry = venue_entry(name)
    exchange = entry.create_exchange(config, secrets, clock, Path.cwd())
    if isinstance(exchange, OrderSessionHolder):
        exchange.open_order_session()  # as the engine does when it starts
    create_user_stream = entry.create_user_stream
    assert create_user_stream is not None, f"{name} has no private order stream"

    def close() -> None:
        exchange.close()
        fake.__exit__(None, None, None)

    return VenueUnderTest(
        name,
        exchange,
        fake.push_quote,
        symbol,
        close,
        user_stream=lambda: create_user_stream(config, secrets, clock, exchange),
        fake=fake,
        server_error_means_not_run=server_error_means_not_run,
    )


def binance_venue(order_entry: str = "ws", *, supervisor: dict[str, float] | None = None) -> VenueUnderTest:
    """Binance with an HMAC key; orders, OCO exits and cancels over the WebSocket API order session
    (``order_entry: ws``, the default) or by REST only. ``supervisor``: the session's reconnect settings."""
    from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance

    fake = FakeBinance(symbols=["BTC/USDT"]).__enter__()
    secrets = Secrets(
        autohedge_binance_api_key=SecretStr(API_KEY), autohedge_binance_api_secret=SecretStr(API_SECRET)
    )
    endpoints = {**endpoints_of(fake), "order_entry": order_entry}
    return _real_venue("binance", fake, "BTC/USDT", endpoints, secrets, supervisor=supervisor)


def binance_ed25519_venue() -> VenueUnderTest:
    """Binance with an Ed25519 key: REST signed with it, the user stream logs the session on."""
    from tests.fakes.binance import FakeBinance
    from tests.fakes.binance_keys import ED25519_API_KEY, ED25519_KEY, ED25519_PRIVATE_PEM

    fake = FakeBinance(symbols=["BTC/USDT"]).__enter__()
    fake.register_ed25519(ED25519_API_KEY, ED25519_KEY.public_key())
    endpoints = {"rest_url": fake.rest_url, "ws_url": fake.ws_url, "user_ws_url": fake.user_ws_url}
    secrets = Secrets(
        autohedge_binance_api_key=SecretStr(ED25519_API_KEY),
        autohedge_binance_api_secret=SecretStr(ED25519_PRIVATE_PEM),
    )
    return _real_venue("binance", fake, "BTC/USDT", endpoints, secrets)


def alpaca_venue() -> VenueUnderTest:
    from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca

    fake = FakeAlpaca(crypto=["BTC/USD"]).__enter__()
    secrets = Secrets(
        autohedge_alpaca_api_key_id=SecretStr(KEY_ID), autohedge_alpaca_api_secret_key=SecretStr(SECRET_KEY)
    )
    return _real_venue("alpaca", fake, "BTC/USD", fake.endpoints, secrets)


def coinbase_venue() -> VenueUnderTest:
    from tests.fakes.coinbase import API_KEY, API_SECRET, FakeCoinbase

    fake = FakeCoinbase(products=["BTC/USD"]).__enter__()
    secrets = Secrets(
        autohedge_coinbase_api_key=SecretStr(API_KEY), autohedge_coinbase_api_secret=SecretStr(API_SECRET)
    )
    return _real_venue("coinbase", fake, "BTC/USD", endpoints_of(fake), secrets)


def kraken_venue() -> VenueUnderTest:
    from tests.fakes.kraken import API_KEY, API_SECRET, FakeKraken

    fake = FakeKraken(pairs=["BTC/USD"]).__enter__()
    secrets = Secrets(
        autohedge_kraken_api_key=SecretStr(API_KEY), autohedge_kraken_api_secret=SecretStr(API_SECRET)
    )
    # Kraken has no spot sandbox: its endpoints count as live, so the opt-in is part of its config.
    return _real_venue(
        "kraken", fake, "BTC/USD", endpoints_of(fake), secrets, live=True, server_error_means_not_run=True
    )


VENUES: dict[str, Callable[[], VenueUnderTest]] = {
    "paper": paper_venue,
    "binance": binance_venue,
    "binance-rest": lambda: binance_venue("rest"),
    "binance-ed25519": binance_ed25519_venue,
    "alpaca": alpaca_venue,
    "coinbase": coinbase_venue,
    "kraken": kraken_venue,
}


@pytest.fixture(params=sorted(VENUES))
def venue(request: pytest.FixtureRequest) -> Iterator[VenueUnderTest]:
    under_test = VENUES[request.param]()
    try:
        yield under_test
    finally:
        under_test.close()
