"""`autohedge run` against the local Binance fake: signed orders within the rules over the WebSocket API,
OCO exits, a dropped socket survived, a connection dropped mid-request without a duplicate order."""

from __future__ import annotations

import os
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from autohedge.core.actor_names import feed_name
from autohedge.core.child_states import ChildState
from tests.e2e.market import Market
from tests.e2e.process import run_for, run_watching, run_with_venue_drills, write_config
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance
from tests.fakes.venue_server import endpoints_of

pytestmark = pytest.mark.e2e


def binance_config(tmp_path: Path, fake: FakeBinance, **changes: object) -> Path:
    return write_config(
        tmp_path,
        **{
            "exchange.market_data": "binance",
            "symbols": ["BTC/USDT"],
            "symbol_overrides": {},
            "synthetic.symbols": {},
            "venues.binance": endpoints_of(fake),
            **changes,
        },
    )


def test_binance_end_to_end_against_the_fake(tmp_path: Path) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake, Market(fake.push_quote, "BTC/USDT", seed=3):
        config = binance_config(
            tmp_path,
            fake,
            **{
                "exchange.venue": "binance",
                "feed.stale_after_s": 5,
                "supervisor.min_backoff_s": 0.2,
                "supervisor.random_factor": 0,
            },
        )
        env = {**os.environ, "AUTOHEDGE_BINANCE_API_KEY": API_KEY, "AUTOHEDGE_BINANCE_API_SECRET": API_SECRET}
        run = run_with_venue_drills(fake, config, tmp_path, env)
        orders = fake.engine.all_orders()

    data, output, feed = run.summary, run.output, feed_name("binance")
    assert data["counters"]["quotes"] > 100, output[-3000:]
    assert data["counters"]["exits_armed"] >= 1 and data["counters"]["orders_filled"] >= 1, output[-3000:]
    assert "order_outcome_unknown" in output and data["counters"]["outcome_unknown_resolved"] >= 1
    assert max(Counter(o.client_order_id for o in orders).values()) == 1  # no client id was ever placed twice
    assert any(o.list_id for o in orders)  # exits went out as OCO lists
    # Orders went over the WebSocket API's order session; the lost answer was its connection dropping
    # right after the venue accepted the entry, and the lookup by client id found it (no second one).
    assert fake.user.dropped_after_accept == 1, output[-3000:]
    # (Exits go by REST while the session waits out its reconnect interval after the drop.)
    ws_methods = {method for _, method, _ in fake.user.arrivals}
    assert "order.place" in ws_methods, output[-3000:]
    assert ws_methods <= {"order.place", "orderList.place.oco"}
    assert data["actors"][feed]["restarts"] >= 1 and data["actors"][feed]["state"] == ChildState.RUNNING
    for order in orders:  # every order within the symbol's rules
        assert order.price % Decimal("0.01") == 0 and order.qty % Decimal("0.000001") == 0


def test_dry_run_paper_execution_on_binance_public_quotes_needs_no_keys(tmp_path: Path) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake, Market(fake.push_quote, "BTC/USDT", seed=3):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOHEDGE_BINANCE")}
        run = run_for(binance_config(tmp_path, fake, **{"exchange.venue": "paper"}), tmp_path, 6, env=env)
        signed = [r for r in fake.requests() if "signature" in r[2]]
    counters = run.summary["counters"]
    assert counters["quotes"] > 100 and counters["orders_filled"] >= 1, run.output[-3000:]
    assert signed == []  # only public market data was asked of the venue


def keys_env() -> dict[str, str]:
    return {**os.environ, "AUTOHEDGE_BINANCE_API_KEY": API_KEY, "AUTOHEDGE_BINANCE_API_SECRET": API_SECRET}


def skew_config(tmp_path: Path, fake: FakeBinance) -> Path:
    """Trading on the fake with a 3 s recvWindow: 5 s of skew is outside it whatever the loopback's
    latency, so every signed request on the local clock alone would be refused with -1021."""
    return binance_config(
        tmp_path,
        fake,
        **{
            "exchange.venue": "binance",
            "venues.binance.recv_window_ms": 3000,
            "supervisor.min_backoff_s": 0.2,
            "supervisor.random_factor": 0,
        },
    )


def test_binance_venue_clock_five_seconds_ahead_fills_arrive_by_push_without_restarts(tmp_path: Path) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake, Market(fake.push_quote, "BTC/USDT", seed=3):
        fake.faults.clock_skew_s = 5.0
        run = run_for(skew_config(tmp_path, fake), tmp_path, 10, env=keys_env())
        subscriptions, time_reads = fake.user.subscriptions, len(fake.requests("/api/v3/time"))

    data, output = run.summary, run.output
    counters = data["counters"]
    assert subscriptions >= 1 and counters["order_events"] >= 1, output[-3000:]  # the private stream is up
    assert counters["orders_filled"] >= 1, output[-3000:]
    assert all(actor["restarts"] == 0 for actor in data["actors"].values()), data["actors"]
    # signed on the offset the start-up read measured: the first subscription went through
    assert data["venues"]["binance"]["user_stream_reconnects"] == 0, output[-3000:]
    assert time_reads <= 2  # the credentials check's own client, then the trading adapter's start-up read


def test_binance_venue_clock_jumps_ahead_mid_run_the_user_stream_resyncs_and_resubscribes(
    tmp_path: Path,
) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake, Market(fake.push_quote, "BTC/USDT", seed=3):
        jumped: list[bool] = []

        def jump_once(line: str) -> None:
            """Once an exit is armed: the venue's clock jumps 5 s ahead and the user stream drops."""
            if not jumped and "exit_armed" in line:
                jumped.append(True)
                fake.faults.clock_skew_s = 5.0
                fake.user.drop()

        run = run_watching(skew_config(tmp_path, fake), tmp_path, 12, keys_env(), jump_once)
        subscriptions, time_reads = fake.user.subscriptions, len(fake.requests("/api/v3/time"))

    data, output = run.summary, run.output
    assert jumped and subscriptions >= 2, output[-3000:]  # subscribed again on the resynced clock
    assert data["venues"]["binance"]["user_stream_reconnects"] >= 1, output[-3000:]
    assert data["counters"]["order_events"] >= 1 and data["counters"]["orders_filled"] >= 1, output[-3000:]
    assert all(actor["restarts"] == 0 for actor in data["actors"].values()), data["actors"]
    assert data["kill_switch"] is False
    # re-measured after the jump: by the stream's refused subscription or by a refused REST call, whichever
    # met the venue first; both sign with the one offset
    assert time_reads >= 2, output[-3000:]
