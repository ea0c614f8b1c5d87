"""`autohedge run` against venue fakes that push back: a 20 s ban ends with zero restarts, no kill switch
and every position protected; missing or rejected keys exit 2 naming the variable; a fill's exit reaches
the venue within 1 s (p99) while entries are placed for another symbol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from autohedge.core.types import OrderStatus, Side
from tests.e2e.market import Market
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
BINANCE_KEYS = {"AUTOHEDGE_BINANCE_API_KEY": API_KEY, "AUTOHEDGE_BINANCE_API_SECRET": API_SECRET}
ALPACA_KEYS = {"AUTOHEDGE_ALPACA_API_KEY_ID": KEY_ID, "AUTOHEDGE_ALPACA_API_SECRET_KEY": SECRET_KEY}
BAN_S = 20


def write_config(tmp_path: Path, overrides: Mapping[str, Any]) -> Path:
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    config.update(
        {
            "symbol_overrides": {},
            "synthetic": {"symbols": {}},
            "api": {"enabled": False},
            "feed": {"stale_after_s": 5},
            "supervisor": {**config["supervisor"], "min_backoff_s": 0.2, "random_factor": 0},
            **overrides,
        }
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def clean_env(keys: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOHEDGE_BINANCE", "AUTOHEDGE_ALPACA"))}
    return {**env, **keys}


def run(
    tmp_path: Path, config: Path, env: Mapping[str, str], duration_s: float, on_line: Callable[[str], None]
) -> tuple[int, str, dict[str, Any]]:
    summary = tmp_path / "summary.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autohedge.cli",
            "run",
            "--config",
            str(config),
            "--duration",
            str(duration_s),
            "--summary-json",
            str(summary),
        ],
        cwd=tmp_path,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    log: list[str] = []
    for line in proc.stdout:
        log.append(line)
        on_line(line)
    proc.wait(timeout=60)
    output = "".join(log)
    data = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() else {}
    return proc.returncode, output, data


def assert_survived_the_ban(code: int, output: str, data: dict[str, Any], venue: str) -> None:
    assert code == 0, output[-4000:]
    assert not data["kill_switch"] and data["parked_symbols"] == [], output[-4000:]
    assert {name: a["restarts"] for name, a in data["actors"].items()} == {
        name: 0 for name in data["actors"]
    }, output[-4000:]
    assert all(p["protected"] for p in data["positions"]), output[-4000:]
    assert data["venues"][venue]["rate_limited_until"] is not None
    assert data["venues"][venue]["rate_limit_events"] >= 1


class BanDrill:
    """Bans the client at the first armed exit; collects what the process logs once the ban is over."""

    def __init__(self, ban: Callable[[int], None]) -> None:
        self._ban = ban
        self.ends_at: float | None = None
        self.after: list[str] = []

    def __call__(self, line: str) -> None:
        if self.ends_at is None and "exit_armed" in line:
            self._ban(BAN_S)
            self.ends_at = time.monotonic() + BAN_S
        elif self.ends_at is not None and time.monotonic() > self.ends_at:
            self.after.append(line)

    def assert_trading_resumed(self, output: str) -> None:
        assert self.ends_at is not None, output[-3000:]
        assert any("order_placed" in line or "exit_armed" in line for line in self.after), output[-3000:]


def assert_held_is_covered(engine: Any, symbols: list[str], output: str) -> None:
    """On the venue itself: every holding above the lot step has resting sells, never more than held."""
    for position in engine.positions(symbols):
        if position.qty < Decimal("0.000001"):
            continue  # dust below the lot step cannot be sold
        sells = [o for o in engine.open_orders(position.symbol) if o.side is Side.SELL]
        assert sells, f"{position.symbol}: {position.qty} held without an exit\n{output[-6000:]}"
        assert max(o.qty - o.filled_qty for o in sells) <= position.qty


def test_binance_ban_of_20_s_ends_with_no_restart_and_everything_protected(tmp_path: Path) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake, Market(fake.push_quote, "BTC/USDT", seed=3):
        config = write_config(
            tmp_path,
            {
                "exchange": {"venue": "binance", "market_data": "binance"},
                "symbols": ["BTC/USDT"],
                "venues": {"binance": {"rest_url": fake.rest_url, "ws_url": fake.ws_url}},
            },
        )
        drill = BanDrill(fake.ban)
        code, output, data = run(tmp_path, config, clean_env(BINANCE_KEYS), BAN_S + 12, drill)
        assert_survived_the_ban(code, output, data, "binance")
        drill.assert_trading_resumed(output)
        assert fake.answered_418 <= 3  # it stopped sending at the first 418, not a retry storm
        assert_held_is_covered(fake.engine, ["BTC/USDT"], output)


def test_alpaca_pause_of_20_s_ends_with_no_restart_and_everything_protected(tmp_path: Path) -> None:
    with FakeAlpaca(crypto=["BTC/USD"]) as fake, Market(fake.push_quote, "BTC/USD", seed=11):
        config = write_config(
            tmp_path,
            {
                "exchange": {"venue": "alpaca", "market_data": "alpaca"},
                "symbols": ["BTC/USD"],
                "venues": {
                    "alpaca": {
                        "rest_url": fake.rest_url,
                        "data_rest_url": fake.rest_url,
                        "ws_url": fake.crypto_ws_url,
                    }
                },
            },
        )
        drill = BanDrill(fake.ban)
        code, output, data = run(tmp_path, config, clean_env(ALPACA_KEYS), BAN_S + 12, drill)
        assert_survived_the_ban(code, output, data, "alpaca")
        drill.assert_trading_resumed(output)
        assert fake.answered_429 <= 3  # Remaining 0 until Reset: nothing sent until then
        assert_held_is_covered(fake.engine, ["BTC/USD"], output)


@pytest.mark.parametrize(
    ("keys", "reason"),
    [({}, "missing"), ({**BINANCE_KEYS, "AUTOHEDGE_BINANCE_API_KEY": "wrong"}, "rejected")],
)
def test_binance_run_with_bad_keys_exits_2_naming_the_variable(
    tmp_path: Path, keys: dict[str, str], reason: str
) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake:
        config = write_config(
            tmp_path,
            {
                "exchange": {"venue": "binance", "market_data": "binance"},
                "symbols": ["BTC/USDT"],
                "venues": {"binance": {"rest_url": fake.rest_url, "ws_url": fake.ws_url}},
            },
        )
        result = subprocess.run(
            [sys.executable, "-m", "autohedge.cli", "run", "--config", str(config), "--duration", "5"],
            cwd=tmp_path,
            env=clean_env(keys),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        orders = fake.engine.all_orders()
    assert result.returncode == 2, f"{reason}: {result.stderr[-2000:]}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AUTOHEDGE_BINANCE_API_KEY" in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr and orders == ()


def test_alpaca_run_without_keys_exits_2_naming_the_variable(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "exchange": {"venue": "alpaca", "market_data": "alpaca"},
            "symbols": ["BTC/USD"],
            "venues": {"alpaca": {"rest_url": "http://127.0.0.1:9", "ws_url": "ws://127.0.0.1:9"}},
        },
    )
    result = subprocess.run(
        [sys.executable, "-m", "autohedge.cli", "run", "--config", str(config), "--duration", "5"],
        cwd=tmp_path,
        env=clean_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AUTOHEDGE_ALPACA_API_KEY_ID" in lines[0], result.stderr


def test_binance_exit_reaches_the_venue_within_1_s_of_the_fill_p99(tmp_path: Path) -> None:
    symbols = ["BTC/USDT", "ETH/USDT"]
    with ExitStack() as stack:
        fake = stack.enter_context(FakeBinance(symbols=symbols))
        stack.enter_context(Market(fake.push_quote, "BTC/USDT", seed=3))
        stack.enter_context(Market(fake.push_quote, "ETH/USDT", seed=5, start_price=Decimal(3000)))
        config = write_config(
            tmp_path,
            {
                "exchange": {"venue": "binance", "market_data": "binance"},
                "symbols": symbols,
                "venues": {"binance": {"rest_url": fake.rest_url, "ws_url": fake.ws_url}},
            },
        )
        code, output, _data = run(tmp_path, config, clean_env(BINANCE_KEYS), 20, lambda _line: None)
        orders = fake.engine.all_orders()
        posted = list(fake.posted_at)
    assert code == 0, output[-4000:]
    exits = [(t, p["symbol"]) for t, path, p in posted if path == "/api/v3/orderList/oco"]
    latencies = []
    for buy in orders:
        if buy.side is not Side.BUY or buy.status is not OrderStatus.FILLED:
            continue
        filled_s = buy.ts_event / 1e9
        venue_symbol = buy.symbol.replace("/", "")
        after = [t for t, s in exits if s == venue_symbol and t >= filled_s]
        assert after, f"{buy.client_order_id} filled at {filled_s} without an exit"
        latencies.append(min(after) - filled_s)
    assert len(latencies) >= 2, output[-3000:]
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"fill -> exit at the venue: n={len(latencies)} p50={latencies[len(latencies) // 2]:.3f}s p99={p99:.3f}s"
    )
    assert p99 < 1.0, latencies
