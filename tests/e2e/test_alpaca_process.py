"""`autohedge run` against the local Alpaca fake: TP limits with the SL guarded by the monitor (no OCO),
a dropped stream survived, a lost order response without a duplicate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from autohedge.core.actor_names import feed_name
from autohedge.core.child_states import ChildState
from autohedge.core.types import OrderType, Side
from tests.e2e.market import Market
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def test_alpaca_end_to_end_against_the_fake(tmp_path: Path) -> None:
    with FakeAlpaca(crypto=["BTC/USD"]) as fake, Market(fake.push_quote, "BTC/USD", seed=11):
        config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
        config.update(
            {
                "exchange": {"venue": "alpaca", "market_data": "alpaca"},
                "symbols": ["BTC/USD"],
                "symbol_overrides": {},
                "synthetic": {"symbols": {}},
                "api": {"enabled": False},
                "feed": {"stale_after_s": 5},
                "venues": {
                    "alpaca": {
                        "rest_url": fake.rest_url,
                        "data_rest_url": fake.rest_url,
                        "ws_url": fake.crypto_ws_url,
                    }
                },
                "supervisor": {**config["supervisor"], "min_backoff_s": 0.2, "random_factor": 0},
            }
        )
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        summary = tmp_path / "summary.json"
        env = {
            **os.environ,
            "AUTOHEDGE_ALPACA_API_KEY_ID": KEY_ID,
            "AUTOHEDGE_ALPACA_API_SECRET_KEY": SECRET_KEY,
        }
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
                fake.faults.lose_next_order_response = True
                lost = True
            if not dropped and "exit_armed" in line:
                fake.drop_clients()
                dropped = True
        proc.wait(timeout=30)
        output = "".join(log)
        assert proc.returncode == 0, output[-4000:]
        orders = fake.engine.all_orders()

    data = json.loads(summary.read_text(encoding="utf-8"))
    feed = feed_name("alpaca")
    assert data["counters"]["quotes"] > 100 and data["counters"]["exits_armed"] >= 1, output[-3000:]
    assert "order_outcome_unknown" in output and data["counters"]["outcome_unknown_resolved"] >= 1
    assert max(Counter(o.client_order_id for o in orders).values()) == 1
    exits = [o for o in orders if o.side is Side.SELL]
    assert exits and all(o.list_id is None for o in exits) and "TP limit + guarded SL" in output
    assert not any(o.order_type is OrderType.STOP_LIMIT for o in exits)
    assert data["actors"][feed]["restarts"] >= 1 and data["actors"][feed]["state"] == ChildState.RUNNING
