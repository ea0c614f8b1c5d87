from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from autohedge.core.config import Secrets, load_config, parse_config
from autohedge.core.errors import ConfigError

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config.yaml"


def test_config_repository_default_is_valid() -> None:
    config = load_config(REPO_CONFIG)
    assert config.exchange.venue.value == "paper"
    assert config.params_for("BTC/USDT").take_profit_pct != config.defaults.take_profit_pct  # override wins


@pytest.mark.parametrize(
    ("raw", "key_path"),
    [
        ({"bogus": 1}, "bogus"),
        ({"defaults": {"take_profit_pct": -1}}, "defaults.take_profit_pct"),
        ({"defaults": {"stop_loss_pct": 100}}, "defaults.stop_loss_pct"),
        ({"defaults": {"order_amount": "lots"}}, "defaults.order_amount"),
        ({"symbols": ["BTCUSDT"]}, "symbols.0"),
        (
            {"symbols": ["BTC/USDT"], "symbol_overrides": {"ETH/USDT": {"take_profit_pct": 1}}},
            "symbol_overrides.ETH/USDT",
        ),
        ({"exchange": {"market_data": "replay"}}, "exchange.replay_file"),
        ({"exchange": {"market_data": "replay", "replay_file": "missing.jsonl"}}, "exchange.replay_file"),
        ({"monitor": {"mode": "sometimes"}}, "monitor.mode"),
        ({"monitor": {"close_reprice_after_s": 0}}, "monitor.close_reprice_after_s"),
        ({"supervisor": {"min_backoff_s": 10, "max_backoff_s": 1}}, "supervisor.min_backoff_s"),
        ({"exchange": {"venue": "ftx"}}, "exchange.venue"),
    ],
)
def test_config_bad_value_names_the_key_path(raw: dict[str, Any], key_path: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, base_dir=tmp_path)
    assert info.value.key_path == key_path


def test_config_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("symbols: [BTC/USDT\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line"):
        load_config(bad)


def test_config_override_applies_only_given_fields() -> None:
    config = parse_config({"symbols": ["BTC/USDT"], "symbol_overrides": {"BTC/USDT": {"stop_loss_pct": 2}}})
    params = config.params_for("BTC/USDT")
    assert str(params.stop_loss_pct) == "2" and params.take_profit_pct == config.defaults.take_profit_pct


def test_secrets_come_from_the_environment_over_dotenv_and_given_values_over_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in Secrets.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    (tmp_path / ".env").write_text(
        'AUTOHEDGE_BINANCE_API_KEY="from-file"\n'
        "AUTOHEDGE_BINANCE_API_SECRET=file-secret\n"
        "UNRELATED=ignored\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AUTOHEDGE_BINANCE_API_KEY", "from-env")
    monkeypatch.setenv("autohedge_kraken_api_key", "lower-case-name")

    secrets = Secrets()

    assert secrets.autohedge_binance_api_key is not None
    assert secrets.autohedge_binance_api_key.get_secret_value() == "from-env"
    assert secrets.autohedge_binance_api_secret is not None
    assert secrets.autohedge_binance_api_secret.get_secret_value() == "file-secret"
    assert secrets.autohedge_kraken_api_key is not None
    assert secrets.autohedge_kraken_api_key.get_secret_value() == "lower-case-name"
    assert secrets.autohedge_alpaca_api_key_id is None
    assert "from-env" not in repr(secrets)
    given = Secrets(autohedge_binance_api_key=SecretStr("given"))
    assert given.autohedge_binance_api_key is not None
    assert given.autohedge_binance_api_key.get_secret_value() == "given"


def test_the_switch_interval_is_the_interpreters_unless_set_and_a_bad_one_names_its_key() -> None:
    assert parse_config({}).switch_interval_ms == 5.0
    assert parse_config({"switch_interval_ms": 2}).switch_interval_ms == 2
    with pytest.raises(ConfigError) as info:
        parse_config({"switch_interval_ms": 0})
    assert "switch_interval_ms" in str(info.value)


@pytest.mark.parametrize(
    ("symbols", "key", "message"),
    [
        (["BTC/USDT", "ETH/USDT", "BTC/USDC"], "symbols.2", "BTC/USDC and BTC/USDT both hold BTC"),
        (["ETH/BTC", "BTC/USDT"], "symbols.0", "ETH/BTC spends BTC, which BTC/USDT holds as its position"),
    ],
)
def test_each_asset_is_held_by_one_traded_symbol_only(symbols: list[str], key: str, message: str) -> None:
    # A spot position is the whole balance of its base asset: a second holder would exit it too.
    with pytest.raises(ConfigError) as info:
        parse_config({"symbols": symbols})
    assert info.value.key_path == key and message in str(info.value)
    assert parse_config({"symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDC"]}).symbols[2] == "SOL/USDC"


@pytest.mark.parametrize(
    ("text", "key_path"),
    [
        ("monitor:\n  poll_interval_s: .inf\n", "monitor.poll_interval_s"),
        ("executor:\n  entry_timeout_s: 1e400\n", "executor.entry_timeout_s"),
    ],
)
def test_config_infinite_or_nan_float_names_the_key_path(text: str, key_path: str, tmp_path: Path) -> None:
    # Accepted before: check-config said ok, and `run` crash-looped the monitor (OverflowError in its timer).
    config = tmp_path / "c.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert info.value.key_path == key_path


def test_config_symbol_listed_twice_names_symbols(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"symbols": ["BTC/USDT", "ETH/USDT", "BTC/USDT"]}, base_dir=tmp_path)
    assert info.value.key_path.startswith("symbols") and "BTC/USDT" in info.value.problem


def test_config_file_not_utf8_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"symbols: [\xff\xfe]\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.key_path == str(bad) and "UTF-8" in info.value.problem


@pytest.mark.parametrize(
    ("text", "key_path", "lines"),
    [
        ("defaults:\n  stop_loss_pct: 0.3\n  stop_loss_pct: 3\n", "defaults.stop_loss_pct", "lines 2 and 3"),
        ("symbols: [BTC/USDT]\nstrategy: hft\nsymbols: [ETH/USDT]\n", "symbols", "lines 1 and 3"),
        ("paper:\n  balances: {USDT: 1, USDT: 2}\n", "paper.balances.USDT", "line 2"),
    ],
)
def test_config_key_given_twice_names_the_key_and_both_lines(
    text: str, key_path: str, lines: str, tmp_path: Path
) -> None:
    # The YAML reader kept the last of two and dropped the first unseen: check-config said ok.
    config = tmp_path / "c.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert info.value.key_path == key_path and lines in info.value.problem


def test_config_anchors_and_merge_keys_are_not_taken_for_repeated_keys(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "symbols: [BTC/USDT, ETH/USDT]\nsymbol_overrides:\n  BTC/USDT: &tight {stop_loss_pct: 0.2}\n"
        "  ETH/USDT:\n    <<: *tight\n    take_profit_pct: 0.4\n",
        encoding="utf-8",
    )
    assert load_config(config).params_for("ETH/USDT").take_profit_pct == Decimal("0.4")


def test_config_path_that_is_a_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.key_path == str(tmp_path) and "directory" in info.value.problem


def test_secrets_from_a_dotenv_not_utf8_is_a_config_error_without_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It left the process with a UnicodeDecodeError traceback (exit 1) before anything was checked.
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes(b"AUTOHEDGE_BINANCE_API_KEY=hidden-key-\xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        Secrets()
    assert info.value.key_path == ".env" and "UTF-8" in info.value.problem
    assert "hidden-key" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "key_path"),
    [
        ({"defaults": {"order_amount": 2000}}, "defaults.order_amount"),
        (
            {"defaults": {"order_amount": 2000}, "symbol_overrides": {"BTC/USDT": {"take_profit_pct": 1}}},
            "defaults.order_amount",
        ),
        (
            {"symbol_overrides": {"BTC/USDT": {"order_amount": 5000}}},
            "symbol_overrides.BTC/USDT.order_amount",
        ),
        (
            {"symbol_overrides": {"BTC/USDT": {"max_position_size": 50}}},
            "symbol_overrides.BTC/USDT.max_position_size",
        ),
    ],
)
def test_config_order_amount_above_the_largest_position_names_the_key_that_set_it(
    raw: dict[str, Any], key_path: str
) -> None:
    # It named `symbol_overrides.order_amount` (no such key) for any symbol with an override.
    with pytest.raises(ConfigError) as info:
        parse_config({"symbols": ["BTC/USDT"], **raw})
    assert info.value.key_path == key_path and "BTC/USDT" in info.value.problem


@pytest.mark.parametrize(
    ("endpoints", "key_path"),
    [
        ({"rest_url": "api.binance.com", "ws_url": "wss://stream.binance.com"}, "venues.binance.rest_url"),
        (
            {"rest_url": "https://api.binance.com", "ws_url": "stream.binance.com:9443"},
            "venues.binance.ws_url",
        ),
        (
            {"rest_url": "wss://api.binance.com", "ws_url": "wss://stream.binance.com"},
            "venues.binance.rest_url",
        ),
        ({"rest_url": "https://:443", "ws_url": "wss://stream.binance.com"}, "venues.binance.rest_url"),
        ({"rest_url": "https://[::1", "ws_url": "wss://stream.binance.com"}, "venues.binance.rest_url"),
        (
            {"rest_url": "https://a.b", "ws_url": "wss://a.b", "user_ws_url": "hidden-token@ws-api.b/ws"},
            "venues.binance.user_ws_url",
        ),
    ],
)
def test_config_venue_url_without_scheme_or_host_names_the_key_and_never_echoes_it(
    endpoints: dict[str, str], key_path: str
) -> None:
    # `rest_url: api.binance.com` passed: requests went out as plain http (API key header included)
    # and the live-endpoint check, which reads the host, let it through without exchange.live.
    with pytest.raises(ConfigError) as info:
        parse_config({"venues": {"binance": endpoints}})
    assert info.value.key_path == key_path and "URL with a host" in info.value.problem
    assert all(url not in str(info.value) for url in endpoints.values())


def test_config_venue_urls_of_the_right_kind_and_unset_optional_ones_pass() -> None:
    venues = parse_config(
        {
            "venues": {
                "binance": {
                    "rest_url": "http://127.0.0.1:9",
                    "ws_url": "ws://127.0.0.1:9",
                    "user_ws_url": "",
                },
                "alpaca": {
                    "rest_url": "https://a.example",
                    "ws_url": "wss://b.example/x",
                    "data_rest_url": None,
                },
            }
        }
    ).venues
    assert venues.binance.user_ws_url == "" and venues.alpaca.data_rest_url is None
