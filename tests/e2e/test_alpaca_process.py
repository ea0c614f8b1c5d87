"""`autohedge run` against the local Alpaca fake: TP limits with the SL guarded by the monitor (no OCO),
a dropped stream survived, a lost order response without a duplicate."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from autohedge.core.actor_names import feed_name
from autohedge.core.child_states import ChildState
from autohedge.core.types import OrderType, Side
from tests.e2e.market import Market
from tests.e2e.process import run_with_venue_drills, venue_config
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca

pytestmark = pytest.mark.e2e


def test_alpaca_end_to_end_against_the_fake(tmp_path: Path) -> None:
    with FakeAlpaca(crypto=["BTC/USD"]) as fake, Market(fake.push_quote, "BTC/USD", seed=11):
        config = venue_config(tmp_path, "alpaca", ["BTC/USD"], fake.endpoints)
        env = {
            **os.environ,
            "AUTOHEDGE_ALPACA_API_KEY_ID": KEY_ID,
            "AUTOHEDGE_ALPACA_API_SECRET_KEY": SECRET_KEY,
        }
        run = run_with_venue_drills(fake, config, tmp_path, env)
        orders = fake.engine.all_orders()

    data, output = run.summary, run.output
    feed = feed_name("alpaca")
    assert data["counters"]["quotes"] > 100 and data["counters"]["exits_armed"] >= 1, output[-3000:]
    assert "order_outcome_unknown" in output and data["counters"]["outcome_unknown_resolved"] >= 1
    assert max(Counter(o.client_order_id for o in orders).values()) == 1
    exits = [o for o in orders if o.side is Side.SELL]
    assert exits and all(o.list_id is None for o in exits) and "TP limit + guarded SL" in output
    assert not any(o.order_type is OrderType.STOP_LIMIT for o in exits)
    assert data["actors"][feed]["restarts"] >= 1 and data["actors"][feed]["state"] == ChildState.RUNNING
