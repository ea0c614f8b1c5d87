"""Backtest: the configured strategies, executor and monitor on recorded quotes, against the paper
exchange, under a ManualClock, as fast as the machine allows.

The composition root builds the same actor tree as ``run``. The driver (the calling thread) moves
time: before each recorded quote it fires the timers due until the quote's ``ts_event`` one at a
time, then pushes the quote; after each step it asks barriers down the pipeline (strategies ->
executor -> monitor -> supervisor), so every consequence is handled before the next step. Nothing
sleeps and the order of events does not depend on thread timing: the same replay and config give the
same journal contents and the same report, byte for byte.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pykka
from tqdm import tqdm

from autohedge.actors.protocol import Barrier
from autohedge.adapters.journal.sqlite import JournalReader
from autohedge.adapters.marketdata.replay import parse_replay_line
from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.paper.stream import PaperUserStream
from autohedge.app import Engine, build_exchange
from autohedge.core.actor_names import (
    EXECUTOR,
    MONITOR,
    SUPERVISOR,
    ActorName,
    feed_name,
    strategy_name,
    user_stream_name,
)
from autohedge.core.clock import NS_PER_S, ManualClock
from autohedge.core.config import AppConfig, Secrets
from autohedge.core.errors import ConfigError, MalformedMessage
from autohedge.core.messages import Quote
from autohedge.core.pnl import compute_pnl
from autohedge.core.ports import Exchange, QuoteSink
from autohedge.core.types import Venue
from autohedge.reporting.document import report_document
from autohedge.reporting.html import render_html

__all__ = ["BacktestResult", "DrivenStream", "run_backtest", "write_report"]

BARRIER_TIMEOUT_S = 30.0
STARTUP_ROUNDS = 100
JOURNAL_FILE = "journal.sqlite"


class _MatchedByDriver:
    """The paper exchange without ``on_quote``: the driver matches each quote itself and settles the
    order events that follow before the strategies and the monitor see the quote (so nothing races)."""

    def __init__(self, paper: PaperExchange) -> None:
        self._paper = paper

    def __getattr__(self, name: str) -> Any:
        if name == "on_quote":
            raise AttributeError(name)
        return getattr(self._paper, name)


class DrivenStream:
    """A MarketStream whose quotes the backtest driver pushes on its own thread."""

    venue = "replay"

    def __init__(self) -> None:
        self.sink: QuoteSink | None = None

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        self.sink = sink

    def stop(self) -> None:
        self.sink = None


@dataclass(frozen=True)
class BacktestResult:
    quotes: int
    skipped_lines: int
    document: dict[str, Any]
    report_dir: Path


def _replay_lines(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise ConfigError("--replay", f"cannot read {path}: {exc.strerror or exc}") from None


def _quotes(lines: Sequence[str], symbols: set[str]) -> Iterator[Quote | None]:
    """Each line as a Quote of a traded symbol, or None (malformed, or a symbol not traded)."""
    for line in lines:
        try:
            quote = parse_replay_line(line, ts_init=0)
        except MalformedMessage:
            yield None
            continue
        yield quote if quote.symbol in symbols else None


def backtest_config(config: AppConfig) -> AppConfig:
    """The config as a backtest runs it: the paper exchange (no state file), no API, no notifier."""
    return config.model_copy(
        update={
            "exchange": config.exchange.model_copy(update={"venue": Venue.PAPER, "market_data": "replay"}),
            "paper": config.paper.model_copy(update={"state_file": None}),
            "api": config.api.model_copy(update={"enabled": False}),
            "notify": config.notify.model_copy(update={"urls": ()}),
        }
    )


class _Driver:
    def __init__(
        self, engine: Engine, clock: ManualClock, streams: list[DrivenStream], paper: PaperExchange
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._streams = streams
        self._paper = paper
        self._pipeline = [
            feed_name(engine.source_name),
            *(strategy_name(s) for s in engine.config.symbols),
            EXECUTOR,
            user_stream_name(paper.venue),
            MONITOR,
            SUPERVISOR,
        ]

    def _barrier(self, name: ActorName) -> None:
        ref = self._engine.parts.directory.get(name)
        if ref is None:
            return
        # A dead actor crashed on this step; the supervisor restarts it on a later timer.
        with contextlib.suppress(pykka.ActorDeadError):
            ref.ask(Barrier(), timeout=BARRIER_TIMEOUT_S)

    def settle(self) -> None:
        """Every message told so far, and what it caused down the pipeline, has been handled."""
        for _ in range(2):
            for name in self._pipeline:
                self._barrier(name)

    def start(self) -> None:
        """Start the tree and wait, through barriers (never sleeps), until the feed has its stream,
        the monitor has reconciled and every strategy runs."""
        engine = self._engine
        engine.start()
        for _ in range(STARTUP_ROUNDS):
            self._barrier(SUPERVISOR)
            self.settle()
            if (
                self._streams
                and self._streams[-1].sink is not None
                and engine.view().reconciled
                and all(engine.parts.directory.get(strategy_name(s)) for s in engine.config.symbols)
            ):
                return
        raise RuntimeError("the actor tree did not start (see the log)")

    def advance_to(self, wall_ns: int) -> None:
        """Fire the timers due until ``wall_ns`` one at a time, settling after each, then set the time."""
        while True:
            remaining_s = max(0, wall_ns - self._clock.wall_ns()) / NS_PER_S
            if not self._clock.fire_next(remaining_s):
                break
            self.settle()
        remaining_s = max(0, wall_ns - self._clock.wall_ns()) / NS_PER_S
        if remaining_s > 0:
            self._clock.advance(remaining_s)

    def push(self, quote: Quote) -> bool:
        stream = self._streams[-1] if self._streams else None
        if stream is None or stream.sink is None:
            return False  # the feed is restarting: like a live gap in the data
        stamped = quote.model_copy(update={"ts_init": self._clock.wall_ns()})
        resting = bool(self._paper.engine.open_orders(stamped.symbol))
        self._paper.on_quote(stamped)  # resting orders match first, as on a venue
        if resting:
            self.settle()  # their order events, before anyone sees the quote
        stream.sink.on_quote(stamped)
        self.settle()
        return True


def write_report(
    journal: Path, report_dir: Path, *, steps: dict[str, Any], end_ns: int | None = None
) -> dict[str, Any]:
    """``report.json`` and ``report.html`` in ``report_dir`` from every fill in ``journal``; the period
    runs from the first fill to ``end_ns`` (default: the journal's newest record, as ``report`` does)."""
    reader = JournalReader(journal)
    all_steps = {**reader.symbol_steps(), **steps}
    dust = {symbol: lot for symbol, (_, lot) in all_steps.items()}
    fills = reader.fills()
    start_ns = fills[0].ts_ns if fills else None
    end = end_ns if end_ns is not None else reader.last_ts_ns()
    report = compute_pnl(fills, dust=dust, start_ns=start_ns, end_ns=end)
    document = report_document(report, all_steps)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (report_dir / "report.html").write_text(
        render_html(document, title="autohedge backtest"), encoding="utf-8"
    )
    return document


def run_backtest(
    config: AppConfig,
    replay: Path,
    report_dir: Path,
    *,
    base_dir: Path,
    progress: bool | None = None,
) -> BacktestResult:
    """Replay ``replay`` through the actor tree; write the journal and the report into ``report_dir``."""
    config = backtest_config(config)
    lines = _replay_lines(replay)
    quotes = list(_quotes(lines, set(config.symbols)))
    first = next((q for q in quotes if q is not None), None)
    if first is None:
        raise ConfigError("--replay", f"{replay} holds no valid quote of {', '.join(config.symbols)}")
    report_dir.mkdir(parents=True, exist_ok=True)
    journal = report_dir / JOURNAL_FILE
    for stale in (
        journal,
        journal.with_name(JOURNAL_FILE + "-wal"),
        journal.with_name(JOURNAL_FILE + "-shm"),
    ):
        stale.unlink(missing_ok=True)  # a backtest's journal holds that backtest only
    clock = ManualClock(start_wall_ns=first.ts_event, start_monotonic_ns=0)
    paper = build_exchange(config, clock=clock, secrets=Secrets.model_construct(), base_dir=base_dir)
    assert isinstance(paper, PaperExchange)  # backtest_config chose the paper venue
    streams: list[DrivenStream] = []

    def new_stream() -> DrivenStream:
        streams.append(DrivenStream())
        return streams[-1]

    engine = Engine(
        config,
        clock=clock,
        exchange=cast(Exchange, _MatchedByDriver(paper)),
        stream_factory=new_stream,
        user_stream_factory=lambda: PaperUserStream(paper.engine),
        base_dir=base_dir,
        journal_path=journal,
        secrets=Secrets.model_construct(),  # nothing from the environment: no keys, no notifications
    )
    driver = _Driver(engine, clock, streams, paper)
    show = sys.stderr.isatty() if progress is None else progress
    pushed = skipped = 0
    driver.start()
    try:
        with tqdm(total=len(quotes), unit="quote", disable=not show, mininterval=0.5) as bar:
            for quote in quotes:
                bar.update(1)
                if quote is None:
                    skipped += 1
                    continue
                driver.advance_to(quote.ts_event)
                if driver.push(quote):
                    pushed += 1
    finally:
        steps = engine.symbol_steps()
        engine.stop()
    document = write_report(journal, report_dir, steps=steps)
    return BacktestResult(quotes=pushed, skipped_lines=skipped, document=document, report_dir=report_dir)
