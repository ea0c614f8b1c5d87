"""The schema of ``config.yaml`` and of the secrets taken from the environment.

Validation has two passes: pydantic checks types, ranges and unknown keys; ``_cross_checks`` then
checks rules that span fields (overrides only for traded symbols, a replay file that exists, ...).
Every failure becomes one ``ConfigError`` naming the key path, e.g.
``defaults.stop_loss_pct: must be less than 100``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from autohedge.core.backoff import Backoff
from autohedge.core.errors import ConfigError
from autohedge.core.types import FeeRate, Symbol, Venue, base_of, quote_of

__all__ = [
    "LOOPBACK_HOSTS",
    "ApiConfig",
    "AppConfig",
    "BinanceEndpoints",
    "ExchangeConfig",
    "ExecutorConfig",
    "FeedConfig",
    "HftConfig",
    "JournalConfig",
    "KrakenEndpoints",
    "LlmConfig",
    "MonitorConfig",
    "NotifyConfig",
    "PaperConfig",
    "PaperFaults",
    "Secrets",
    "SimulateConfig",
    "SupervisorConfig",
    "SymbolParams",
    "SyntheticConfig",
    "SyntheticSymbol",
    "UserStreamConfig",
    "VenueEndpoints",
    "VenuesConfig",
    "load_config",
]

Pct = Annotated[Decimal, Field(gt=0, lt=100)]
PositiveDecimal = Annotated[Decimal, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class _Model(BaseModel):
    # No infinite or NaN number: YAML's ``.inf`` (or ``1e400``) passed ``gt=0`` and crashed the actor
    # whose timer it set.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ExchangeConfig(_Model):
    venue: Venue = Venue.PAPER
    market_data: Literal["synthetic", "replay", "paper", "alpaca", "binance", "coinbase", "kraken"] = (
        "synthetic"
    )
    replay_file: Path | None = None
    """JSONL, one quote per line: {"symbol","bid","ask","bid_size","ask_size","ts_event"} (README)."""
    replay_speed: Annotated[float, Field(gt=0)] = 1.0
    replay_loop: bool = True
    live: bool = False
    """Explicit opt-in to trade on a venue's live endpoint."""


class SymbolParams(_Model):
    """The per-symbol trading parameters; ``symbol_overrides`` may set any subset of them."""

    take_profit_pct: Pct = Decimal("0.5")
    stop_loss_pct: Pct = Decimal("0.5")
    max_position_size: PositiveDecimal = Decimal(1000)
    """Largest position value in quote currency (at entry price)."""
    order_amount: PositiveDecimal = Decimal(100)
    """Entry size in quote currency."""


class SymbolOverride(_Model):
    take_profit_pct: Pct | None = None
    stop_loss_pct: Pct | None = None
    max_position_size: PositiveDecimal | None = None
    order_amount: PositiveDecimal | None = None


class HftConfig(_Model):
    min_edge_bps: Annotated[Decimal, Field(ge=0)] = Decimal(1)
    max_spread_bps: PositiveDecimal = Decimal(10)
    lookback_periods: Annotated[int, Field(ge=2, le=10_000)] = 20
    shared_runner: bool = True
    """Every symbol's rule is decided on one strategy runner thread, a feed batch at a time (one wake-up
    per batch, and the signals of a tick reach the executor as one message); false: one strategy actor
    thread per symbol, each woken for its own quotes. Each symbol is supervised on its own either way."""


class MonitorConfig(_Model):
    mode: Literal["quote", "polling"] = "quote"
    poll_interval_s: Annotated[float, Field(gt=0)] = 1.0
    orphan_retry_s: Annotated[float, Field(gt=0)] = 30.0
    orphan_max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    close_reprice_after_s: Annotated[float, Field(gt=0)] = 1.0
    """A close the bid has fallen below rests unsold: after this long it is cancelled and placed again at
    the new bid (well within the stop guard's budget, ``simulate.stop_budget_s``)."""
    max_unprotected_s: Annotated[float, Field(gt=0)] = 1.0
    """The promise, in seconds: a held quantity without resting exits (or a guarded stop) for longer
    than this is a violation (``autohedge simulate``); time inside a venue's Retry-After is excepted."""


class SupervisorConfig(_Model):
    min_backoff_s: Annotated[float, Field(gt=0)] = 0.5
    max_backoff_s: Annotated[float, Field(gt=0)] = 30.0
    random_factor: Annotated[float, Field(ge=0, le=10)] = 0.2
    reset_after_s: Annotated[float, Field(gt=0)] = 60.0
    max_restarts: Annotated[int, Field(ge=1)] = 5
    window_s: Annotated[float, Field(gt=0)] = 60.0
    seed: int | None = None

    @property
    def backoff(self) -> Backoff:
        """The restart and reconnect delays these settings give (the supervisor's, and every reconnect's)."""
        return Backoff(self.min_backoff_s, self.max_backoff_s, self.random_factor)


class FeedConfig(_Model):
    stale_after_s: Annotated[float, Field(gt=0)] = 10.0
    """Data-liveness watchdog: a feed silent this long is restarted and its venue's entries paused."""


class ExecutorConfig(_Model):
    order_poll_interval_s: Annotated[float, Field(gt=0)] = 0.25
    entry_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    """An entry not filled within this time is cancelled."""
    cancel_entries_on_stop: bool = True
    client_id_prefix: Annotated[str, Field(pattern=r"^[a-z0-9]{1,4}$")] = "ah"
    max_open_entries_per_symbol: Annotated[int, Field(ge=1)] = 1
    max_signal_age_s: Annotated[float, Field(gt=0)] = 5.0
    """An entry that waited for the venue (rate limited, banned, unreachable) is dropped once its signal
    is older than this."""
    submit_workers: Annotated[int, Field(ge=0, le=16)] = 10
    """Order senders per venue: entries decided together reach the venue concurrently (0: the executor
    sends each entry itself, one round trip after another). Ten: one per symbol of a ten-symbol tick
    (an idle sender is a parked thread)."""
    send_timeout_s: Annotated[float, Field(gt=0)] = 60.0
    """An entry handed to a sender with no answer within this (the sender died with it) is looked up at
    the venue by its client id, never sent again. Longer than any request's own timeout."""
    pipelined_entries: bool = True
    """Where the venue has an open order connection that takes several orders without waiting for their
    answers (Binance's WebSocket API order session), the executor writes the entries decided on one tick
    there together, in one write, instead of handing each to a sender; the senders take what it does not
    (the session down, the budget spent)."""


class UserStreamConfig(_Model):
    """Order events by push (the venue's private stream); REST only as a safety net."""

    safety_poll_interval_s: Annotated[float, Field(ge=5)] = 60.0
    """While the user stream is live, how often entries and exits are still checked by REST."""
    drop_grace_s: Annotated[float, Field(ge=0, le=30)] = 2.0
    """After the user stream drops, how long the monitor still sizes exits from the ledger and leaves
    the REST verification to the reconnect's sweep (0: read the venue from the first moment)."""
    dedupe_capacity: Annotated[int, Field(ge=100, le=10_000_000)] = 10_000
    """How many venue trade ids are remembered to drop a duplicated or replayed fill."""


class PaperFaults(_Model):
    reject_rate: Fraction = 0.0
    rate_limit_every_n: Annotated[int, Field(ge=0)] = 0
    outcome_unknown_rate: Fraction = 0.0
    latency_ms: Annotated[float, Field(ge=0)] = 0.0
    partial_fill_ratio: Fraction = 0.0
    """Share of a crossing order filled per quote (0 = fill completely at once)."""
    rate_limit_rate: Fraction = 0.0
    """Share of calls answered 429 with ``retry_after_s``; calls inside that window get 429 too."""
    ban_rate: Fraction = 0.0
    """Share of calls answered 418 (banned) for ``ban_s``; calls inside that window get 418 too."""
    retry_after_s: Annotated[float, Field(gt=0)] = 1.0
    ban_s: Annotated[float, Field(gt=0)] = 10.0
    outcome_unknown_after_share: Fraction = 0.5
    """Of the unknown outcomes, the share where the venue accepted the order and the response was lost."""


class PaperConfig(_Model):
    balances: dict[str, Annotated[Decimal, Field(ge=0)]] = Field(
        default_factory=lambda: {"USDT": Decimal(10_000)}
    )
    fee_rate: FeeRate = Decimal("0.001")
    fee_in_base: bool = True
    """Buy fees are taken from the bought asset (as on Binance without BNB), sells' from the quote."""
    oco: bool = True
    state_file: Path | None = None
    faults: PaperFaults = PaperFaults()
    seed: int = 7


class SyntheticSymbol(_Model):
    start_price: PositiveDecimal = Decimal(100)
    volatility_bps: Annotated[Decimal, Field(ge=0)] = Decimal(3)
    spread_bps: PositiveDecimal = Decimal(2)


class SyntheticConfig(_Model):
    seed: int = 42
    quotes_per_second: Annotated[float, Field(gt=0, le=100_000)] = 10.0
    symbols: dict[Symbol, SyntheticSymbol] = Field(default_factory=dict)


class SimulateConfig(_Model):
    """``autohedge simulate``: fault rates (all on by default) and the checker's budgets."""

    quotes_per_second: Annotated[float, Field(gt=0, le=20)] = 1.0
    """Per symbol; the symbols' quotes are spread evenly over each period."""
    reject_rate: Fraction = 0.01
    rate_limit_rate: Fraction = 0.001
    ban_rate: Fraction = 0.00005
    retry_after_s: Annotated[float, Field(gt=0)] = 2.0
    ban_s: Annotated[float, Field(gt=0)] = 10.0
    outcome_unknown_rate: Fraction = 0.01
    outcome_unknown_after_share: Fraction = 0.5
    latency_ms: Annotated[float, Field(ge=0, le=5000)] = 2.0
    """Simulated time each venue call takes (the clock moves while the calling actor waits)."""
    partial_fill_ratio: Fraction = 0.5
    fee_in_base: bool = True
    feed_disconnects_per_hour: Annotated[float, Field(ge=0)] = 1.0
    feed_stalls_per_hour: Annotated[float, Field(ge=0)] = 1.0
    feed_stall_s: Annotated[float, Field(gt=0)] = 25.0
    order_event_duplicate_rate: Fraction = 0.01
    order_event_delay_rate: Fraction = 0.01
    order_event_reorder_rate: Fraction = 0.01
    order_event_max_delay_s: Annotated[float, Field(gt=0)] = 2.0
    """Order events of the private stream: delivered twice, late (up to this long) or out of order."""
    handler_exception_rate: Fraction = 0.0001
    """Share of messages whose handler raises an injected exception (the actor crashes)."""
    crashes_per_hour: Annotated[float, Field(ge=0)] = 0.5
    """Whole-process crashes: the process is torn down and started again from the config."""
    stop_budget_s: Annotated[float, Field(gt=0)] = 5.0
    """After the bid crosses a position's stop, some sell must fill within this many seconds."""
    max_inbox_depth: Annotated[int, Field(ge=1)] = 1000
    max_restart_growth_threads: Annotated[int, Field(ge=0)] = 0
    max_restart_growth_rss_mb: Annotated[float, Field(ge=0)] = 16.0


_URL_SCHEMES = {
    "rest_url": ("https", "http"),
    "data_rest_url": ("https", "http"),
    "ws_url": ("wss", "ws"),
    "stocks_ws_url": ("wss", "ws"),
    "user_ws_url": ("wss", "ws"),
}


class VenueEndpoints(_Model):
    rest_url: str
    ws_url: str
    data_rest_url: str | None = None
    stocks_ws_url: str | None = None
    user_ws_url: str | None = None
    """The private order stream (Binance WebSocket API, Alpaca trading stream)."""
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    recv_window_ms: Annotated[int, Field(gt=0, le=60_000)] = 5000
    max_fee_rate: FeeRate | None = None
    """The highest fee the account can be charged, as a fraction (an account on a better fee tier than
    the venue's lowest); None: the adapter's figure for the venue's lowest tier. Entries are sized so
    that their value plus this share fits the free quote balance."""

    @field_validator(*_URL_SCHEMES)
    @classmethod
    def _scheme_and_host(cls, url: str | None, info: ValidationInfo) -> str | None:
        """A URL without its scheme (``api.binance.com``) was sent as plain http, API key header and all,
        and passed the live-endpoint check (no host read). The URL is never echoed: it may hold a token."""
        if not url and info.field_name not in ("rest_url", "ws_url"):
            return url  # none given: the adapter's own default
        schemes = _URL_SCHEMES[str(info.field_name)]
        try:
            parts = urlsplit(url or "")
            scheme, host = parts.scheme, parts.hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            scheme, host = "", None
        if scheme not in schemes or not host:
            raise ValueError(f"must be a {schemes[0]}:// (or {schemes[1]}://) URL with a host")
        return url


class BinanceEndpoints(VenueEndpoints):
    order_entry: Literal["ws", "rest"] = "ws"
    """How orders and cancels are sent: ``ws`` over an order session on the WebSocket API
    (``user_ws_url``; REST while it is not connected), or ``rest`` only."""


class KrakenEndpoints(VenueEndpoints):
    tier: Literal["starter", "intermediate", "pro"] = "starter"
    """The account's verification tier: it sets Kraken's REST call counter and per-pair order counter."""


class VenuesConfig(_Model):
    binance: BinanceEndpoints = BinanceEndpoints(
        rest_url="https://testnet.binance.vision",
        ws_url="wss://stream.testnet.binance.vision",
        user_ws_url="wss://ws-api.testnet.binance.vision/ws-api/v3",
    )
    alpaca: VenueEndpoints = VenueEndpoints(
        rest_url="https://paper-api.alpaca.markets",
        ws_url="wss://stream.data.alpaca.markets/v1beta3/crypto/us",
        data_rest_url="https://data.alpaca.markets",
        stocks_ws_url="wss://stream.data.alpaca.markets/v2/iex",
        user_ws_url="wss://paper-api.alpaca.markets/stream",
    )
    # Coinbase's REST sandbox serves static canned bodies (no matching) and Kraken has no spot testnet:
    # both default to their live endpoints, so trading there needs ``exchange.live: true``; a dry run
    # on their public quotes (``exchange.market_data``) needs neither keys nor the opt-in.
    coinbase: VenueEndpoints = VenueEndpoints(
        rest_url="https://api.coinbase.com/api/v3/brokerage",
        ws_url="wss://advanced-trade-ws.coinbase.com",
        user_ws_url="wss://advanced-trade-ws-user.coinbase.com",
    )
    kraken: KrakenEndpoints = KrakenEndpoints(
        rest_url="https://api.kraken.com",
        ws_url="wss://ws.kraken.com/v2",
        user_ws_url="wss://ws-auth.kraken.com/v2",
    )


class LlmConfig(_Model):
    model: str = "gpt-4o-mini"
    base_url: str = "https://api.openai.com/v1"
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "OPENAI_API_KEY"
    timeout_s: Annotated[float, Field(gt=0)] = 20.0
    max_calls_per_minute: Annotated[int, Field(ge=1)] = 30
    max_concurrent: Annotated[int, Field(ge=1, le=64)] = 2
    min_interval_per_symbol_s: Annotated[float, Field(ge=0)] = 30.0
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.0
    min_confidence: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.6")
    daily_token_budget: Annotated[int, Field(ge=0)] = 200_000
    record_file: Path | None = None
    replay_file: Path | None = None


class JournalConfig(_Model):
    enabled: bool = True
    path: Path = Path("state/journal.sqlite")
    """SQLite file (WAL); relative paths are relative to the config file's folder."""


class NotifyConfig(_Model):
    urls: tuple[SecretStr, ...] = ()
    """Notification targets (apprise URLs). Also taken from ``AUTOHEDGE_NOTIFY_URLS`` (space or comma
    separated). They often hold tokens: kept secret, never logged."""
    position_closed: bool = False
    """Also notify every closed position (kill switch, unprotected positions, bans always notify)."""
    daily_summary: bool = True
    """A summary of the UTC day (trades, P&L) when the day ends."""
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""API hosts served without a token (nothing off the machine reaches them)."""


class ApiConfig(_Model):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8787
    token_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "AUTOHEDGE_API_TOKEN"


class AppConfig(_Model):
    exchange: ExchangeConfig = ExchangeConfig()
    symbols: Annotated[tuple[Symbol, ...], Field(min_length=1)] = ("BTC/USDT",)
    strategy: Literal["hft", "llm", "hybrid"] = "hft"
    defaults: SymbolParams = SymbolParams()
    symbol_overrides: dict[Symbol, SymbolOverride] = Field(default_factory=dict)
    rate_limit_ms: Annotated[int, Field(ge=0)] = 250
    hft: HftConfig = HftConfig()
    monitor: MonitorConfig = MonitorConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    feed: FeedConfig = FeedConfig()
    executor: ExecutorConfig = ExecutorConfig()
    user_stream: UserStreamConfig = UserStreamConfig()
    paper: PaperConfig = PaperConfig()
    synthetic: SyntheticConfig = SyntheticConfig()
    venues: VenuesConfig = VenuesConfig()
    llm: LlmConfig = LlmConfig()
    api: ApiConfig = ApiConfig()
    simulate: SimulateConfig = SimulateConfig()
    journal: JournalConfig = JournalConfig()
    notify: NotifyConfig = NotifyConfig()
    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"] = "INFO"
    switch_interval_ms: Annotated[float, Field(gt=0, le=100)] = 5.0
    """How long a thread that wants the interpreter lock waits before the holder is made to hand it
    over (``sys.setswitchinterval``; 5 ms is the interpreter's own default). Shorter, a woken thread
    waits less for a reader busy with the stream, but a burst being decided is cut more often: 0.5 ms
    measured slower at the median (README, performance)."""

    @field_validator("symbols")
    @classmethod
    def _unique_symbols(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({s for s in symbols if symbols.count(s) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed more than once: each symbol may be listed once")
        return symbols

    def params_for(self, symbol: str) -> SymbolParams:
        """The defaults with this symbol's overrides applied (overrides win)."""
        override = self.symbol_overrides.get(symbol)
        if override is None:
            return self.defaults
        changes = {k: v for k, v in override.model_dump().items() if v is not None}
        return self.defaults.model_copy(update=changes)


class Secrets(BaseSettings):
    """Credentials, only from the environment or ``.env`` (the environment wins; given values win over
    both). Never logged: ``SecretStr`` masks them."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    autohedge_binance_api_key: SecretStr | None = None
    autohedge_binance_api_secret: SecretStr | None = None
    autohedge_alpaca_api_key_id: SecretStr | None = None
    autohedge_alpaca_api_secret_key: SecretStr | None = None
    autohedge_coinbase_api_key: SecretStr | None = None
    """The CDP API key name (``organizations/{org}/apiKeys/{id}``)."""
    autohedge_coinbase_api_secret: SecretStr | None = None
    """The key's EC P-256 private key, PEM (``\\n`` escapes accepted)."""
    autohedge_kraken_api_key: SecretStr | None = None
    autohedge_kraken_api_secret: SecretStr | None = None
    """The private key, base64 as Kraken shows it."""
    autohedge_notify_urls: SecretStr | None = None
    """Notification URLs (apprise), separated by spaces or commas; added to ``notify.urls``."""

    def __init__(self, **values: Any) -> None:
        # A ``.env`` that cannot be read is a configuration problem (exit 2), not a traceback.
        try:
            super().__init__(**values)
        except UnicodeDecodeError as exc:
            raise ConfigError(".env", f"not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            problem = exc.strerror or type(exc).__name__
            raise ConfigError(".env", f"cannot read the file ({problem})") from None


def _key_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def _refuse_repeated_keys(node: yaml.Node, path: str, visited: set[int]) -> None:
    """A key given twice in one mapping is refused: PyYAML keeps the last and drops the first unseen
    (two ``stop_loss_pct`` lines, the one read ran with)."""
    if id(node) in visited:  # an alias: its anchor was walked already
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            child = path
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                child = f"{path}.{key.value}" if path else key.value
                line = key.start_mark.line + 1
                first = lines.get((key.tag, key.value))
                if first is not None:
                    where = f"line {line}" if first == line else f"lines {first} and {line}"
                    raise ConfigError(child, f"given twice ({where}): keep one")
                lines[(key.tag, key.value)] = line
            _refuse_repeated_keys(value, child, visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_repeated_keys(item, f"{path}.{index}" if path else str(index), visited)


def _parse_yaml(text: str) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_repeated_keys(node, "", set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_config(path: str | Path) -> AppConfig:
    """Read, validate and cross-check ``path``. Raises ``ConfigError`` naming the key path."""
    file = Path(path)
    if file.is_dir():
        raise ConfigError(str(file), "a directory, not a config file")
    if not file.is_file():
        raise ConfigError(str(file), "config file not found")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(file), f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(str(file), f"cannot read the file ({exc.strerror or type(exc).__name__})") from None
    try:
        raw = _parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "unknown line"
        raise ConfigError(str(file), f"not valid YAML ({where})") from None
    return parse_config(raw if raw is not None else {}, base_dir=file.parent)


def parse_config(raw: Any, *, base_dir: Path | None = None) -> AppConfig:
    """Validate a mapping (the parsed YAML). ``base_dir`` resolves relative file paths."""
    if not isinstance(raw, dict):
        raise ConfigError("<root>", "the config must be a mapping of keys to values")
    try:
        config = AppConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        raise ConfigError(_key_path(first["loc"]), message) from None
    _cross_checks(config, base_dir or Path.cwd())
    return config


def _check_assets_held_once(symbols: tuple[str, ...]) -> None:
    """A spot position is the whole balance of its base asset, so each asset may be held by one traded
    symbol only: two symbols of one base would each track, and place exits for, what both hold (an exit
    beyond its own holding, refused, and its own fill left without one); a symbol whose base another
    spends as its quote would adopt and protect that symbol's capital, and lock it in its exits."""
    holder = {base_of(symbol): symbol for symbol in reversed(symbols)}  # the first symbol of each base
    for index, symbol in enumerate(symbols):
        base, quote = base_of(symbol), quote_of(symbol)
        if holder[base] != symbol:
            raise ConfigError(
                f"symbols.{index}", f"{symbol} and {holder[base]} both hold {base}: trade one of them"
            )
        if quote in holder:
            raise ConfigError(
                f"symbols.{index}",
                f"{symbol} spends {quote}, which {holder[quote]} holds as its position: trade one of them",
            )


def _order_amount_key(config: AppConfig, symbol: str) -> str:
    """The key that made ``symbol``'s order amount exceed its largest position: the override's own
    value when it sets one, else the default's (``symbol_overrides.order_amount`` named no key)."""
    override = config.symbol_overrides.get(symbol)
    for name in ("order_amount", "max_position_size"):
        if override is not None and getattr(override, name) is not None:
            return f"symbol_overrides.{symbol}.{name}"
    return "defaults.order_amount"


def _cross_checks(config: AppConfig, base_dir: Path) -> None:
    """Second pass: rules that span fields."""
    traded = set(config.symbols)
    for symbol in config.symbol_overrides:
        if symbol not in traded:
            raise ConfigError(f"symbol_overrides.{symbol}", "override for a symbol that is not in `symbols`")
    for symbol in config.synthetic.symbols:
        if symbol not in traded:
            raise ConfigError(
                f"synthetic.symbols.{symbol}", "synthetic settings for a symbol that is not traded"
            )
    _check_assets_held_once(config.symbols)
    for symbol in config.symbols:
        params = config.params_for(symbol)
        if params.order_amount > params.max_position_size:
            raise ConfigError(
                _order_amount_key(config, symbol), f"larger than max_position_size for {symbol}"
            )
    exchange = config.exchange
    if exchange.market_data == "replay":
        if exchange.replay_file is None:
            raise ConfigError("exchange.replay_file", "required when exchange.market_data is replay")
        replay = (
            exchange.replay_file if exchange.replay_file.is_absolute() else base_dir / exchange.replay_file
        )
        if not replay.is_file():
            raise ConfigError("exchange.replay_file", f"file not found: {replay}")
    if exchange.market_data == "paper":
        raise ConfigError(
            "exchange.market_data", "paper has no market data of its own; use synthetic or replay"
        )
    if config.supervisor.min_backoff_s > config.supervisor.max_backoff_s:
        raise ConfigError("supervisor.min_backoff_s", "must not exceed supervisor.max_backoff_s")
    if config.exchange.venue is not Venue.PAPER and config.exchange.market_data in ("synthetic", "replay"):
        raise ConfigError(
            "exchange.market_data", "a real venue trades on its own market data, not synthetic/replay"
        )
    for field in ("record_file", "replay_file"):
        value = getattr(config.llm, field)
        if field == "replay_file" and value is not None:
            replay = value if value.is_absolute() else base_dir / value
            if not replay.is_file():
                raise ConfigError("llm.replay_file", f"file not found: {replay}")
