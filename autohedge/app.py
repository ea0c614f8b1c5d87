"""Composition root: config -> adapters -> actor tree. The only place that knows every layer."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import random
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pykka
from loguru import logger
from pydantic import BaseModel, ConfigDict, PlainSerializer

from autohedge.actors.base import ActorContext, ActorHooks
from autohedge.actors.directory import Directory
from autohedge.actors.executor import AwaitSends, ExecutorActor, TrackedEntries, TrackedEntry
from autohedge.actors.feed import FeedActor, FeedSink
from autohedge.actors.journal import FlushJournal, JournalActor, journal_to
from autohedge.actors.monitor import MonitoredPosition, PositionMonitorActor
from autohedge.actors.protocol import Barrier, GetSnapshot
from autohedge.actors.reader import OrderReaderActor
from autohedge.actors.sender import OrderSenderActor
from autohedge.actors.strategy import HftSignalSource, LlmSignalSource, SignalSource, StrategyActor
from autohedge.actors.strategy_runner import StrategyLanes, StrategyRunnerActor, lane_factory
from autohedge.actors.supervisor import ChildSpec, ShutdownBegun, StopAll, Supervisor, SupervisorView
from autohedge.actors.user_stream import UserStreamActor
from autohedge.adapters.registry import VENUES, VenueEntry, venue_entry
from autohedge.api.models import HealthStatus
from autohedge.core.actor_names import (
    EXECUTOR,
    JOURNAL,
    MONITOR,
    ORDER_READER,
    STRATEGY_RUNNER,
    ActorKind,
    ActorName,
    feed_name,
    kind_of,
    order_sender_name,
    strategy_name,
    user_stream_name,
)
from autohedge.core.backoff import protection_restart_limit_s
from autohedge.core.child_states import ChildState
from autohedge.core.clock import NS_PER_S, Clock, RealClock
from autohedge.core.collection import CollectionPolicy, collect_and_freeze
from autohedge.core.config import AppConfig, Secrets
from autohedge.core.conflate import LatestSlots, WatchedSlots
from autohedge.core.dedupe import FillDeduper
from autohedge.core.errors import ConfigError, VenueError
from autohedge.core.eventlog import EventLog
from autohedge.core.gates import KILL_SWITCH, STOPPED, Gate
from autohedge.core.heap_trim import HeapTrimPolicy, HeapTrimSchedule
from autohedge.core.ids import OrderKeySource
from autohedge.core.journal import JournalWriter
from autohedge.core.known_sales import KnownSales
from autohedge.core.ledger import AccountLedger
from autohedge.core.messages import CancelEntries, Quote, SetEntryGate
from autohedge.core.metrics import Metrics
from autohedge.core.notify import (
    Notification,
    NotifyLevel,
    ban_started,
    notification_for,
    parse_url_list,
    seconds_to_next_utc_day,
)
from autohedge.core.order_session import OrderSessionStatus, session_reasons
from autohedge.core.pnl import PnlReport, compute_pnl
from autohedge.core.ports import Exchange, MarketStream, OrderPipe, OrderSessionHolder, UserStream
from autohedge.core.ratelimit import SymbolRateLimiter, VenueStatus
from autohedge.core.types import Venue
from autohedge.memory import Heap, glibc_heap

if TYPE_CHECKING:  # imported at run time only when an LLM strategy is configured
    from autohedge.adapters.openai.gateway import LlmGateway
    from autohedge.core.strategy.llm import LlmOutcome

__all__ = [
    "Engine",
    "EngineParts",
    "RunSummary",
    "SummaryActor",
    "SummaryPosition",
    "VenueLimitSummary",
    "VenueSummary",
    "account_identity",
    "build_exchange",
    "build_llm_gateway",
    "build_stream_factory",
    "build_user_stream_factory",
    "check_credentials",
    "open_journal",
    "refuse_live_without_opt_in",
    "venue_reasons",
    "venue_view",
]

ASK_TIMEOUT_S = 10.0
VENUE_WATCH_S = 2.0
"""How often the venue's pushback state is read for ban notifications."""
HEAP_TRIMS = HeapTrimPolicy()
"""When the engine gives freed heap memory back (``core/heap_trim.py``)."""
SUMMARY_COUNTERS = (
    "quotes",
    "signals",
    "orders_submitted",
    "orders_filled",
    "orders_rejected",
    "exits_armed",
    "orphans_repaired",
    "dead_letters",
    "malformed_messages",
)


def _resolve(path: Path | None, base_dir: Path) -> Path | None:
    if path is None:
        return None
    return path if path.is_absolute() else base_dir / path


def account_identity(config: AppConfig, *, base_dir: Path, run_wall_ns: int) -> str:
    """Who holds the positions, for the journal's account epochs: the paper exchange's account lives in
    its state file, or only as long as the run without one. Other venues: unknown (empty), so the
    journal compares quantities only."""
    if config.exchange.venue is not Venue.PAPER:
        return ""
    state_file = _resolve(config.paper.state_file, base_dir)
    return f"paper state {state_file.resolve()}" if state_file is not None else f"paper run {run_wall_ns}"


def _refuse_live_without_opt_in(config: AppConfig, entry: VenueEntry) -> None:
    endpoints = entry.endpoints(config)
    if endpoints is not None and entry.is_live_endpoint(endpoints.rest_url) and not config.exchange.live:
        raise ConfigError(
            "exchange.live",
            f"venues.{entry.name}.rest_url is a live trading endpoint; set exchange.live: true "
            "to trade real money",
        )


def _venues_signed_to(config: AppConfig) -> list[VenueEntry]:
    """The trading venue, and a market-data venue whose stream needs keys."""
    entries = [venue_entry(config.exchange.venue.value)]
    data = VENUES.get(config.exchange.market_data)
    if data is not None and data.stream_needs_keys and data not in entries:
        entries.append(data)
    return entries


def refuse_live_without_opt_in(config: AppConfig) -> None:
    """``ConfigError`` (``exchange.live``) when a venue the run signs calls to is a live endpoint and the
    opt-in is missing: a rule of the file alone, so ``check-config`` applies it as ``run`` does."""
    for entry in _venues_signed_to(config):
        _refuse_live_without_opt_in(config, entry)


def build_exchange(config: AppConfig, *, clock: Clock, secrets: Secrets, base_dir: Path) -> Exchange:
    """The exchange port for ``exchange.venue`` (the paper exchange or a venue adapter). No network I/O."""
    entry = venue_entry(config.exchange.venue.value)
    _refuse_live_without_opt_in(config, entry)
    return entry.create_exchange(config, secrets, clock, base_dir)


def check_credentials(
    config: AppConfig, *, clock: Clock, secrets: Secrets, exchange: Exchange | None = None
) -> None:
    """One signed call per configured venue that needs keys (the trading venue; a market-data venue whose
    stream needs keys), before any actor starts. Raises ``AuthError`` naming the variables to set. A live
    endpoint is never called without the explicit opt-in (``ConfigError`` first). ``exchange``: the
    trading exchange (``build_exchange``), whose request budget its venue's call spends from: a call on a
    budget of its own would let the process send one more than the venue's limit."""
    refuse_live_without_opt_in(config)
    for entry in _venues_signed_to(config):
        same_venue = exchange is not None and exchange.venue == entry.name
        entry.check_credentials(config, secrets, clock, exchange if same_venue else None)


def build_stream_factory(
    config: AppConfig, *, clock: Clock, secrets: Secrets, base_dir: Path, exchange: Exchange | None = None
) -> tuple[str, Callable[[], MarketStream]]:
    """(source name, factory of a fresh stream per feed incarnation) for ``exchange.market_data``.
    A venue's symbols are resolved here, once, so no feed start-up or reconnect spends REST."""
    source = config.exchange.market_data
    if source == "synthetic":
        from autohedge.adapters.marketdata.synthetic import SyntheticStream

        return source, lambda: SyntheticStream(clock, config.synthetic, symbols=config.symbols)
    if source == "replay":
        from autohedge.adapters.marketdata.replay import ReplayStream

        replay_file = _resolve(config.exchange.replay_file, base_dir)
        assert replay_file is not None  # checked by the config's second pass
        return source, lambda: ReplayStream(
            clock,
            replay_file,
            symbols=config.symbols,
            speed=config.exchange.replay_speed,
            loop=config.exchange.replay_loop,
        )
    entry = venue_entry(source, key_path="exchange.market_data")
    if entry.create_stream_factory is None:
        raise ConfigError("exchange.market_data", f"{source} has no market data of its own")
    # One request budget per venue, and one read of its symbols: the stream is given the trading
    # adapter when it trades on the same venue.
    same_venue = exchange if exchange is not None and exchange.venue == source else None
    return source, entry.create_stream_factory(config, clock, secrets, same_venue)


def build_user_stream_factory(
    config: AppConfig, *, exchange: Exchange, clock: Clock, secrets: Secrets
) -> Callable[[], UserStream] | None:
    """A fresh private order stream per user-stream incarnation, for the trading venue. None when the
    venue has none (then orders are polled at the fast interval)."""
    create = venue_entry(config.exchange.venue.value).create_user_stream
    if create is None:
        return None
    return lambda: create(config, secrets, clock, exchange)


def build_llm_gateway(
    config: AppConfig, *, clock: Clock, base_dir: Path, threaded: bool = True
) -> LlmGateway:
    """The model client (live, recording, or replaying a recording) behind a throttled gateway;
    ``threaded=False``: driven by its caller (``LlmGateway.run_pending``), as a backtest does."""
    from autohedge.adapters.openai.client import ChatClient, OpenAIChatClient, api_key_from_env
    from autohedge.adapters.openai.gateway import LlmGateway
    from autohedge.adapters.openai.recording import RecordingClient, ReplayClient
    from autohedge.core.strategy.llm import LlmThrottle

    llm = config.llm
    replay = _resolve(llm.replay_file, base_dir)
    client: ChatClient = (
        ReplayClient(replay) if replay is not None else OpenAIChatClient(llm, api_key=api_key_from_env(llm))
    )
    record = _resolve(llm.record_file, base_dir)
    if record is not None:
        client = RecordingClient(client, record, clock)
    return LlmGateway(
        client,
        max_concurrent=llm.max_concurrent,
        throttle=LlmThrottle(llm, clock),
        clock=clock,
        threaded=threaded,
    )


def open_journal(path: Path) -> JournalWriter:
    """Open (create, migrate) the SQLite journal on the caller's thread: a bad path fails at start-up
    as a config error rather than later on the journal's thread."""
    from autohedge.adapters.journal.sqlite import SqliteJournal

    try:
        return SqliteJournal(path)
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        raise ConfigError("journal.path", f"cannot open {path}: {exc}") from None


@dataclass
class EngineParts:
    """Everything tests may want to reach into, built once per engine."""

    clock: Clock
    metrics: Metrics
    events: EventLog
    directory: Directory
    exchange: Exchange
    strategy_slots: LatestSlots[Quote]
    monitor_slots: WatchedSlots[Quote]
    lanes: StrategyLanes | None
    """The strategy runner's lanes (``hft.shared_runner``, HFT strategy); None: an actor per symbol."""
    keys: OrderKeySource
    rate_limiter: SymbolRateLimiter
    ledger: AccountLedger
    sales: KnownSales
    """The monitor's known exit sales the ledger does not include yet: kept across its restarts, as the
    ledger is (one incarnation at a time uses it)."""
    deduper: FillDeduper
    entries: TrackedEntries
    """The executor's tracked entries: kept across its restarts (its own thread only, one at a time)."""
    in_flight: dict[str, TrackedEntry]
    """The executor's entries awaiting the venue's answer (sent, or being looked up): kept the same way."""


class Engine:
    """Builds and runs the actor tree. Methods run on the caller's thread (CLI, API, tests)."""

    def __init__(
        self,
        config: AppConfig,
        *,
        clock: Clock | None = None,
        exchange: Exchange | None = None,
        stream_factory: Callable[[], MarketStream] | None = None,
        user_stream_factory: Callable[[], UserStream] | None = None,
        source_factory: Callable[[str], SignalSource] | None = None,
        secrets: Secrets | None = None,
        base_dir: Path | None = None,
        rng: random.Random | None = None,
        hooks: ActorHooks | None = None,
        executor_cls: type[ExecutorActor] = ExecutorActor,
        monitor_cls: type[PositionMonitorActor] = PositionMonitorActor,
        journal_path: Path | None = None,
        llm_gateway: LlmGateway | None = None,
        heap: Heap | None = None,
        heap_trims: HeapTrimPolicy | None = HEAP_TRIMS,
        collection: CollectionPolicy | None = None,
    ) -> None:
        """``journal_path``: write the trade journal there (the CLI passes ``journal.path``).
        ``llm_gateway``: the model gateway of the llm and hybrid strategies (default: built from the
        config, with worker threads); the engine closes it on stop. ``heap``: the process heap whose
        freed memory is given back on the clock by ``heap_trims`` (default: glibc's where the C library
        is glibc; elsewhere, or with ``heap_trims=None``, nothing is trimmed). ``collection``: collect
        and freeze the interpreter's objects when the engine starts and then periodically
        (``core/collection.py``; the CLI's process, never a test's interpreter)."""
        self.config = config
        self._hooks = hooks
        # Test doubles of the executor and the monitor (the simulator's planted defects).
        self._executor_cls = executor_cls
        self._monitor_cls = monitor_cls
        base = base_dir or Path.cwd()
        self._base_dir = base
        self._secrets = secrets or Secrets()
        clock = clock or RealClock()
        metrics = Metrics()
        exchange = exchange or build_exchange(config, clock=clock, secrets=self._secrets, base_dir=base)
        self.parts = EngineParts(
            clock=clock,
            metrics=metrics,
            events=EventLog(clock),
            directory=Directory(metrics),
            exchange=exchange,
            strategy_slots=LatestSlots(),
            monitor_slots=WatchedSlots(),
            lanes=StrategyLanes(WatchedSlots())
            if config.strategy == "hft" and config.hft.shared_runner
            else None,
            keys=OrderKeySource(clock),
            rate_limiter=SymbolRateLimiter(clock, config.rate_limit_ms),
            ledger=AccountLedger(spot=exchange.capabilities.spot_positions, now_ns=clock.monotonic_ns),
            sales=KnownSales(),
            entries=TrackedEntries(),
            in_flight={},
            deduper=FillDeduper(config.user_stream.dedupe_capacity, now_ns=clock.monotonic_ns),
        )
        if user_stream_factory is None:
            user_stream_factory = build_user_stream_factory(
                config, exchange=exchange, clock=clock, secrets=self._secrets
            )
        self._user_stream_factory = user_stream_factory
        if stream_factory is None:
            self.source_name, stream_factory = build_stream_factory(
                config, clock=clock, secrets=self._secrets, base_dir=base, exchange=exchange
            )
        else:
            self.source_name = config.exchange.market_data
        self._stream_factory = stream_factory
        self.llm_gateway: LlmGateway | None = None
        if source_factory is None:
            if config.strategy == "hft":
                source_factory = lambda symbol: HftSignalSource(symbol, config.hft, clock)  # noqa: E731
            else:
                gateway = self.llm_gateway = llm_gateway or build_llm_gateway(
                    config, clock=clock, base_dir=base
                )
                source_factory = functools.partial(self._llm_source, gateway=gateway)
        self._source_factory = source_factory
        self._rng = rng
        self._supervisor: pykka.ActorRef[Any] | None = None
        self.started_ns = clock.monotonic_ns()
        self.started_wall_ns = clock.wall_ns()
        self.journal_path = journal_path
        self._journal_writer = open_journal(journal_path) if journal_path is not None else None
        self._journal: pykka.ActorRef[Any] | None = None
        if journal_path is not None:
            directory = self.parts.directory
            self.parts.events.subscribe(lambda event: journal_to(directory, event))
        self.notifier = self._build_notifier()
        self._heap = (heap or glibc_heap()) if heap_trims is not None else None
        self._heap_trims = heap_trims
        self._collection = collection

    def _build_notifier(self) -> Any:
        """The notification sender when ``notify.urls`` or ``AUTOHEDGE_NOTIFY_URLS`` name targets."""
        env = self._secrets.autohedge_notify_urls
        urls = (*self.config.notify.urls, *(parse_url_list(env.get_secret_value()) if env else ()))
        if not urls:
            return None
        from autohedge.adapters.notify.sender import NotificationSender  # apprise only when used

        try:
            sender = NotificationSender(
                urls, metrics=self.parts.metrics, timeout_s=self.config.notify.timeout_s
            )
        except ValueError as exc:
            raise ConfigError("notify.urls", str(exc)) from None
        position_closed = self.config.notify.position_closed

        def on_event(event: Any) -> None:
            notification = notification_for(event, position_closed=position_closed)
            if notification is not None:
                sender.submit(notification)

        self.parts.events.subscribe(on_event)
        return sender

    def _watch_venue(self, *, was_banned: bool) -> None:
        """Every ``VENUE_WATCH_S``, read the venue's pushback state; a ban becomes a ``venue_banned``
        event (journal, notification). Runs on the clock's thread: a lock-guarded read, no I/O."""
        clock, budget = self.parts.clock, self.parts.exchange.request_budget

        def check() -> None:
            if self._supervisor is None:
                return  # stopped
            status = budget.status()
            text = ban_started(was_banned, status, clock.wall_ns())
            if text is not None:
                self.parts.events.record("venue_banned", text, level="ERROR")
            self._watch_venue(was_banned=status.banned and status.rate_limited)

        clock.call_later(VENUE_WATCH_S, check)

    def _trim_heap_later(self, schedule: HeapTrimSchedule, heap: Heap) -> None:
        """Every ``check_s`` of the engine's clock, read the resident size and give the heap's free pages
        back when the schedule says so (``core/heap_trim.py``). Runs on the clock's thread: a file read
        and, now and then, a ``malloc_trim`` of about 0.1 ms of CPU, without the interpreter lock."""
        clock, metrics = self.parts.clock, self.parts.metrics

        def look() -> None:
            if self._supervisor is None:
                return  # stopped
            now_ns = clock.monotonic_ns()
            if schedule.due(now_ns, heap.rss_bytes()):
                took_s = heap.trim()
                schedule.trimmed(now_ns, heap.rss_bytes())
                metrics.inc("heap_trims")
                metrics.inc("heap_trim_us", round(took_s * 1e6))
            self._trim_heap_later(schedule, heap)

        clock.call_later(schedule.check_s, look)

    def _collect_later(self, policy: CollectionPolicy, delay_s: float) -> None:
        """In ``delay_s`` of the engine's clock, and then every ``full_every_s``, one full collection that
        freezes its survivors (``core/collection.py``). Runs on the clock's thread, holding the
        interpreter lock meanwhile."""
        clock, metrics = self.parts.clock, self.parts.metrics

        def collect() -> None:
            if self._supervisor is None:
                return  # stopped
            took_s = collect_and_freeze()
            metrics.inc("full_collections")
            metrics.inc("full_collection_us", round(took_s * 1e6))
            self._collect_later(policy, policy.full_every_s)

        clock.call_later(delay_s, collect)

    def _schedule_daily_summary(self) -> None:
        """At each UTC midnight, queue the summary of the day that ended (built on the sender's thread)."""
        clock, sender = self.parts.clock, self.notifier

        def fire() -> None:
            end_ns = clock.wall_ns()
            start_ns = end_ns - 86_400 * NS_PER_S
            sender.submit(lambda: self._daily_summary(start_ns, end_ns))
            self._schedule_daily_summary()

        clock.call_later(seconds_to_next_utc_day(clock.wall_ns()), fire)

    def _daily_summary(self, start_ns: int, end_ns: int) -> Notification:
        """Runs on the notification sender's thread."""
        from autohedge.adapters.journal.sqlite import JournalReader
        from autohedge.reporting.document import iso

        day = iso(start_ns)[:10]
        if self.journal_path is None or not self.journal_path.exists():
            counters = self.parts.metrics.snapshot()
            body = f"orders filled so far: {counters.get('orders_filled', 0)} (no journal: no P&L)"
        else:
            reader = JournalReader(self.journal_path)
            fills = (f for f in reader.each_fill(start_ns) if f.ts_ns < end_ns)
            dust = {symbol: lot for symbol, (_, lot) in reader.symbol_steps().items()}
            report = compute_pnl(fills, dust=dust, start_ns=start_ns, end_ns=end_ns, oldest_first=True)
            o = report.overall
            realized, fees = o.realized_pnl.quantize(Decimal("0.0001")), o.fees.quantize(Decimal("0.0001"))
            body = (
                f"{o.closed_trades} trades, win rate {o.win_rate * 100:.1f}%, realized P&L {realized} "
                f"after fees {fees}"
            )
        return Notification(f"autohedge: daily summary {day} (UTC)", body, NotifyLevel.INFO)

    def _llm_source(self, symbol: str, *, gateway: LlmGateway) -> SignalSource:
        directory, exchange = self.parts.directory, self.parts.exchange

        def deliver(outcome: LlmOutcome) -> None:
            directory.tell_if_present(strategy_name(symbol), outcome)

        def position_of(sym: str) -> tuple[Decimal, Decimal | None]:
            held = exchange.positions([sym])
            return (held[0].qty, held[0].avg_entry_price) if held else (Decimal(0), None)

        return LlmSignalSource(
            symbol,
            config=self.config,
            gateway=gateway,
            clock=self.parts.clock,
            deliver=deliver,
            position_of=position_of,
            hybrid=self.config.strategy == "hybrid",
        )

    # -- child specs --------------------------------------------------------------------------------

    def _specs(self) -> list[ChildSpec]:
        parts, config = self.parts, self.config
        matches = venue_entry(config.exchange.venue.value).matches_on_quotes
        listener = getattr(parts.exchange, "on_quote", None) if matches else None
        feed = feed_name(self.source_name)

        def start_feed(ctx: ActorContext, _: Mapping[Gate, str]) -> pykka.ActorRef[Any]:
            sink = FeedSink(
                feed_name=feed,
                clock=parts.clock,
                directory=parts.directory,
                metrics=parts.metrics,
                strategy_slots=parts.strategy_slots,
                monitor_slots=parts.monitor_slots,
                runner_slots=parts.lanes.slots if parts.lanes is not None else None,
                market_listener=listener,
            )
            return FeedActor.start(
                ctx,
                venue=self.source_name,
                stream_factory=self._stream_factory,
                sink=sink,
                symbols=config.symbols,
                stale_after_s=config.feed.stale_after_s,
            )

        venue = parts.exchange.venue
        senders = [order_sender_name(venue, i) for i in range(config.executor.submit_workers)]

        def sender(ctx: ActorContext, _: Mapping[Gate, str]) -> pykka.ActorRef[Any]:
            return OrderSenderActor.start(ctx, exchange=parts.exchange)

        def reader(ctx: ActorContext, _: Mapping[Gate, str]) -> pykka.ActorRef[Any]:
            return OrderReaderActor.start(ctx, exchange=parts.exchange)

        pipe = parts.exchange if isinstance(parts.exchange, OrderPipe) else None
        if not config.executor.pipelined_entries:
            pipe = None

        def executor(ctx: ActorContext, gates: Mapping[Gate, str]) -> pykka.ActorRef[Any]:
            return self._executor_cls.start(
                ctx,
                exchange=parts.exchange,
                config=config,
                gates=dict(gates),
                keys=parts.keys,
                rate_limiter=parts.rate_limiter,
                ledger=parts.ledger,
                entries=parts.entries,
                in_flight=parts.in_flight,
                senders=senders,
                quotes=parts.monitor_slots.peek,
                pipe=pipe,
            )

        account = account_identity(config, base_dir=self._base_dir, run_wall_ns=self.started_wall_ns)

        def monitor(ctx: ActorContext, _: Mapping[Gate, str]) -> pykka.ActorRef[Any]:
            return self._monitor_cls.start(
                ctx,
                exchange=parts.exchange,
                config=config,
                keys=parts.keys,
                slots=parts.monitor_slots,
                ledger=parts.ledger,
                sales=parts.sales,
                user_stream=self._user_stream_factory is not None,
                account=account,
            )

        user_stream_factory = self._user_stream_factory

        def user_stream(ctx: ActorContext, _: Mapping[Gate, str]) -> pykka.ActorRef[Any]:
            assert user_stream_factory is not None
            return UserStreamActor.start(
                ctx,
                venue=venue,
                stream_factory=user_stream_factory,
                exchange=parts.exchange,
                ledger=parts.ledger,
                deduper=parts.deduper,
                symbols=config.symbols,
                client_id_prefix=config.executor.client_id_prefix,
                supervision=config.supervisor,
            )

        lanes = parts.lanes

        def strategy(symbol: str) -> Callable[[ActorContext, Mapping[Gate, str]], pykka.ActorRef[Any]]:
            if lanes is not None:
                return lane_factory(lanes, symbol, lambda: self._source_factory(symbol))

            def start(ctx: ActorContext, _: Mapping[Gate, str]) -> pykka.ActorRef[Any]:
                return StrategyActor.start(
                    ctx,
                    symbol=symbol,
                    source_factory=lambda: self._source_factory(symbol),
                    slots=parts.strategy_slots,
                )

            return start

        # A fill reaches its exits through the executor and the monitor, and a restarted monitor reconciles
        # from the user stream's ledger: none stays down for longer than the promise allows, however often
        # it crashed.
        down_s = protection_restart_limit_s(config.monitor.max_unprotected_s)
        specs = [ChildSpec(feed, ActorKind.FEED, start_feed, venue=self.source_name)]
        if user_stream_factory is not None:
            specs.append(
                ChildSpec(
                    user_stream_name(venue),
                    ActorKind.USER_STREAM,
                    user_stream,
                    venue=venue,
                    max_restart_delay_s=down_s,
                )
            )
        # Senders start before the executor (it finds them running) and stop after it.
        specs += [ChildSpec(name, ActorKind.ORDER_SENDER, sender, venue=venue) for name in senders]
        # The reader finds a fill whose event was lost, so it restarts within the limit like the executor.
        specs.append(ChildSpec(ORDER_READER, ActorKind.ORDER_READER, reader, max_restart_delay_s=down_s))
        specs += [
            ChildSpec(EXECUTOR, ActorKind.EXECUTOR, executor, max_restart_delay_s=down_s),
            ChildSpec(MONITOR, ActorKind.MONITOR, monitor, max_restart_delay_s=down_s),
        ]
        if lanes is not None:

            def runner(ctx: ActorContext, _: Mapping[Gate, str]) -> pykka.ActorRef[Any]:
                assert lanes is not None
                return StrategyRunnerActor.start(ctx, lanes=lanes)

            # Started with the others (the lanes, after reconciliation, find it running); stopped after them.
            specs.append(ChildSpec(STRATEGY_RUNNER, ActorKind.STRATEGY_RUNNER, runner))
        specs += [
            ChildSpec(strategy_name(s), ActorKind.STRATEGY, strategy(s), symbol=s) for s in config.symbols
        ]
        return specs

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        parts = self.parts
        writer = self._journal_writer
        if writer is not None:
            # Started before the tree and stopped after it: it sees every record the tree sends.
            self._journal = JournalActor.start(
                writer_factory=lambda: writer, clock=parts.clock, metrics=parts.metrics
            )
            parts.directory.register(JOURNAL, self._journal)
        if self.notifier is not None and self.config.notify.daily_summary:
            self._schedule_daily_summary()
        if self.notifier is not None or self._journal is not None:
            self._watch_venue(was_banned=False)
        if isinstance(parts.exchange, OrderSessionHolder):
            parts.exchange.open_order_session()
        self._supervisor = Supervisor.start(
            specs=self._specs(),
            config=self.config.supervisor,
            clock=parts.clock,
            directory=parts.directory,
            metrics=parts.metrics,
            events=parts.events,
            rng=self._rng,
            hooks=self._hooks,
        )
        heap = self._heap
        if heap is not None and self._heap_trims is not None:
            now_ns, rss_bytes = parts.clock.monotonic_ns(), heap.rss_bytes()
            self._trim_heap_later(
                HeapTrimSchedule(self._heap_trims, now_ns=now_ns, rss_bytes=rss_bytes), heap
            )
        if self._collection is not None:
            self._collect_later(self._collection, self._collection.first_after_s)
        parts.events.record(
            "started",
            f"venue {self.config.exchange.venue.value}, market data {self.source_name}, "
            f"strategy {self.config.strategy}, symbols {', '.join(self.config.symbols)}",
        )

    @property
    def running(self) -> bool:
        """Started and not (yet) stopped: the actor tree can be asked."""
        return self._supervisor is not None

    @property
    def supervisor(self) -> pykka.ActorRef[Any]:
        if self._supervisor is None:
            raise RuntimeError("engine not started")
        return self._supervisor

    def ask(self, name: ActorName, message: object, timeout_s: float = ASK_TIMEOUT_S) -> Any:
        """Ask an actor by name (CLI/API/test threads only). None when it is not running."""
        ref = self.parts.directory.get(name)
        if ref is None:
            return None
        try:
            return ref.ask(message, timeout=timeout_s)
        except pykka.ActorDeadError:
            return None

    def view(self) -> SupervisorView:
        view = self.supervisor.ask(GetSnapshot(), timeout=ASK_TIMEOUT_S)
        assert isinstance(view, SupervisorView)
        return view

    def positions(self) -> list[MonitoredPosition]:
        positions: list[MonitoredPosition] | None = self.ask(MONITOR, GetSnapshot())
        return positions or []

    def stop(self, *, cancel_entries: bool | None = None) -> None:
        """Orderly shutdown: cancel open entries (if configured; never exits), stop the tree in reverse
        order, release the stream and the exchange, stop the timer thread."""
        if self._supervisor is None:
            return
        # No entry may be placed once shutdown begins (a signal or a venue-delayed entry in flight would
        # otherwise land after the cancel below and be left unguarded): the gate is closed before it, by
        # the supervisor, which tells the executor and keeps it for any incarnation it starts from now on
        # (one restarted while the stop waits for a sender would otherwise trade on).
        gate = SetEntryGate(gate=STOPPED, closed=True, reason="the process is stopping")
        try:  # and an operator's start asked while the stop waits opens nothing
            self._supervisor.ask(ShutdownBegun(), timeout=ASK_TIMEOUT_S)
        except (pykka.Timeout, pykka.ActorDeadError):
            self.parts.directory.tell_if_present(EXECUTOR, gate)
        cancel = self.config.executor.cancel_entries_on_stop if cancel_entries is None else cancel_entries
        if cancel:
            try:
                self._answer_sends()
                cancelled = self.ask(EXECUTOR, CancelEntries())
                if cancelled:
                    self.parts.events.record(
                        "entries_cancelled", f"{cancelled} open entry orders cancelled at shutdown"
                    )
            except Exception as exc:  # noqa: BLE001 - shutdown must go on whatever the venue says
                logger.warning("cancelling entries at shutdown failed: {}", exc)
        try:
            self._supervisor.ask(StopAll(), timeout=30.0)
        finally:
            self._supervisor.stop(block=True, timeout=5.0)
            self._supervisor = None
            if self.llm_gateway is not None:
                self.llm_gateway.close()
            close = getattr(self.parts.exchange, "close", None)
            if close is not None:
                close()
            stop_clock = getattr(self.parts.clock, "stop", None)
            if stop_clock is not None:
                stop_clock()
            self.parts.events.record("stopped", "actor tree stopped")
            self._stop_journal()
            if self.notifier is not None:
                self.notifier.close()

    def _answer_sends(self) -> None:
        """Caller's thread, at shutdown: wait until every entry the executor handed to a sender has been
        answered and applied, so the cancel of open entries that follows sees it placed."""
        senders = [n for n in self.parts.directory.names() if kind_of(n) is ActorKind.ORDER_SENDER]
        for name in (EXECUTOR, *senders, EXECUTOR):
            # A sender stuck on a silent venue must not keep the others' entries from being cancelled:
            # what is still in flight is cancelled by the executor once placed.
            with contextlib.suppress(pykka.Timeout):
                self.ask(name, Barrier())
        # Entries written on the order connection are answered on its thread, which no barrier waits
        # for: a fill answered after the monitor stopped would be left without exits at exit.
        with contextlib.suppress(pykka.Timeout):
            awaited = self.ask(EXECUTOR, AwaitSends())
            if awaited is not None:
                count, answered = awaited
                self.parts.events.record(
                    "stop_awaits_entries", f"waiting for the venue's answer to {count} entries in flight"
                )
                if not answered.wait(ASK_TIMEOUT_S):
                    logger.warning("entries in flight still unanswered after {}s", ASK_TIMEOUT_S)

    def flush_journal(self) -> None:
        """Wait until the journal has written everything told to it so far (tests, reports)."""
        if self._journal is not None:
            self._journal.ask(FlushJournal(), timeout=ASK_TIMEOUT_S)

    def _stop_journal(self) -> None:
        if self._journal is None:
            return
        self.parts.directory.unregister(JOURNAL, self._journal)
        try:
            self._journal.stop(block=True, timeout=ASK_TIMEOUT_S)
        except pykka.Timeout:
            logger.error("the journal did not finish writing within {}s", ASK_TIMEOUT_S)
        self._journal = None

    # -- reporting --------------------------------------------------------------------------------------

    def symbol_steps(self) -> dict[str, tuple[Decimal, Decimal]]:
        """symbol -> (tick size, lot step) of every configured symbol the exchange has rules for."""
        steps: dict[str, tuple[Decimal, Decimal]] = {}
        for symbol in self.config.symbols:
            try:
                rules = self.parts.exchange.symbol_rules(symbol)
            except VenueError:
                continue
            steps[symbol] = (rules.tick_size, rules.lot_step)
        return steps

    def run_pnl(self) -> PnlReport | None:
        """P&L of this run's fills from the journal (None without a journal)."""
        if self.journal_path is None:
            return None
        from autohedge.adapters.journal.sqlite import JournalReader

        self.flush_journal()
        fills = JournalReader(self.journal_path).each_fill(since_ns=self.started_wall_ns)
        dust = {symbol: lot for symbol, (_, lot) in self.symbol_steps().items()}
        return compute_pnl(
            fills,
            dust=dust,
            start_ns=self.started_wall_ns,
            end_ns=self.parts.clock.wall_ns(),
            oldest_first=True,
        )

    def health(
        self, view: SupervisorView | None = None, positions: list[MonitoredPosition] | None = None
    ) -> tuple[HealthStatus, list[str]]:
        """(``ok`` | ``degraded`` | ``halted``, reasons). Halted: the kill switch is on. Degraded: a
        parked symbol, a degraded or stale venue, an unprotected position, an actor not running."""
        view = view or self.view()
        positions = self.positions() if positions is None else positions
        reasons: list[str] = []
        if view.kill_switch:
            reasons.append(f"kill switch: {view.gates.get(KILL_SWITCH, '')}")
        reasons += [f"symbol parked: {symbol}" for symbol in view.parked_symbols]
        reasons += [f"{gate}: {why}" for gate, why in view.gates.items() if gate.degrades_health]
        reasons += [f"position unprotected: {p.symbol}" for p in positions if p.unprotected]
        reasons += venue_reasons(self.parts.exchange.request_budget.status(), self.parts.clock.wall_ns())
        session = self.order_session_status()
        reasons += session_reasons(session) if session is not None else []
        if self.llm_gateway is not None and self.llm_gateway.paused:
            reasons.append("llm paused: daily token budget spent")
        reasons += [f"actor {c.name} {c.state}" for c in view.children if not c.state.is_healthy]
        if view.kill_switch:
            return "halted", reasons
        return ("degraded" if reasons else "ok"), reasons

    def order_session_status(self) -> OrderSessionStatus | None:
        """The trading venue's order session (orders over a WebSocket connection); None without one."""
        exchange = self.parts.exchange
        return exchange.order_session_status() if isinstance(exchange, OrderSessionHolder) else None

    def venues(self) -> dict[str, VenueSummary]:
        """Per venue: pushback state and request usage (the trading venue's shared budget), how often its
        user stream reconnected, and its order session's state and counters when it has one."""
        status = self.parts.exchange.request_budget.status()
        reconnects = self.parts.metrics.get("user_stream_reconnects")  # one trading venue per process
        session = self.order_session_status()
        update = {
            "user_stream_reconnects": reconnects,
            "order_session": session,
        }
        return {status.venue: venue_view(status).model_copy(update=update)}

    def summary(
        self, view: SupervisorView | None = None, positions: list[MonitoredPosition] | None = None
    ) -> RunSummary:
        """The ``--summary-json`` document (``view`` None: the final state could not be read)."""
        counters = self.parts.metrics.snapshot()
        out_counters = {name: counters.get(name, 0) for name in SUMMARY_COUNTERS}
        out_counters.update({k: v for k, v in counters.items() if k not in out_counters})
        return RunSummary(
            counters=out_counters,
            positions=tuple(
                SummaryPosition.model_validate(p, from_attributes=True) for p in (positions or [])
            ),
            actors={c.name: SummaryActor(state=c.state, restarts=c.restarts) for c in view.children}
            if view
            else {},
            parked_symbols=view.parked_symbols if view else (),
            kill_switch=view.kill_switch if view else False,
            venues=self.venues(),
            llm=self.llm_gateway.stats() if self.llm_gateway is not None else None,
        )


_PlainDecimal = Annotated[Decimal, PlainSerializer(lambda value: format(value, "f"), return_type=str)]
"""Serialized as plain text without an exponent (``10``, not ``1E+1``)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SummaryPosition(_Frozen):
    symbol: str
    qty: _PlainDecimal
    entry_price: _PlainDecimal | None
    protected: bool
    exit_order_ids: tuple[str, ...]
    take_profit: _PlainDecimal | None
    stop_loss: _PlainDecimal | None


class VenueLimitSummary(_Frozen):
    kind: str
    limit: float
    interval_s: float


class VenueSummary(_Frozen):
    rate_limited_until: str | None
    """When the venue last said "wait until" (ISO 8601 UTC; may be in the past), None if it never did."""
    rate_limited: bool
    banned: bool
    rate_limit_events: int
    auth_failed: str | None
    degraded: str | None
    requests_per_minute_max: int
    weight_share_max: float
    """The largest share of the request-weight limit used in any minute window."""
    limits: tuple[VenueLimitSummary, ...]
    user_stream_reconnects: int = 0
    """Times its private order stream connected again after a drop."""
    order_session: OrderSessionStatus | None = None
    """Its order session (orders over a WebSocket connection); None when orders go by REST only."""


class SummaryActor(_Frozen):
    state: ChildState
    restarts: int


class RunSummary(_Frozen):
    """What a run leaves behind: counters, final positions and actor states."""

    counters: dict[str, int]
    positions: tuple[SummaryPosition, ...]
    actors: dict[ActorName, SummaryActor]
    parked_symbols: tuple[str, ...]
    kill_switch: bool
    venues: dict[str, VenueSummary]
    """Per venue: its pushback state over the run, the most of its request budget used, and how often
    its user stream reconnected."""
    llm: dict[str, int] | None
    """The LLM gateway's counters; None (and left out of the JSON) without an LLM strategy."""
    pnl: dict[str, Any] | None = None
    """This run's trades, win rate, realized P&L and fees, and the open positions with their
    unrealized P&L and protection (``reporting.document.run_summary``)."""

    def to_json(self) -> str:
        exclude = {name for name in ("llm", "pnl") if getattr(self, name) is None}
        return self.model_dump_json(indent=2, exclude=exclude or None) + "\n"


def venue_reasons(status: VenueStatus, now_wall_ns: int) -> list[str]:
    """Health reasons from a venue's pushback state (empty when it is fine)."""
    reasons = []
    if status.auth_failed:
        reasons.append(f"venue {status.venue} auth failed: {status.auth_failed}")
    if status.rate_limited and status.rate_limited_until_ns is not None:
        wait_s = max(0.0, (status.rate_limited_until_ns - now_wall_ns) / NS_PER_S)
        kind = "banned" if status.banned else "rate limited"
        reasons.append(f"venue {status.venue} {kind} for {wait_s:.1f}s more (exits go first)")
    if status.degraded:
        reasons.append(f"venue {status.venue} degraded: {status.degraded}")
    return reasons


def venue_view(status: VenueStatus) -> VenueSummary:
    """A venue's pushback state and request usage (summary, status page)."""
    until = status.rate_limited_until_ns
    return VenueSummary(
        rate_limited_until=None
        if until is None
        else dt.datetime.fromtimestamp(until / NS_PER_S, tz=dt.UTC).isoformat(timespec="milliseconds"),
        rate_limited=status.rate_limited,
        banned=status.banned,
        rate_limit_events=status.rate_limit_events,
        auth_failed=status.auth_failed,
        degraded=status.degraded,
        requests_per_minute_max=status.requests_per_minute_max,
        weight_share_max=status.weight_share_max,
        limits=tuple(
            VenueLimitSummary(kind=r.kind.value, limit=r.limit, interval_s=r.interval_s)
            for r in status.limits
        ),
    )
