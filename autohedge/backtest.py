"""Backtest: the configured strategies, executor and monitor on recorded quotes, against the paper
exchange, under a ManualClock, as fast as the machine allows.

The composition root builds the same actor tree as ``run``, under a ``TurnScheduler``
(actors/turns.py, as ``simulate`` runs it): one handler at a time, in the order the messages were
sent. The driver (the calling thread) moves time: before each recorded quote it fires the timers due
until the quote's ``ts_event`` one at a time, then pushes the quote; each input is delivered holding
the turn and followed by a wait until the tree is idle, so every consequence is handled before the
next input. Two actors acting on one quote (the executor's entry and the monitor's guarded stop, say)
therefore reach the paper exchange in message order, never in the order their threads happen to run.
The LLM gateway is driven too: the model calls a step queued are made when the tree is idle and
answered in the order they were asked. Nothing sleeps: the same replay and config give the same
journal and the same report, byte for byte.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import msgspec
from tqdm import tqdm

from autohedge.actors.base import ActorHooks
from autohedge.actors.turns import TurnScheduler
from autohedge.adapters.journal.sqlite import JournalReader
from autohedge.adapters.marketdata.replay import parse_replay_line
from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.paper.stream import PaperUserStream
from autohedge.app import Engine, build_exchange, build_llm_gateway
from autohedge.core.actor_names import strategy_name
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

IDLE_TIMEOUT_S = 30.0
"""Wall-clock allowance for the tree to become idle after one input (a stall is a bug: it raises)."""
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


def _replay_lines(path: Path) -> list[str | None]:
    """The file's non-blank lines; None for a line that is not UTF-8 (one bad byte is one bad line, as
    in the replay stream, not a traceback for the whole file)."""
    try:
        raw_lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise ConfigError("--replay", f"cannot read {path}: {exc.strerror or exc}") from None
    lines: list[str | None] = []
    for raw in raw_lines:
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            lines.append(None)
            continue
        if line:
            lines.append(line)
    return lines


def _quotes(lines: Sequence[str | None], symbols: set[str]) -> Iterator[Quote | None]:
    """Each line as a Quote of a traded symbol, or None (malformed, or a symbol not traded)."""
    for line in lines:
        if line is None:
            yield None
            continue
        try:
            quote = parse_replay_line(line, ts_init=0)
        except MalformedMessage:
            yield None
            continue
        yield quote if quote.symbol in symbols else None


def backtest_config(config: AppConfig) -> AppConfig:
    """The config as a backtest runs it: the paper exchange (no state file), no API, no notifier, and
    entries sent on the executor's thread (no order senders): the order in which entries reach the
    paper venue follows the steps, never thread timing, so a report is the same byte for byte."""
    return config.model_copy(
        update={
            "exchange": config.exchange.model_copy(update={"venue": Venue.PAPER, "market_data": "replay"}),
            "executor": config.executor.model_copy(update={"submit_workers": 0}),
            "paper": config.paper.model_copy(update={"state_file": None}),
            "api": config.api.model_copy(update={"enabled": False}),
            "notify": config.notify.model_copy(update={"urls": ()}),
        }
    )


class _Driver:
    """The calling thread's side of a backtest: it takes the turn, delivers one input, gives the turn
    back and waits until the tree is idle (every consequence handled, in message order)."""

    def __init__(
        self,
        engine: Engine,
        clock: ManualClock,
        streams: list[DrivenStream],
        paper: PaperExchange,
        scheduler: TurnScheduler,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._streams = streams
        self._paper = paper
        self._scheduler = scheduler
        self._gateway = engine.llm_gateway

    def settle(self) -> None:
        """Wait until the tree is idle; then make the model calls its strategies queued, answered in
        the order they were asked, and wait for those answers' consequences too."""
        self._scheduler.wait_idle(timeout_s=IDLE_TIMEOUT_S)
        if self._gateway is None:
            return
        while True:
            with self._scheduler.turn(timeout_s=IDLE_TIMEOUT_S):
                made = self._gateway.run_pending()
            self._scheduler.wait_idle(timeout_s=IDLE_TIMEOUT_S)
            if not made:
                return

    def _ready(self) -> bool:
        engine = self._engine
        return bool(
            self._streams
            and self._streams[-1].sink is not None
            and engine.view().reconciled
            and all(engine.parts.directory.get(strategy_name(s)) for s in engine.config.symbols)
        )

    def start(self) -> None:
        """Start the tree; once idle, the feed has its stream, the monitor has reconciled and every
        strategy runs (anything still missing waits for a timer: those due now are fired)."""
        with self._scheduler.turn(timeout_s=IDLE_TIMEOUT_S):
            self._engine.start()
        self.settle()
        while not self._ready():
            if not self._fire_next(0.0):
                raise RuntimeError("the actor tree did not start (see the log)")

    def _fire_next(self, within_s: float) -> bool:
        with self._scheduler.turn(timeout_s=IDLE_TIMEOUT_S):
            fired = self._clock.fire_next(within_s)
        if fired:
            self.settle()
        return fired

    def advance_to(self, wall_ns: int) -> None:
        """Fire the timers due until ``wall_ns`` one at a time, settling after each, then set the time."""
        while self._fire_next(max(0, wall_ns - self._clock.wall_ns()) / NS_PER_S):
            pass
        remaining_s = max(0, wall_ns - self._clock.wall_ns()) / NS_PER_S
        if remaining_s > 0:
            with self._scheduler.turn(timeout_s=IDLE_TIMEOUT_S):
                self._clock.advance(remaining_s)

    def push(self, quote: Quote) -> bool:
        stream = self._streams[-1] if self._streams else None
        if stream is None or stream.sink is None:
            return False  # the feed is restarting: like a live gap in the data
        stamped = msgspec.structs.replace(quote, ts_init=self._clock.wall_ns())
        resting = bool(self._paper.engine.open_orders(stamped.symbol))
        if resting:
            # Resting orders match first, as on a venue, and their order events are handled before
            # anyone sees the quote.
            with self._scheduler.turn(timeout_s=IDLE_TIMEOUT_S):
                self._paper.on_quote(stamped)
            self.settle()
        with self._scheduler.turn(timeout_s=IDLE_TIMEOUT_S):
            if not resting:
                self._paper.on_quote(stamped)  # nothing rests to match: the quote is only stored
            stream.sink.on_quote(stamped)
        self.settle()
        return True

    def stop(self) -> None:
        """Let the tree run free (an orderly stop blocks on actors inside handlers), then stop it."""
        self._scheduler.release()
        self._engine.stop()


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
    journal = report_dir / JOURNAL_FILE
    trading_journal = (
        config.journal.path if config.journal.path.is_absolute() else base_dir / config.journal.path
    )
    if journal.resolve() == trading_journal.resolve():
        # The stale backtest journal is deleted below: here it would be the trade history of every run.
        raise ConfigError(
            "--report-dir", f"{report_dir} holds the trade journal (journal.path): choose another folder"
        )
    report_dir.mkdir(parents=True, exist_ok=True)
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

    scheduler = TurnScheduler()
    engine = Engine(
        config,
        clock=clock,
        exchange=cast(Exchange, _MatchedByDriver(paper)),
        stream_factory=new_stream,
        user_stream_factory=lambda: PaperUserStream(paper.engine),
        base_dir=base_dir,
        journal_path=journal,
        secrets=Secrets.model_construct(),  # nothing from the environment: no keys, no notifications
        hooks=ActorHooks(scheduler=scheduler),
        llm_gateway=(
            build_llm_gateway(config, clock=clock, base_dir=base_dir, threaded=False)
            if config.strategy != "hft"
            else None
        ),
    )
    driver = _Driver(engine, clock, streams, paper, scheduler)
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
        driver.stop()
    document = write_report(journal, report_dir, steps=steps)
    return BacktestResult(quotes=pushed, skipped_lines=skipped, document=document, report_dir=report_dir)
