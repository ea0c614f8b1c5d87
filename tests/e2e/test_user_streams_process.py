"""`autohedge run` against the local Binance and Alpaca fakes with order events by push.

Per venue: fills arrive by push (no order is polled while the stream is live); a user-stream drop is
followed by re-subscription and then a REST reconciliation; and the request budget stays within the
targets with the default intervals.

Measuring the budget: the fakes' HTTP handlers are wrapped to record when each request arrived; Binance
requests are weighed with the venue's documented weights (plus the WebSocket API's connect and
subscribe), Alpaca's are counted. What is held to the target is what the process spends to LEARN about
orders, fills, balances and positions once trading has started (every request but placing and
cancelling orders, which is the trading itself and grows with the strategy's activity, not with
polling). A run is shorter than the 60 s window (to bound the test's wall time), so the window is
projected: everything the trading part of the run spent, plus the rate of its last 10 s over the rest
of the window. Every run cuts the user stream once, before the last 10 s: the process then does its full REST
sweep (ledger re-base, every entry re-read, exits verified), which costs at least what the 60 s safety
net does, so the projection does not leave the safety net out. That sweep is a one-off counted once: its
requests (from the re-subscription to the first second without one, at most ``SWEEP_MAX_S``) are left
out of the tail whose rate is projected, else a sweep that straddles the tail's start, depending on how
fast a loaded machine ran it, was projected over the rest of the window as if it went on. The start-up
burst and the order traffic are measured too and reported in the assertion messages.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from autohedge.adapters.marketdata.synthetic import SyntheticQuotes
from autohedge.core.client_ids import ClientId
from autohedge.core.config import SyntheticConfig, SyntheticSymbol
from autohedge.core.types import OrderPurpose
from tests.e2e.process import autohedge, venue_config
from tests.fakes import alpaca as alpaca_fake
from tests.fakes import binance as binance_fake
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance
from tests.fakes.venue_server import endpoints_of

pytestmark = pytest.mark.e2e
WINDOW_S = 60.0
TAIL_S = 15.0
SWEEP_GAP_S = 1.0
"""A reconnect's REST sweep is over at the first gap this long without a learning request..."""
SWEEP_MAX_S = 5.0
"""...or this long after the re-subscription, whichever comes first."""
BINANCE_WEIGHT_PER_MINUTE = 1200
ALPACA_REQUESTS_PER_MINUTE = 200
_BINANCE_WEIGHTS = {
    ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/ticker/bookTicker"): 2,
    ("POST", "/api/v3/order"): 1,
    ("POST", "/api/v3/orderList/oco"): 1,
    ("DELETE", "/api/v3/order"): 1,
    ("GET", "/api/v3/order"): 4,
    ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/myTrades"): 20,
}


def binance_weight(method: str, path: str, params: dict[str, str]) -> int:
    if path == "/api/v3/openOrders":
        return 6 if "symbol" in params else 80
    return _BINANCE_WEIGHTS.get((method, path), 1)


class Markets:
    """Moves every symbol's market on one thread (a seeded random walk), one quote per symbol per step."""

    def __init__(
        self, push: Callable[[str, Decimal, Decimal], None], symbols: list[str], *, step_s: float
    ) -> None:
        self._push = push
        self._symbols = symbols
        self._step_s = step_s
        config = SyntheticConfig(
            seed=5,
            symbols={
                s: SyntheticSymbol(start_price=Decimal(60000), volatility_bps=Decimal(4)) for s in symbols
            },
        )
        self._quotes = SyntheticQuotes(config, symbols)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-markets", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._step_s):  # the market's own pace, not a test waiting
            for symbol in self._symbols:
                quote = self._quotes.next_quote(symbol, ts_init=0)
                self._push(symbol, quote.bid, quote.ask)

    def __enter__(self) -> Markets:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def recorded(handler: Any) -> Iterator[list[tuple[float, str, str, dict[str, str]]]]:
    """Record (monotonic time, method, path, params) of every request the fake's handler serves."""
    log: list[tuple[float, str, str, dict[str, str]]] = []
    original = handler._handle

    def handle(self: Any, method: str) -> None:
        from urllib.parse import parse_qsl, urlsplit

        parts = urlsplit(self.path)
        log.append((time.monotonic(), method, parts.path, dict(parse_qsl(parts.query))))
        original(self, method)

    handler._handle = handle
    try:
        yield log
    finally:
        handler._handle = original


_ORDER_ENTRY = {("POST", "/api/v3/order"), ("POST", "/api/v3/orderList/oco"), ("DELETE", "/api/v3/order")}


@dataclass(frozen=True)
class Sample:
    at: float
    """Seconds since the process started."""
    weight: float
    order_entry: bool
    """Placing or cancelling an order (the trading itself), not learning about one."""
    what: str = ""
    """The request (method and path), for the failure message's breakdown."""


@dataclass(frozen=True)
class Budget:
    startup: float
    """Everything sent before strategies started (symbols, account, open orders, subscription)."""
    learning_window: float
    """Projected most a 60 s window of trading holds of requests that learn about orders and account."""
    order_entry_per_min: float
    """Placing and cancelling orders, per minute of trading."""
    learning_by_request: dict[str, float]
    """What the trading part of the run spent learning, per request (method and path)."""
    peak_window: float
    """The most the whole run (start-up, learning and orders) sent within any 60 s."""

    def describe(self, unit: str) -> str:
        spent = ", ".join(f"{k} {v:.0f}" for k, v in sorted(self.learning_by_request.items()))
        return (
            f"start-up {self.startup:.0f} {unit}, learning {self.learning_window:.0f} {unit} per 60 s, "
            f"order entry {self.order_entry_per_min:.0f} {unit} per minute, at most {self.peak_window:.0f} "
            f"{unit} in any 60 s (learning spent: {spent})"
        )


def peak_window(samples: list[Sample]) -> float:
    """The most weight sent within any ``WINDOW_S`` (a rolling window over the request times)."""
    ordered = sorted(samples, key=lambda s: s.at)
    peak, total, first = 0.0, 0.0, 0
    for x in ordered:
        total += x.weight
        while ordered[first].at <= x.at - WINDOW_S:
            total -= ordered[first].weight
            first += 1
        peak = max(peak, total)
    return peak


def sweep_end(learning: list[Sample], resubscribed: float | None) -> float:
    """When the REST sweep after the re-subscription at ``resubscribed`` ended (0 when there was none)."""
    if resubscribed is None:
        return 0.0
    end = resubscribed
    for x in sorted(learning, key=lambda s: s.at):
        if x.at < resubscribed:
            continue
        if x.at - end >= SWEEP_GAP_S or x.at - resubscribed > SWEEP_MAX_S:
            break
        end = x.at
    return end


def notable(output: str) -> str:
    """The process's warnings and errors (the last 30), for a failure message."""
    lines = [line for line in output.splitlines() if "| WARNING" in line or "| ERROR" in line]
    return "\n" + "\n".join(lines[-30:])


def measure(
    samples: list[Sample], *, trading_from: float, ended: float, resubscribed: float | None = None
) -> Budget:
    startup = sum(x.weight for x in samples if x.at < trading_from)
    trading = [x for x in samples if x.at >= trading_from]
    trading_s = max(ended - trading_from, 1.0)
    learning = [x for x in trading if not x.order_entry]
    sweep = (resubscribed or 0.0, sweep_end(learning, resubscribed))
    steady = [x for x in learning if not (resubscribed is not None and sweep[0] <= x.at <= sweep[1])]
    tail = sum(x.weight for x in steady if x.at >= ended - TAIL_S) / TAIL_S
    window = sum(x.weight for x in learning) + tail * max(0.0, WINDOW_S - trading_s)
    entry = sum(x.weight for x in trading if x.order_entry) / trading_s * 60
    by_request: dict[str, float] = {}
    for x in learning:
        by_request[x.what] = by_request.get(x.what, 0.0) + x.weight
    return Budget(
        startup=startup,
        learning_window=window,
        order_entry_per_min=entry,
        learning_by_request=by_request,
        peak_window=peak_window(samples),
    )


def run_process(
    config: Path,
    tmp_path: Path,
    env: dict[str, str],
    *,
    duration_s: int,
    on_line: Callable[[str, float], None],
) -> tuple[str, dict[str, Any], float, float, float]:
    """``autohedge run`` for ``duration_s``, each log line handed to ``on_line`` with the time since start."""
    summary = tmp_path / "summary.json"
    started = time.monotonic()
    proc = subprocess.Popen(
        autohedge(
            "run", "--config", str(config), "--duration", str(duration_s), "--summary-json", str(summary)
        ),
        cwd=tmp_path,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    log: list[str] = []
    trading_from = float("inf")
    for line in proc.stdout:
        log.append(line)
        if trading_from == float("inf") and "strategies_started" in line:
            trading_from = time.monotonic() - started
        on_line(line, time.monotonic() - started)
    proc.wait(timeout=60)
    ended = time.monotonic()
    output = "".join(log)
    (tmp_path / "process.log").write_text(output, encoding="utf-8")  # kept by pytest for a failure's study
    assert proc.returncode == 0, output[-4000:]
    data: dict[str, Any] = json.loads(summary.read_text(encoding="utf-8"))
    return output, data, started, ended - started, trading_from


def polled(requests: list[tuple[str, str, Any]]) -> list[tuple[str, str, Any]]:
    """The Binance order reads among ``requests`` that poll: any read of an entry (its fills come by
    push), and any second read of one order. A single read of an exit leg is not polling: the monitor
    reads a leg once when the venue refused its cancel because it had just ended, its end event still
    on the way (``_ended_leg``), which a loaded machine sometimes sees."""
    reads = [r for r in requests if r[:2] == ("GET", "/api/v3/order")]
    ids = [r[2].get("origClientOrderId", "") for r in reads]
    return [
        read
        for i, (read, coid) in enumerate(zip(reads, ids, strict=True))
        if not coid or ClientId.decode(coid).purpose is OrderPurpose.ENTRY or coid in ids[:i]
    ]


def drop_once(
    drop: Callable[[], None], *, after_s: float, protected_first: bool
) -> Callable[[str, float], None]:
    """Cut the user stream once, after ``after_s`` (and, with ``protected_first``, once an exit
    protects a fill)."""
    state = {"armed": not protected_first, "dropped": False}

    def on_line(line: str, elapsed_s: float) -> None:
        state["armed"] = state["armed"] or "exit_armed" in line
        if state["armed"] and not state["dropped"] and elapsed_s >= after_s:
            state["dropped"] = True
            drop()

    return on_line


# -- Binance ------------------------------------------------------------------------------------------


def binance_run(
    tmp_path: Path, symbols: list[str], *, duration_s: int, protected_first: bool
) -> tuple[str, dict[str, Any], FakeBinance, Budget]:
    with (
        FakeBinance(symbols=symbols, balances={"USDT": Decimal(1_000_000)}) as fake,
        recorded(binance_fake._Handler) as rest,
        Markets(fake.push_quote, symbols, step_s=0.1 if len(symbols) < 10 else 0.5),
    ):
        config = venue_config(tmp_path, "binance", symbols, endpoints_of(fake))
        env = {"AUTOHEDGE_BINANCE_API_KEY": API_KEY, "AUTOHEDGE_BINANCE_API_SECRET": API_SECRET}
        on_line = drop_once(fake.user.drop, after_s=duration_s * 0.4, protected_first=protected_first)
        output, summary, started, ended, trading_from = run_process(
            config, tmp_path, env, duration_s=duration_s, on_line=on_line
        )
        samples = [
            Sample(t - started, binance_weight(m, p, q), (m, p) in _ORDER_ENTRY, f"{m} {p}")
            for t, m, p, q in rest
        ]
        samples += [Sample(t - started, w, False, f"ws {method}") for t, method, w in fake.user.requests]
        subscribed = [
            t - started for t, method, _ in fake.user.requests if method.startswith("userDataStream")
        ]
    resubscribed = subscribed[1] if len(subscribed) > 1 else None
    budget = measure(samples, trading_from=trading_from, ended=ended, resubscribed=resubscribed)
    (tmp_path / "budget.txt").write_text(budget.describe("weight") + "\n", encoding="utf-8")
    return output, summary, fake, budget


def test_binance_fills_by_push_drop_resubscribes_then_reconciles_within_budget(tmp_path: Path) -> None:
    output, summary, fake, budget = binance_run(
        tmp_path, ["BTC/USDT", "ETH/USDT"], duration_s=30, protected_first=True
    )

    counters = summary["counters"]
    assert counters["orders_filled"] >= 1 and counters["order_events"] >= 1, output[-3000:]
    assert summary["venues"]["binance"]["user_stream_reconnects"] >= 1, output[-3000:]
    # The drop cut the order session on the same WebSocket API too: it came back on its own.
    order_session = summary["venues"]["binance"]["order_session"]
    assert order_session["reconnects"] >= 1 and order_session["drops"] >= 1, order_session
    assert fake.user.subscriptions >= 2
    requests = fake.requests()
    first, second = fake.user.subscribed_at[0], fake.user.subscribed_at[1]
    assert not polled(requests[first:second])  # pushed, not polled
    after = requests[second:]
    assert any(r[1] == "/api/v3/account" for r in after), "no ledger re-base after re-subscribing"
    assert any(r[1] == "/api/v3/openOrders" for r in after), "no exit verification after re-subscribing"
    limit = 0.10 * BINANCE_WEIGHT_PER_MINUTE
    assert budget.startup <= limit, budget.describe("weight") + notable(output)
    assert budget.learning_window <= limit, budget.describe("weight") + notable(output)


def unprotected_at_the_end(output: str, summary: dict[str, Any]) -> list[str]:
    """Symbols the final state shows without exits, but for one whose entry filled within the promise (1 s)
    before the process began to stop: its re-arm may still have been queued behind the read of the final
    state, which comes just before that."""
    stamped = [(line[:23], line) for line in output.splitlines() if line[:4].isdigit()]
    stopping = next((t for t, line in stamped if "the process is stopping" in line), None)
    assert stopping is not None, output[-3000:]
    recent: set[str] = set()
    for t, line in stamped:
        if "] order_filled:" in line and seconds_between(t, stopping) <= 1.0:
            recent.add(line.split("[", 1)[1].split("]", 1)[0])
    return [p["symbol"] for p in summary["positions"] if not p["protected"] and p["symbol"] not in recent]


def seconds_between(earlier: str, later: str) -> float:
    """Seconds from one log line's timestamp (``2026-11-30 14:26:53.434``) to another's."""

    def parse(stamp: str) -> datetime:  # the log's local time; only differences are taken
        return datetime.strptime(stamp + "+0000", "%Y-%m-%d %H:%M:%S.%f%z")

    return (parse(later) - parse(earlier)).total_seconds()


def test_binance_fifty_symbols_within_half_the_budget(tmp_path: Path) -> None:
    symbols = [f"S{i:02d}/USDT" for i in range(50)]
    output, summary, _, budget = binance_run(tmp_path, symbols, duration_s=30, protected_first=False)
    assert summary["counters"]["quotes"] > 1000, output[-3000:]
    assert unprotected_at_the_end(output, summary) == [], notable(output)
    assert "orphan_detected" not in output, notable(output)
    limit = 0.50 * BINANCE_WEIGHT_PER_MINUTE
    assert budget.startup <= limit, budget.describe("weight") + notable(output)
    assert budget.learning_window <= limit, budget.describe("weight") + notable(output)


# -- Alpaca -------------------------------------------------------------------------------------------


def alpaca_run(
    tmp_path: Path, symbols: list[str], *, duration_s: int, protected_first: bool
) -> tuple[str, dict[str, Any], FakeAlpaca, Budget]:
    with (
        FakeAlpaca(crypto=symbols, cash=Decimal(1_000_000)) as fake,
        recorded(alpaca_fake._Handler) as rest,
        Markets(fake.push_quote, symbols, step_s=0.1 if len(symbols) < 10 else 0.5),
    ):
        config = venue_config(tmp_path, "alpaca", symbols, fake.endpoints)
        env = {"AUTOHEDGE_ALPACA_API_KEY_ID": KEY_ID, "AUTOHEDGE_ALPACA_API_SECRET_KEY": SECRET_KEY}
        on_line = drop_once(fake.trades.drop, after_s=duration_s * 0.4, protected_first=protected_first)
        output, summary, started, ended, trading_from = run_process(
            config, tmp_path, env, duration_s=duration_s, on_line=on_line
        )
        entry = alpaca_order_entry(fake, rest)
        samples = [Sample(t - started, 1.0, i in entry, f"{m} {p}") for i, (t, m, p, _) in enumerate(rest)]
    budget = measure(samples, trading_from=trading_from, ended=ended)
    (tmp_path / "budget.txt").write_text(budget.describe("requests") + "\n", encoding="utf-8")
    return output, summary, fake, budget


def alpaca_order_entry(fake: FakeAlpaca, rest: list[tuple[float, str, str, dict[str, str]]]) -> set[int]:
    """Indexes of the requests that place or cancel orders. Alpaca answers a cancel with 204, so a
    cancel by client id is a lookup, the DELETE and a read of the order: all three are the cancel."""
    uuid_of: dict[str, str] = {}
    for order in fake.engine.all_orders():
        uuid_of[order.client_order_id] = fake.order_json(order)["id"]
    deletes: dict[str, list[float]] = {}
    for t, method, path, _ in rest:
        if method == "DELETE":
            deletes.setdefault(path.rsplit("/", 1)[1], []).append(t)
    out: set[int] = set()
    for i, (t, method, path, params) in enumerate(rest):
        if method == "POST" or method == "DELETE":
            out.add(i)
            continue
        if path == "/v2/orders:by_client_order_id":
            order_id = uuid_of.get(params.get("client_order_id", ""), "")
        elif path.startswith("/v2/orders/"):
            order_id = path.rsplit("/", 1)[1]
        else:
            continue
        if any(abs(t - d) <= 0.5 for d in deletes.get(order_id, [])):
            out.add(i)
    return out


def test_alpaca_fills_by_push_drop_resubscribes_then_reconciles_within_budget(tmp_path: Path) -> None:
    output, summary, fake, budget = alpaca_run(
        tmp_path, ["BTC/USD", "ETH/USD"], duration_s=30, protected_first=True
    )

    counters = summary["counters"]
    assert counters["orders_filled"] >= 1 and counters["order_events"] >= 1, output[-3000:]
    assert summary["venues"]["alpaca"]["user_stream_reconnects"] >= 1, output[-3000:]
    assert fake.trades.subscriptions >= 2
    requests = fake.requests()
    first, second = fake.trades.subscribed_at[0], fake.trades.subscribed_at[1]
    assert counters["orders_filled"] >= 1
    polled = [r for r in requests[first:second] if r[0] == "GET" and r[1].startswith("/v2/orders/")]
    cancels = len([r for r in requests[first:second] if r[0] == "DELETE"])
    # A cancel is answered 204, so the adapter reads the order once after it: those are the only
    # single-order reads while the stream is live (no entry or exit is polled for fills).
    assert len(polled) <= cancels + 1, (len(polled), cancels)
    after = requests[second:]
    assert any(r[1] == "/v2/positions" for r in after), "no ledger re-base after re-subscribing"
    limit = 0.25 * ALPACA_REQUESTS_PER_MINUTE
    assert budget.startup <= limit, budget.describe("requests") + notable(output)
    assert budget.learning_window <= limit, budget.describe("requests") + notable(output)
    assert budget.peak_window <= ALPACA_REQUESTS_PER_MINUTE, budget.describe("requests") + notable(output)


def test_alpaca_fifty_symbols_within_half_the_budget(tmp_path: Path) -> None:
    symbols = [f"S{i:02d}/USD" for i in range(50)]
    output, summary, _, budget = alpaca_run(tmp_path, symbols, duration_s=30, protected_first=False)
    assert summary["counters"]["quotes"] > 1000, output[-3000:]
    limit = 0.50 * ALPACA_REQUESTS_PER_MINUTE
    assert budget.startup <= limit, budget.describe("requests") + notable(output)
    assert budget.learning_window <= limit, budget.describe("requests") + notable(output)
    # Everything, placing and cancelling orders included, within the venue's limit in any 60 s.
    assert budget.peak_window <= ALPACA_REQUESTS_PER_MINUTE, budget.describe("requests") + notable(output)
