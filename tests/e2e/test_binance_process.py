"""`autohedge run` against the local Binance fake: signed orders within the rules, OCO exits, a dropped
socket survived, a lost order response without a duplicate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from autohedge.core.actor_names import feed_name
from autohedge.core.child_states import ChildState
from tests.e2e.market import Market
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def test_binance_end_to_end_against_the_fake(tmp_path: Path) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake, Market(fake.push_quote, "BTC/USDT", seed=3):
        config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
        config.update(
            {
                "exchange": {"venue": "binance", "market_data": "binance"},
                "symbols": ["BTC/USDT"],
                "symbol_overrides": {},
                "synthetic": {"symbols": {}},
                "venues": {"binance": {"rest_url": fake.rest_url, "ws_url": fake.ws_url}},
                "api": {"enabled": False},
                "feed": {"stale_after_s": 5},
                "supervisor": {**config["supervisor"], "min_backoff_s": 0.2, "random_factor": 0},
            }
        )
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        summary = tmp_path / "summary.json"
        env = {**os.environ, "AUTOHEDGE_BINANCE_API_KEY": API_KEY, "AUTOHEDGE_BINANCE_API_SECRET": API_SECRET}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "autohedge.cli",
                "run",
                "--config",
                str(path),
                "--duration",
                "12",
                "--summary-json",
                str(summary),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        log: list[str] = []
        dropped = lost = False
        for line in proc.stdout:
            log.append(line)
            if not lost and "strategies_started" in line:
                fake.faults.lose_next_order_response = True  # the first entry's response will be lost
                lost = True
            if not dropped and "exit_armed" in line:
                fake.drop_clients()
                dropped = True
        proc.wait(timeout=30)
        output = "".join(log)
        assert proc.returncode == 0, output[-4000:]
        orders = fake.engine.all_orders()

    data = json.loads(summary.read_text(encoding="utf-8"))
    feed = feed_name("binance")
    assert data["counters"]["quotes"] > 100, output[-3000:]
    assert data["counters"]["exits_armed"] >= 1 and data["counters"]["orders_filled"] >= 1, output[-3000:]
    assert "order_outcome_unknown" in output and data["counters"]["outcome_unknown_resolved"] >= 1
    assert max(Counter(o.client_order_id for o in orders).values()) == 1  # no client id was ever placed twice
    assert any(o.list_id for o in orders)  # exits went out as OCO lists
    assert data["actors"][feed]["restarts"] >= 1 and data["actors"][feed]["state"] == ChildState.RUNNING
    for order in orders:  # every order within the symbol's rules
        assert order.price % Decimal("0.01") == 0 and order.qty % Decimal("0.000001") == 0


def test_dry_run_paper_execution_on_binance_public_quotes_needs_no_keys(tmp_path: Path) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake, Market(fake.push_quote, "BTC/USDT", seed=3):
        config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
        config.update(
            {
                "exchange": {"venue": "paper", "market_data": "binance"},
                "symbols": ["BTC/USDT"],
                "symbol_overrides": {},
                "synthetic": {"symbols": {}},
                "venues": {"binance": {"rest_url": fake.rest_url, "ws_url": fake.ws_url}},
                "api": {"enabled": False},
            }
        )
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        summary = tmp_path / "summary.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOHEDGE_BINANCE")}
        result = subprocess.run(
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
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        signed = [r for r in fake.requests() if "signature" in r[2]]
    data = json.loads(summary.read_text(encoding="utf-8"))
    assert data["counters"]["quotes"] > 100 and data["counters"]["orders_filled"] >= 1, result.stderr[-3000:]
    assert signed == []  # only public market data was asked of the venue
