"""`autohedge run` against the local Coinbase fake: JWT-signed REST, TP limits with the SL guarded by the
monitor, a holding adopted at start-up, a dropped stream and a lost order response survived without a
duplicate and without a restart from venue pushback; rejected keys exit 2 naming the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from autohedge.core.types import Side
from tests.e2e.market import Market
from tests.fakes.coinbase import API_KEY, API_SECRET, FakeCoinbase

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, fake: FakeCoinbase, **changes: Any) -> Path:
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    config.update(
        {
            "exchange": {"venue": "coinbase", "market_data": "coinbase"},
            "symbols": ["BTC/USD"],
            "symbol_overrides": {},
            "synthetic": {"symbols": {}},
            "api": {"enabled": False},
            "feed": {"stale_after_s": 5},
            "venues": {"coinbase": {"rest_url": fake.rest_url, "ws_url": fake.ws_url}},
            "supervisor": {**config["supervisor"], "min_backoff_s": 0.2, "random_factor": 0},
            **changes,
        }
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run(path: Path, *args: str, secret_key: str = API_SECRET) -> subprocess.Popen[str]:
    env = {**os.environ, "AUTOHEDGE_COINBASE_API_KEY": API_KEY, "AUTOHEDGE_COINBASE_API_SECRET": secret_key}
    return subprocess.Popen(
        [sys.executable, "-m", "autohedge.cli", "run", "--config", str(path), *args],
        cwd=path.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_coinbase_end_to_end_against_the_fake(tmp_path: Path) -> None:
    with FakeCoinbase(products=["BTC/USD"]) as fake, Market(fake.push_quote, "BTC/USD", seed=11):
        fake.hold("BTC", Decimal("0.002"))  # a holding this process did not open
        summary = tmp_path / "summary.json"
        proc = run(write_config(tmp_path, fake), "--duration", "12", "--summary-json", str(summary))
        assert proc.stdout is not None
        log: list[str] = []
        dropped = lost = False
        for line in proc.stdout:
            log.append(line)
            if not lost and "strategies_started" in line:
                fake.faults.lose_next_order_response = True
                lost = True
            if not dropped and "exit_armed" in line:
                fake.drop_clients()
                dropped = True
        proc.wait(timeout=30)
        output = "".join(log)
        assert proc.returncode == 0, output[-4000:]
        orders = fake.engine.all_orders()
        delays = fake.feed.protection_delays_s()

    data = json.loads(summary.read_text(encoding="utf-8"))
    assert data["counters"]["quotes"] > 100 and data["counters"]["exits_armed"] >= 2, output[-3000:]
    assert max(Counter(o.client_order_id for o in orders).values()) == 1
    exits = [o for o in orders if o.side is Side.SELL]
    assert exits and all(o.list_id is None for o in exits) and "TP limit + guarded SL" in output
    assert data["actors"]["feed:coinbase"]["state"] == "running"
    assert data["actors"]["executor"]["restarts"] == 0 and data["actors"]["monitor"]["restarts"] == 0
    assert fake.rejected_jwts == 0
    assert delays and sorted(delays)[int(0.99 * (len(delays) - 1))] <= 1.0, delays
    print(f"coinbase protection delays (s): {sorted(delays)}")


def test_coinbase_rejected_keys_exit_2_naming_the_variable(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with FakeCoinbase(products=["BTC/USD"]) as fake:
        proc = run(write_config(tmp_path, fake), "--duration", "5", secret_key=other.decode())
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2, output[-2000:]
    assert "AUTOHEDGE_COINBASE_API_KEY" in output and "BEGIN" not in output


def test_coinbase_dry_run_on_public_quotes_needs_no_keys(tmp_path: Path) -> None:
    with FakeCoinbase(products=["BTC/USD"]) as fake, Market(fake.push_quote, "BTC/USD", seed=5):
        path = write_config(
            tmp_path,
            fake,
            exchange={"venue": "paper", "market_data": "coinbase"},
            paper={"balances": {"USD": "10000"}},
        )
        summary = tmp_path / "summary.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOHEDGE_")}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "autohedge.cli",
                "run",
                "--config",
                str(path),
                "--duration",
                "6",
                "--summary-json",
                str(summary),
            ],
            check=False,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert json.loads(summary.read_text(encoding="utf-8"))["counters"]["quotes"] > 50
