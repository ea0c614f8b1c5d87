"""`autohedge run` against venue fakes that push back: a 20 s ban ends with zero restarts, no kill switch
and every position protected; missing or rejected keys exit 2 naming the variable; a fill's exit reaches
the venue within 1 s (p99) while entries are placed for another symbol."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.config import load_config
from autohedge.core.types import OrderStatus, Side
from autohedge.sim.venue import book_view
from tests.e2e.market import Market
from tests.e2e.process import (
    Run,
    autohedge,
    clean_env,
    run_watching,
    venue_config,
    write_config,
)
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance
from tests.fakes.venue_server import endpoints_of

pytestmark = pytest.mark.e2e
BINANCE_KEYS = {"AUTOHEDGE_BINANCE_API_KEY": API_KEY, "AUTOHEDGE_BINANCE_API_SECRET": API_SECRET}
ALPACA_KEYS = {"AUTOHEDGE_ALPACA_API_KEY_ID": KEY_ID, "AUTOHEDGE_ALPACA_API_SECRET_KEY": SECRET_KEY}
BAN_S = 20


class BanDrill:
    """Bans the client at the first armed exit (and runs ``then``, say, drops its user stream, so the
    reconnect meets the ban too); collects what the process logs once the ban is over."""

    def __init__(self, ban: Callable[[int], None], then: Callable[[], None] = lambda: None) -> None:
        self._ban = ban
        self._then = then
        self.ends_at: float | None = None
        self.after: list[str] = []

    def __call__(self, line: str) -> None:
        if self.ends_at is None and "exit_armed" in line:
            self._ban(BAN_S)
            self._then()
            self.ends_at = time.monotonic() + BAN_S
        elif self.ends_at is not None and time.monotonic() > self.ends_at:
            self.after.append(line)

    def assert_survived(self, run: Run, venue: str) -> None:
        data, output = run.summary, run.output[-4000:]
        assert self.ends_at is not None, output
        assert not data["kill_switch"] and data["parked_symbols"] == [], output
        assert {name: a["restarts"] for name, a in data["actors"].items()} == dict.fromkeys(data["actors"], 0)
        assert all(p["protected"] for p in data["positions"]), output
        assert data["venues"][venue]["rate_limited_until"] is not None, output
        assert data["venues"][venue]["rate_limit_events"] >= 1, output
        assert any("order_placed" in line or "exit_armed" in line for line in self.after), output


def assert_held_is_covered(engine: PaperEngine, config: Path, symbols: list[str], output: str) -> None:
    """On the venue itself, by the promise as the simulator's invariant checker judges it: resting sells
    cover every holding an exit can sell, but for a part no exit of it alone could sell at the newest bid
    (below the minimum order value at the exit's lowest price: it rides along with the next exit, which
    is placed again for the whole once that part is sellable), and never more than is held."""
    params = load_config(config).params_for
    for symbol in symbols:
        book = book_view(engine, symbol, params(symbol))
        bid = engine.best_quote(symbol).bid
        detail = f"{symbol}: {engine.held_qty(symbol)} held, exits cover {book.covered_qty} at the bid {bid}"
        assert book.uncovered_at(bid) == 0, f"{detail}\n{output[-6000:]}"
        assert book.covered_qty <= engine.held_qty(symbol), f"{detail}\n{output[-6000:]}"


def test_binance_ban_of_20_s_ends_with_no_restart_and_everything_protected(tmp_path: Path) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake:
        with Market(fake.push_quote, "BTC/USDT", seed=3):
            config = venue_config(tmp_path, "binance", ["BTC/USDT"], endpoints_of(fake))
            # The ban covers the WebSocket API too: the user stream, dropped as the ban starts, is refused
            # (418) while it lasts and reconnects in place, restarting nothing.
            drill = BanDrill(fake.ban, then=fake.user.drop)
            run = run_watching(config, tmp_path, BAN_S + 12, clean_env(BINANCE_KEYS), drill)
        # The market has stopped: no quote fills an exit while the venue's books are read.
        drill.assert_survived(run, "binance")
        assert fake.answered_418 <= 3  # it stopped sending at the first 418 (REST or WebSocket API)
        assert fake.user.subscriptions >= 2, run.output[-4000:]  # subscribed again once the ban ended
        assert run.summary["venues"]["binance"]["user_stream_reconnects"] >= 1
        assert_held_is_covered(fake.engine, config, ["BTC/USDT"], run.output)


def test_alpaca_pause_of_20_s_ends_with_no_restart_and_everything_protected(tmp_path: Path) -> None:
    with FakeAlpaca(crypto=["BTC/USD"]) as fake:
        with Market(fake.push_quote, "BTC/USD", seed=11):
            config = venue_config(tmp_path, "alpaca", ["BTC/USD"], fake.endpoints)
            drill = BanDrill(fake.ban)
            run = run_watching(config, tmp_path, BAN_S + 12, clean_env(ALPACA_KEYS), drill)
        # The market has stopped: no quote fills an exit while the venue's books are read.
        drill.assert_survived(run, "alpaca")
        assert fake.answered_429 <= 3  # Remaining 0 until Reset: nothing sent until then
        assert_held_is_covered(fake.engine, config, ["BTC/USD"], run.output)


def run_refused(config: Path, tmp_path: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        autohedge("run", "--config", str(config), "--duration", "5"),
        cwd=tmp_path,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,  # the exit code is the assertion
    )


@pytest.mark.parametrize(
    "keys", [{}, {**BINANCE_KEYS, "AUTOHEDGE_BINANCE_API_KEY": "revoked"}], ids=["missing", "rejected"]
)
def test_binance_run_with_bad_keys_exits_2_naming_the_variable(tmp_path: Path, keys: dict[str, str]) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake:
        config = venue_config(tmp_path, "binance", ["BTC/USDT"], endpoints_of(fake))
        result = run_refused(config, tmp_path, clean_env(keys))
        orders = fake.engine.all_orders()
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AUTOHEDGE_BINANCE_API_KEY" in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr and orders == ()


def test_alpaca_run_without_keys_exits_2_naming_the_variable(tmp_path: Path) -> None:
    config = venue_config(
        tmp_path,
        "alpaca",
        ["BTC/USD"],
        {"rest_url": "http://127.0.0.1:9", "ws_url": "ws://127.0.0.1:9", "user_ws_url": "ws://127.0.0.1:9"},
    )
    result = run_refused(config, tmp_path, clean_env({}))
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AUTOHEDGE_ALPACA_API_KEY_ID" in lines[0], result.stderr


def fill_to_exit_latencies_s(orders: Any, posted: list[tuple[float, str, dict[str, str]]]) -> list[float]:
    """For every filled entry: seconds from its fill to the first exit (OCO) sent for its symbol."""
    oco_routes = ("/api/v3/orderList/oco", "orderList.place.oco")  # REST, or the WebSocket API
    exits = [(t, p["symbol"]) for t, path, p in posted if path in oco_routes]
    latencies = []
    for buy in orders:
        if buy.side is not Side.BUY or buy.status is not OrderStatus.FILLED:
            continue
        filled_s = buy.ts_event / 1e9
        after = [t for t, symbol in exits if symbol == buy.symbol.replace("/", "") and t >= filled_s]
        assert after, f"{buy.client_order_id} filled at {filled_s} without an exit"
        latencies.append(min(after) - filled_s)
    return sorted(latencies)


def test_binance_exit_reaches_the_venue_within_1_s_of_the_fill_p99(tmp_path: Path) -> None:
    symbols = ["BTC/USDT", "ETH/USDT"]
    with ExitStack() as stack:
        fake = stack.enter_context(FakeBinance(symbols=symbols))
        stack.enter_context(Market(fake.push_quote, "BTC/USDT", seed=3))
        stack.enter_context(Market(fake.push_quote, "ETH/USDT", seed=5, start_price=Decimal(3000)))
        config = venue_config(tmp_path, "binance", symbols, endpoints_of(fake))
        run = run_watching(config, tmp_path, 20, clean_env(BINANCE_KEYS), lambda _line: None)
        latencies = fill_to_exit_latencies_s(fake.engine.all_orders(), list(fake.posted_at))
    assert len(latencies) >= 2, run.output[-3000:]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    p50 = latencies[len(latencies) // 2]
    logger.info("fill -> exit at the venue: n={} p50={:.3f}s p99={:.3f}s", len(latencies), p50, p99)
    assert p99 < 1.0, latencies


def test_paper_run_with_a_rate_limit_every_7th_call_restarts_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, **{"paper.faults": {"rate_limit_every_n": 7}})

    run = run_watching(config, tmp_path, 12, dict(os.environ), lambda _line: None)

    data = run.summary
    assert data["counters"]["orders_submitted"] >= 1, run.output[-3000:]
    assert {name: a["restarts"] for name, a in data["actors"].items()} == dict.fromkeys(data["actors"], 0)
    assert not data["kill_switch"] and data["venues"]["paper"]["rate_limit_events"] >= 1
    assert all(p["protected"] for p in data["positions"]), run.output[-3000:]


def test_binance_keys_revoked_during_a_run_stop_entries_loudly_without_restarts(tmp_path: Path) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake, Market(fake.push_quote, "BTC/USDT", seed=3):
        config = venue_config(tmp_path, "binance", ["BTC/USDT"], endpoints_of(fake))
        revoked: list[int] = []

        def revoke(line: str) -> None:
            if not revoked and "exit_armed" in line:
                fake.faults.reject_keys = True
                revoked.append(len(fake.engine.all_orders()))

        run = run_watching(config, tmp_path, 10, clean_env(BINANCE_KEYS), revoke)
        orders_after = fake.engine.all_orders()[revoked[0] :] if revoked else ()
    data, output = run.summary, run.output
    assert revoked, output[-3000:]
    assert {name: a["restarts"] for name, a in data["actors"].items()} == dict.fromkeys(data["actors"], 0)
    assert not data["kill_switch"] and data["venues"]["binance"]["auth_failed"], output[-3000:]
    assert "ERROR" in output and "rejects our keys" in output
    assert not any(
        o.side is Side.BUY for o in orders_after
    )  # no entry reached the venue after the revocation
