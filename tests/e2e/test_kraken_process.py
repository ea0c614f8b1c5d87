"""`autohedge run` against the local Kraken fake (Pro tier counters): HMAC-signed REST with increasing
nonces, TP limits with the SL guarded by the monitor, a holding adopted at start-up, a dropped stream and
a lost order response survived without a duplicate and without a restart; every fill protected within
1 s (p99); rejected keys exit 2 naming the variable; a dry run on Kraken's public quotes needs no keys."""

from __future__ import annotations

import base64
import os
import subprocess
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from loguru import logger

from autohedge.core.types import Side
from tests.e2e.market import Market
from tests.e2e.process import autohedge, run_for, run_with_venue_drills, write_config
from tests.e2e.protection import p99, protection_delays_s
from tests.fakes.kraken import API_KEY, API_SECRET, FakeKraken

pytestmark = pytest.mark.e2e


def pro_tier_fake(pairs: list[str]) -> FakeKraken:
    """The Pro tier's counters, as the process is configured for."""
    return FakeKraken(
        pairs=pairs,
        rest_counter_max=20,
        rest_counter_decay_per_s=1.0,
        trading_counter_threshold=180,
        trading_counter_decay_per_s=3.75,
    )


"""Kraken's Pro tier: the drill trades (and re-arms exits) faster than the Starter tier's counters allow."""
STREAMS = ("feed:", "user_stream:")
KEYS = {"AUTOHEDGE_KRAKEN_API_KEY": API_KEY, "AUTOHEDGE_KRAKEN_API_SECRET": API_SECRET}


def kraken_config(tmp_path: Path, fake: FakeKraken, **changes: object) -> Path:
    return write_config(
        tmp_path,
        **{
            "exchange.venue": "kraken",
            "exchange.market_data": "kraken",
            "symbols": ["BTC/USD"],
            "symbol_overrides": {},
            "synthetic.symbols": {},
            "venues.kraken": {
                "rest_url": fake.rest_url,
                "ws_url": fake.ws_url,
                "user_ws_url": fake.user_ws_url,
                "tier": "pro",
            },
            "feed.stale_after_s": 5,
            "supervisor.min_backoff_s": 0.2,
            "supervisor.random_factor": 0,
            **changes,
        },
    )


def clean_env(keys: dict[str, str]) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AUTOHEDGE_")}, **keys}


def test_kraken_end_to_end_against_the_fake(tmp_path: Path) -> None:
    with pro_tier_fake(["BTC/USD"]) as fake, Market(fake.push_quote, "BTC/USD", seed=11):
        fake.hold("BTC", Decimal("0.002"))  # a holding this process did not open
        run = run_with_venue_drills(fake, kraken_config(tmp_path, fake), tmp_path, clean_env(KEYS))
        orders = fake.engine.all_orders()

    delays = protection_delays_s(run.output)
    counters, actors = run.summary["counters"], run.summary["actors"]
    assert counters["quotes"] > 100 and counters["exits_armed"] >= 2, run.output[-3000:]
    assert max(Counter(o.client_order_id for o in orders).values()) == 1
    exits = [o for o in orders if o.side is Side.SELL]
    assert exits and all(o.list_id is None for o in exits) and "TP limit + guarded SL" in run.output
    # Streams reconnect by restarting (the dropped-socket drill); nothing else may restart.
    assert all(a["restarts"] == 0 for name, a in actors.items() if not name.startswith(STREAMS)), actors
    assert actors["feed:kraken"]["state"] == "running" and fake.rejected_signatures == 0
    logger.info("kraken fill -> protected: n={} p99={:.3f}s", len(delays), p99(delays))
    assert delays and p99(delays) <= 1.0, sorted(delays)


def test_kraken_rejected_keys_exit_2_naming_the_variable(tmp_path: Path) -> None:
    other = base64.b64encode(b"some other private key").decode()
    with FakeKraken(pairs=["BTC/USD"]) as fake:
        result = subprocess.run(
            autohedge("run", "--config", str(kraken_config(tmp_path, fake)), "--duration", "5"),
            cwd=tmp_path,
            env=clean_env({**KEYS, "AUTOHEDGE_KRAKEN_API_SECRET": other}),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,  # the exit code is the assertion
        )
        orders = fake.engine.all_orders()
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AUTOHEDGE_KRAKEN_API_KEY" in lines[0], result.stderr
    assert other not in result.stdout + result.stderr and orders == ()


def test_kraken_dry_run_on_public_quotes_needs_no_keys(tmp_path: Path) -> None:
    with FakeKraken(pairs=["BTC/USD"]) as fake, Market(fake.push_quote, "BTC/USD", seed=5):
        config = kraken_config(
            tmp_path, fake, **{"exchange.venue": "paper", "paper.balances": {"USD": "10000"}}
        )
        run = run_for(config, tmp_path, 6, env=clean_env({}))
    assert run.summary["counters"]["quotes"] > 50 and fake.rejected_signatures == 0
