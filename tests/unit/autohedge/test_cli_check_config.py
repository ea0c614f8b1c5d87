from pathlib import Path

import pytest

from autohedge.cli import main

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config.yaml"


def test_check_config_valid_file_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(REPO_CONFIG)]) == 0
    assert "ok" in capsys.readouterr().out


def test_check_config_bad_value_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("defaults:\n  stop_loss_pct: 150\n", encoding="utf-8")
    assert main(["check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("config error: defaults.stop_loss_pct:")


def test_run_bad_config_exits_2_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "symbols: [BTC/USDT]\nsymbol_overrides:\n  ETH/USDT: {order_amount: 5}\n", encoding="utf-8"
    )
    assert main(["run", "--config", str(config), "--duration", "1"]) == 2
    assert "symbol_overrides.ETH/USDT" in capsys.readouterr().err


def test_check_config_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("venue", "url"), [("binance", "https://api.binance.com"), ("alpaca", "https://api.alpaca.markets")]
)
def test_run_live_endpoint_without_opt_in_refuses_with_exit_2(
    venue: str, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"exchange: {{venue: {venue}, market_data: {venue}}}\nsymbols: [BTC/USD]\n"
        f"venues: {{{venue}: {{rest_url: '{url}', ws_url: 'wss://127.0.0.1:9'}}}}\napi: {{enabled: false}}\n",
        encoding="utf-8",
    )
    assert main(["run", "--config", str(config), "--duration", "1"]) == 2
    assert "exchange.live" in capsys.readouterr().err


@pytest.mark.parametrize("venue", ["binance", "kraken"])
def test_check_config_live_endpoint_without_opt_in_exits_2_as_run_does(
    venue: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # check-config said ok for a file that run then refused for the file's own content (exit 2).
    config = tmp_path / "c.yaml"
    endpoints = "venues: {binance: {rest_url: 'https://api.binance.com', ws_url: 'wss://127.0.0.1:9'}}\n"
    config.write_text(
        f"exchange: {{venue: {venue}, market_data: {venue}}}\nsymbols: [BTC/USD]\n{endpoints}",
        encoding="utf-8",
    )
    assert main(["check-config", "--config", str(config)]) == 2
    assert capsys.readouterr().err.startswith("config error: exchange.live:")
    config.write_text(
        f"exchange: {{venue: paper, market_data: {venue}}}\nsymbols: [BTC/USD]\n", encoding="utf-8"
    )
    assert main(["check-config", "--config", str(config)]) == 0  # a dry run on its public quotes
