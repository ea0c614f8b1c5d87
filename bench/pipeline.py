"""Benchmark: synthetic quotes through the real actor pipeline on the paper exchange.

    .venv/bin/python bench/pipeline.py [--trials 5] [--seconds 3]

Measures, as medians over ``--trials`` trials in this one run:

1. Throughput: a producer thread pushes quotes flat out through the real ``FeedSink`` (the feed's
   reader-thread path) into the strategies of 10 symbols (lanes of one strategy runner,
   ``hft.shared_runner``). Reports quotes/s accepted, quotes/s the strategies decided on, the
   conflated share, and the deepest strategy/executor/monitor inbox seen (the backlog: with
   conflation it stays bounded however fast quotes arrive).
2. Tick-to-order latency at a paced rate where every other quote is a buy signal: from the quote's
   ``ts_init`` (stamped when the feed receives it) to the moment the executor starts the submit call.
3. RSS of the process with 50 symbols (50 strategy lanes) running, and the cost per symbol.

Loopback only: nothing leaves the process.
"""

from __future__ import annotations

import argparse
import gc
import json
import queue
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
from loguru import logger

from autohedge.core.actor_names import EXECUTOR, MONITOR, ActorKind, kind_of, strategy_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autohedge.actors.protocol import Barrier
from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.paper.engine import PaperEngine
from autohedge.app import Engine
from autohedge.core.clock import RealClock
from autohedge.core.config import AppConfig, PaperFaults, parse_config
from autohedge.core.messages import Quote
from autohedge.core.ports import QuoteSink


class BenchStream:
    """A market stream driven by the benchmark's producer thread."""

    venue = "bench"

    def __init__(self) -> None:
        self.sink: QuoteSink | None = None
        self.ready = threading.Event()

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        self.sink = sink
        self.ready.set()

    def stop(self) -> None:
        self.sink = None


def symbols_for(n: int) -> list[str]:
    return [f"S{i:02d}/USDT" for i in range(n)]


def bench_config(symbols: list[str], *, min_edge_bps: int, rate_limit_ms: int) -> AppConfig:
    return parse_config(
        {
            "symbols": symbols,
            "defaults": {
                "take_profit_pct": 5,
                "stop_loss_pct": 5,
                "max_position_size": 10**12,
                "order_amount": 10,
            },
            "rate_limit_ms": rate_limit_ms,
            "hft": {"min_edge_bps": min_edge_bps, "max_spread_bps": 50, "lookback_periods": 2},
            "executor": {"order_poll_interval_s": 0.25, "max_open_entries_per_symbol": 1000},
            "feed": {"stale_after_s": 60},
            "log_level": "ERROR",
        }
    )


class Running:
    """An engine on the paper exchange with a real clock, started and reconciled."""

    def __init__(self, config: AppConfig) -> None:
        self.clock = RealClock()
        paper = PaperEngine(clock=self.clock, balances={"USDT": Decimal(10) ** 12}, fee_rate=Decimal("0.001"))
        self.exchange = PaperExchange(paper, faults=PaperFaults(), seed=1, oco=True)
        self.stream = BenchStream()
        self.engine = Engine(
            config, clock=self.clock, exchange=self.exchange, stream_factory=lambda: self.stream
        )
        self.engine.start()
        deadline = time.monotonic() + 10
        while not (
            self.engine.view().reconciled
            and all(self.engine.parts.directory.get(strategy_name(s)) for s in config.symbols)
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("engine did not start")
            time.sleep(0.01)
        assert self.stream.ready.wait(5)

    def inbox_depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        for name in self.engine.parts.directory.names():
            ref = self.engine.parts.directory.get(name)
            inbox = ref.actor_inbox if ref is not None else None
            if isinstance(inbox, queue.Queue):  # a threading actor's inbox
                depths[name] = inbox.qsize()
        return depths

    def drain(self) -> None:
        """Wait until everything told so far (and what it caused) has been handled."""
        names = [n for n in self.engine.parts.directory.names() if kind_of(n) is ActorKind.STRATEGY] + [
            EXECUTOR,
            MONITOR,
        ]
        for _ in range(2):
            for name in names:
                self.engine.ask(name, Barrier(), timeout_s=60)

    def stop(self) -> None:
        self.engine.stop(cancel_entries=False)


def quote(symbol: str, bid: Decimal, ask: Decimal, clock: RealClock) -> Quote:
    now = clock.wall_ns()
    return Quote(venue="bench", symbol=symbol, bid=bid, ask=ask, ts_event=now, ts_init=now)


def trial_throughput(seconds: float, rate_per_s: float | None, n_symbols: int = 10) -> dict[str, float]:
    """Offer quotes at ``rate_per_s`` (paced in rounds of one quote per symbol; None = flat out)."""
    symbols = symbols_for(n_symbols)
    run = Running(
        bench_config(symbols, min_edge_bps=10_000, rate_limit_ms=250)
    )  # never signals: pure data path
    metrics = run.engine.parts.metrics
    sink = run.stream.sink
    assert sink is not None
    max_depth: dict[str, int] = {"strategies": 0, EXECUTOR: 0, MONITOR: 0}
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(0.01):
            depths = run.inbox_depths()
            max_depth["strategies"] = max(
                max_depth["strategies"],
                max((d for n, d in depths.items() if kind_of(n) is ActorKind.STRATEGY), default=0),
            )
            max_depth[EXECUTOR] = max(max_depth[EXECUTOR], depths.get(EXECUTOR, 0))
            max_depth[MONITOR] = max(max_depth[MONITOR], depths.get(MONITOR, 0))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    prices = [(Decimal("99.99"), Decimal("100.01")), (Decimal("99.98"), Decimal("100.02"))]
    start_quotes, start_conflated = metrics.get("quotes"), metrics.get("quotes_conflated")
    period_s = n_symbols / rate_per_s if rate_per_s else 0.0
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        if period_s:
            delay = started + i * period_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        bid, ask = prices[i & 1]
        for symbol in symbols:
            sink.on_quote(quote(symbol, bid, ask, run.clock))
        i += 1
    elapsed = time.perf_counter() - started
    run.drain()
    stop_sampling.set()
    sampler.join()
    pushed = metrics.get("quotes") - start_quotes
    conflated = metrics.get("quotes_conflated") - start_conflated
    run.stop()
    return {
        "offered_per_s": pushed / elapsed,
        "decided_share": (pushed - conflated) / pushed if pushed else 0.0,
        "max_strategy_inbox": float(max_depth["strategies"]),
        "max_executor_inbox": float(max_depth[EXECUTOR]),
        "max_monitor_inbox": float(max_depth[MONITOR]),
    }


def trial_latency(seconds: float, rate_per_s: float, n_symbols: int = 10) -> dict[str, float]:
    symbols = symbols_for(n_symbols)
    run = Running(bench_config(symbols, min_edge_bps=1, rate_limit_ms=250))
    sink = run.stream.sink
    assert sink is not None
    period_s = n_symbols / rate_per_s
    started = time.perf_counter()
    i = 0
    high = (Decimal("100.00"), Decimal("100.02"))
    dip = (Decimal("99.80"), Decimal("99.82"))  # ask 19 bps under the mean: a buy signal
    while time.perf_counter() - started < seconds:
        due = started + i * period_s
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        bid, ask = dip if i % 2 else high
        for symbol in symbols:
            sink.on_quote(quote(symbol, bid, ask, run.clock))
        i += 1
    run.drain()
    latencies = sorted(run.engine.parts.metrics.tick_to_order_ns())
    orders = run.engine.parts.metrics.get("orders_submitted")
    run.stop()
    if not latencies:
        raise RuntimeError("no orders were placed in the latency trial")
    return {
        "orders": float(orders),
        "p50_us": latencies[len(latencies) // 2] / 1000,
        "p99_us": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1000,
    }


def trial_rss(n_symbols: int = 50, seconds: float = 2.0) -> dict[str, float]:
    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss
    symbols = symbols_for(n_symbols)
    run = Running(bench_config(symbols, min_edge_bps=10_000, rate_limit_ms=250))
    sink = run.stream.sink
    assert sink is not None
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for symbol in symbols:
            sink.on_quote(quote(symbol, Decimal("99.99"), Decimal("100.01"), run.clock))
        time.sleep(0.001)
    after = process.memory_info().rss
    threads = threading.active_count()
    run.stop()
    return {"rss_mib": after / 2**20, "added_mib": (after - before) / 2**20, "threads": float(threads)}


RATES = (2_000.0, 5_000.0, 10_000.0, 20_000.0, 40_000.0)


def median_of(trials: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(t[key] for t in trials) for key in trials[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--latency-rate", type=float, default=2000.0, help="quotes/s offered in the latency trial"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="ERROR")

    ladder: dict[str, dict[str, float]] = {}
    sustained = 0.0
    for rate in RATES:
        result = median_of([trial_throughput(args.seconds, rate) for _ in range(args.trials)])
        ladder[str(rate)] = result
        if result["offered_per_s"] >= 0.95 * rate and result["decided_share"] >= 0.99:
            sustained = max(sustained, result["offered_per_s"])
    flat_out = median_of([trial_throughput(args.seconds, None) for _ in range(args.trials)])
    latency = median_of([trial_latency(args.seconds, args.latency_rate) for _ in range(args.trials)])
    latency_one = median_of(
        [trial_latency(args.seconds, args.latency_rate / 10, n_symbols=1) for _ in range(args.trials)]
    )
    rss = median_of([trial_rss() for _ in range(max(1, args.trials // 2))])
    results: dict[str, Any] = {
        "throughput_ladder_10_symbols": ladder,
        "flat_out_10_symbols": flat_out,
        "sustained_quotes_per_s": sustained,
        "latency_10_symbols": latency,
        "latency_1_symbol": latency_one,
        "rss_50_symbols": rss,
        "trials": args.trials,
        "seconds_per_trial": args.seconds,
    }
    print(
        f"medians of {args.trials} trials, {args.seconds:.0f}s each, python {sys.version.split()[0]}, "
        f"{psutil.cpu_count()} cores"
    )
    for offered, r in ladder.items():
        print(
            f"offered {float(offered):>9,.0f}/s  achieved {r['offered_per_s']:>9,.0f}/s  decided on "
            f"{r['decided_share']:7.2%} (rest conflated)  deepest inbox: "
            f"strategy {r['max_strategy_inbox']:.0f}, executor {r['max_executor_inbox']:.0f}, "
            f"monitor {r['max_monitor_inbox']:.0f}"
        )
    print(
        f"flat out         achieved {flat_out['offered_per_s']:>9,.0f}/s  decided on "
        f"{flat_out['decided_share']:7.2%}  deepest inbox: strategy {flat_out['max_strategy_inbox']:.0f} "
        "(conflation keeps it bounded)"
    )
    print(
        f"sustained   {sustained:,.0f} quotes/s with every quote decided on and no backlog "
        f"({sustained / RATES[0]:.1f}x the lowest rate offered)"
    )
    print(
        f"latency     tick-to-order, 1 symbol: p50 {latency_one['p50_us']:,.0f} us, "
        f"p99 {latency_one['p99_us']:,.0f} us over {latency_one['orders']:.0f} orders"
    )
    print(
        "latency     tick-to-order, 10 symbols signalling on the same tick: "
        f"p50 {latency['p50_us']:,.0f} us, p99 {latency['p99_us']:,.0f} us "
        f"(p50 {latency['p50_us'] / latency_one['p50_us']:.1f}x the 1-symbol p50: entries queue in one "
        f"executor) over {latency['orders']:.0f} orders at {args.latency_rate:,.0f} quotes/s"
    )
    print(
        f"memory      RSS with 50 symbols {rss['rss_mib']:.1f} MiB; "
        f"the engine added {rss['added_mib']:.1f} MiB "
        f"({rss['added_mib'] * 1024 / 50:.0f} KiB per symbol), {rss['threads']:.0f} threads"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
