"""``autohedge simulate``: a whole trading day of the real actor tree under a simulated clock.

The process is built exactly as ``autohedge run`` builds it (``autohedge.app.Engine`` from the config),
with three things swapped in: a ``ManualClock``; the paper exchange behind ``ObservedExchange``; a
``ScenarioStream`` through which the simulator pushes quotes from the seeded ``MarketModel``. Actor
hooks put the tree under a ``TurnScheduler`` (one handler at a time, in message order) and let the
simulator throw exceptions inside handlers and see every crash.

The step discipline makes a run repeatable: the simulator takes the turn, moves the clock to the next
instant anything is due (a timer, a quote, a fault), fires what is due and delivers that instant's
quotes, gives the turn back, and waits until the tree is idle; then the invariant checker looks at the
venue's books and at what the engine did. Everything random (market, venue faults, injected
exceptions, crash instants, supervisor jitter) comes from generators seeded by the one seed, and is
drawn in that fixed order. Process crashes tear the whole tree down at a step boundary (the venue
is cut off first) and start a new process from the config; it keeps only what a real one would: the
paper exchange's state file and what the venue knows.
"""

from __future__ import annotations

import math
import random
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from autohedge.actors.base import ActorHooks
from autohedge.actors.executor import ExecutorActor
from autohedge.actors.feed import StaleFeedError, StreamDisconnectedError
from autohedge.actors.monitor import PositionMonitorActor
from autohedge.actors.protocol import Barrier, GetSnapshot
from autohedge.actors.turns import SchedulerStalled, TurnScheduler
from autohedge.adapters.marketdata.scenario import MarketModel, ScenarioStream
from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.paper.stream import PaperUserStream
from autohedge.app import Engine
from autohedge.core.actor_names import ActorKind, kind_of, strategy_name
from autohedge.core.clock import NS_PER_S, ManualClock
from autohedge.core.config import AppConfig, PaperFaults
from autohedge.core.errors import ConfigError, OutcomeUnknown, RetryableError
from autohedge.core.eventlog import Event
from autohedge.core.gates import GateKind
from autohedge.core.messages import OrderUpdate, Quote
from autohedge.core.types import Venue
from autohedge.sim.invariants import BookView, CheckerLimits, InvariantChecker
from autohedge.sim.order_events import EventFaults, FaultyUserStream
from autohedge.sim.venue import ObservedExchange, book_view

__all__ = ["ActorOverrides", "InjectedFault", "Simulation", "simulation_config"]

_SECONDS_PER_HOUR = 3600
_IDLE_TIMEOUT_S = 60.0


class InjectedFault(RuntimeError):
    """Thrown inside an actor's handler by the simulator (the actor crashes; it is supervised)."""


@dataclass(frozen=True)
class ActorOverrides:
    """Test doubles for the executor and the monitor (proving the checker by planting defects)."""

    executor: type[ExecutorActor] = ExecutorActor
    monitor: type[PositionMonitorActor] = PositionMonitorActor


def simulation_config(config: AppConfig, *, seed: int, state_file: Path) -> AppConfig:
    """``config`` with the ``simulate`` section's venue faults on the paper exchange, the state file
    in the simulation's directory and every seed derived from ``seed``."""
    if config.exchange.venue is not Venue.PAPER:
        raise ConfigError("exchange.venue", "simulate runs on the paper exchange: set it to paper")
    if config.strategy != "hft":
        raise ConfigError("strategy", "simulate runs the hft strategy (a model cannot be simulated)")
    sim = config.simulate
    faults = PaperFaults(
        reject_rate=sim.reject_rate,
        rate_limit_rate=sim.rate_limit_rate,
        ban_rate=sim.ban_rate,
        retry_after_s=sim.retry_after_s,
        ban_s=sim.ban_s,
        outcome_unknown_rate=sim.outcome_unknown_rate,
        outcome_unknown_after_share=sim.outcome_unknown_after_share,
        latency_ms=sim.latency_ms,
        partial_fill_ratio=sim.partial_fill_ratio,
    )
    paper = config.paper.model_copy(
        update={"faults": faults, "state_file": state_file, "seed": seed, "fee_in_base": sim.fee_in_base}
    )
    supervisor = config.supervisor.model_copy(update={"seed": seed})
    return config.model_copy(update={"paper": paper, "supervisor": supervisor})


@dataclass
class _Schedule:
    """Instants (monotonic ns) of the faults of a run, drawn up front from their own generator."""

    crashes: list[int] = field(default_factory=list)
    disconnects: list[int] = field(default_factory=list)
    stalls: list[int] = field(default_factory=list)

    @staticmethod
    def draw(rng: random.Random, start_ns: int, end_ns: int, per_hour: float) -> list[int]:
        """A Poisson process of ``per_hour`` events an hour over [start, end)."""
        out: list[int] = []
        if per_hour <= 0:
            return out
        t = float(start_ns)
        while True:
            t += rng.expovariate(per_hour / _SECONDS_PER_HOUR) * NS_PER_S
            if t >= end_ns:
                return out
            out.append(int(t))


@dataclass
class _Process:
    """One incarnation of the simulated process."""

    engine: Engine
    scheduler: TurnScheduler
    venue: ObservedExchange
    paper: PaperExchange
    threads_before: set[threading.Thread]
    events: EventFaults[OrderUpdate]


class Simulation:
    """Runs on the caller's thread (the driver). ``run()`` returns the report document."""

    def __init__(
        self,
        config: AppConfig,
        *,
        seed: int,
        hours: float,
        work_dir: Path | None = None,
        overrides: ActorOverrides | None = None,
        config_path: str = "config.yaml",
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="autohedge-sim-")
            work_dir = Path(self._tmp.name)
        self._state_file = work_dir / "paper-state.json"
        for stale in work_dir.glob("paper-state.json*"):
            stale.unlink()
        self.config = simulation_config(config, seed=seed, state_file=self._state_file)
        self.seed = seed
        self.hours = hours
        self._overrides = overrides or ActorOverrides()
        self._config_path = config_path
        self.clock = ManualClock()
        self.start_ns = self.clock.monotonic_ns()
        self.end_ns = self.start_ns + round(hours * _SECONDS_PER_HOUR * NS_PER_S)
        sim = self.config.simulate
        self.checker = InvariantChecker(
            limits=CheckerLimits(
                max_unprotected_s=self.config.monitor.max_unprotected_s,
                stop_budget_s=sim.stop_budget_s,
                max_open_entries=self.config.executor.max_open_entries_per_symbol,
                max_inbox_depth=sim.max_inbox_depth,
                max_restart_growth_threads=sim.max_restart_growth_threads,
                max_restart_growth_rss_mb=sim.max_restart_growth_rss_mb,
            ),
            start_ns=self.start_ns,
        )
        self._model = MarketModel(seed, dict(self.config.synthetic.symbols), self.config.symbols)
        self._handler_rng = random.Random(f"{seed}:handlers")
        # One generator per kind: a shorter run of a seed is the beginning of a longer one.
        self._schedule = _Schedule(
            crashes=_Schedule.draw(
                random.Random(f"{seed}:crashes"), self.start_ns, self.end_ns, sim.crashes_per_hour
            ),
            disconnects=_Schedule.draw(
                random.Random(f"{seed}:disconnects"),
                self.start_ns,
                self.end_ns,
                sim.feed_disconnects_per_hour,
            ),
            stalls=_Schedule.draw(
                random.Random(f"{seed}:stalls"), self.start_ns, self.end_ns, sim.feed_stalls_per_hour
            ),
        )
        period_ns = round(NS_PER_S / sim.quotes_per_second)
        self._period_ns = period_ns
        n = len(self.config.symbols)
        self._next_quote_ns = {
            s: self.start_ns + i * period_ns // n for i, s in enumerate(self.config.symbols)
        }
        self._last_quote: dict[str, Quote] = {}
        self._stalled_until_ns = 0
        self.step = 0
        self._user_stream: FaultyUserStream | None = None
        self._stream: ScenarioStream | None = None
        """The newest feed incarnation's stream (older ones, and their process, are let go)."""
        self._process: _Process | None = None
        self._dying = False
        self._incarnation = 0
        self._revision = -1
        self._totals: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._closes = 0
        self.crashes_injected = 0
        self.process_restarts = 0
        self.rss_mb_by_hour: list[float] = []
        self.state_bytes_by_hour: list[int] = []
        self.peaks: dict[str, int] = {}

    # -- the process ---------------------------------------------------------------------------------

    def _new_stream(self) -> ScenarioStream:
        """The feed actor's thread (each feed incarnation gets a fresh stream)."""
        stream = ScenarioStream()
        self._stream = stream
        return stream

    def _latency(self, seconds: float) -> None:
        """A venue call takes simulated time: the clock moves while the calling actor waits."""
        self.clock.advance(seconds)

    def _start_process(self) -> None:
        self._incarnation += 1
        threads_before = set(threading.enumerate())
        paper = PaperExchange.from_config(
            self.config.paper,
            clock=self.clock,
            symbols=self.config.symbols,
            sleep=self._latency,
            flush_on_demand=True,  # written after every step: a simulated crash falls between steps
        )
        for quote in self._last_quote.values():
            paper.on_quote(quote)  # the venue's market did not stop while the process was down
        venue = ObservedExchange(paper, checker=self.checker, clock=self.clock, step=lambda: self.step)
        sim = self.config.simulate
        events = EventFaults[OrderUpdate](
            random.Random(f"{self.seed}:order-events:{self._incarnation}"),
            duplicate_rate=sim.order_event_duplicate_rate,
            delay_rate=sim.order_event_delay_rate,
            reorder_rate=sim.order_event_reorder_rate,
            max_delay_s=sim.order_event_max_delay_s,
        )

        def user_stream() -> FaultyUserStream:
            """The user-stream actor's thread (a fresh stream per connection)."""
            stream = FaultyUserStream(PaperUserStream(paper.engine), events, self.clock)
            self._user_stream = stream
            return stream

        scheduler = TurnScheduler()
        hooks = ActorHooks(scheduler=scheduler, before_handle=self._before_handle, on_crash=self._on_crash)
        overrides = self._overrides
        engine = Engine(
            self.config,
            clock=self.clock,
            exchange=venue,
            stream_factory=self._new_stream,
            user_stream_factory=user_stream,
            rng=random.Random(f"{self.seed}:supervisor:{self._incarnation}"),
            hooks=hooks,
            executor_cls=overrides.executor,
            monitor_cls=overrides.monitor,
        )
        engine.parts.events.subscribe(self._on_event)
        self._process = _Process(engine, scheduler, venue, paper, threads_before, events)
        self._dying = False
        for symbol in self.config.symbols:
            self.checker.entry_settled(symbol)  # a new process knows nothing of the old one's submits
        with scheduler.turn():
            engine.start()
        self._wait_idle()

    def _stop_process(self) -> None:
        """Tear the process down: cut it off from the venue, let its actors run free, stop the tree."""
        process = self._process
        if process is None:
            return
        self._process = None
        self._stream = None
        self._user_stream = None
        self._dying = True
        process.venue.sever()
        process.scheduler.release()
        for name, value in process.engine.parts.metrics.snapshot().items():
            self._totals[name] += value
        for kind, count in process.paper.faults_injected.items():
            self._faults[kind] += count
        for kind, count in process.events.injected.items():
            self._faults[kind] += count
        for name, depth in process.scheduler.peak_depths().items():
            self.peaks[name] = max(self.peaks.get(name, 0), depth)
        process.engine.stop(cancel_entries=False)
        for thread in set(threading.enumerate()) - process.threads_before:
            thread.join(timeout=10.0)

    def _crash_and_restart(self) -> None:
        self.crashes_injected += 1
        self._stop_process()
        self._start_process()
        self.process_restarts += 1
        # Measured as at the first start: the new process is up and idle, the old one's threads joined.
        self.checker.restarted(
            self.clock.monotonic_ns(), self.step, threads=threading.active_count(), rss_mb=_rss_mb()
        )

    # -- hooks (actor threads, one at a time under the turn) -------------------------------------------

    def _before_handle(self, actor: str, message: object) -> None:
        if self._dying or isinstance(message, (Barrier, GetSnapshot)):
            return
        rate = self.config.simulate.handler_exception_rate
        if rate > 0 and self._handler_rng.random() < rate:
            self._faults["handler_exception"] += 1
            raise InjectedFault(f"injected fault in {actor} handling {type(message).__name__}")
        if isinstance(message, OrderUpdate) and kind_of(actor) is ActorKind.EXECUTOR:
            # An entry's event settles its unknown outcome as an answer would (the executor confirms
            # an order it is still asking about by its event when the venue refuses the question).
            self.checker.event_handled(message.symbol, message.client_order_id)

    def _on_crash(self, actor: str, error: BaseException | None) -> None:
        if self._dying:
            return
        pushback = isinstance(error, (RetryableError, OutcomeUnknown))
        expected = isinstance(error, InjectedFault) or (
            kind_of(actor) is ActorKind.FEED and isinstance(error, (StreamDisconnectedError, StaleFeedError))
        )
        self.checker.crashed(
            self.clock.monotonic_ns(),
            self.step,
            actor=actor,
            error=f"{type(error).__name__}: {error}",
            pushback=pushback,
            expected=expected,
        )

    def _on_event(self, event: Event) -> None:
        if self._dying:
            return
        if event.kind == "position_closed":
            self._closes += 1
        elif event.kind in (GateKind.KILL_SWITCH, "symbol_parked"):
            # The supervisor names the crashing child first in a kill-switch event.
            actor = (
                strategy_name(event.symbol) if event.kind == "symbol_parked" else event.text.split(" ", 1)[0]
            )
            self.checker.escalated(
                self.clock.monotonic_ns(),
                self.step,
                actor=actor,
                what=event.kind.replace("_", " "),
                window_s=self.config.supervisor.window_s,
            )

    # -- the step loop ---------------------------------------------------------------------------------

    def _wait_idle(self) -> None:
        assert self._process is not None
        self._process.scheduler.wait_idle(timeout_s=_IDLE_TIMEOUT_S)

    def _next_instant(self) -> int:
        candidates = [min(self._next_quote_ns.values())]
        due = self.clock.next_due_ns()
        if due is not None:
            candidates.append(due)
        if self._process is not None:
            held = self._process.events.next_due_ns()
            if held is not None:
                candidates.append(held)
        schedule = self._schedule
        candidates.extend(
            instants[0] for instants in (schedule.crashes, schedule.disconnects, schedule.stalls) if instants
        )
        return min(candidates)

    def _live_stream(self) -> ScenarioStream | None:
        stream = self._stream
        return stream if stream is not None and stream.live else None

    def _deliver(self, now_ns: int, process: _Process) -> bool:
        """The instant's inputs (driver thread, holding the turn). True when the process crashes now."""
        schedule = self._schedule
        while schedule.disconnects and schedule.disconnects[0] <= now_ns:
            schedule.disconnects.pop(0)
            stream = self._live_stream()
            if stream is not None and stream.sink is not None:
                self._faults["feed_disconnect"] += 1
                stream.sink.on_disconnected("injected disconnect")
        while schedule.stalls and schedule.stalls[0] <= now_ns:
            schedule.stalls.pop(0)
            self._faults["feed_stall"] += 1
            self._stalled_until_ns = now_ns + round(self.config.simulate.feed_stall_s * NS_PER_S)
        for symbol, due_ns in self._next_quote_ns.items():
            if due_ns > now_ns:
                continue
            self._next_quote_ns[symbol] = due_ns + self._period_ns
            quote = self._model.next_quote(symbol, ts_init=self.clock.wall_ns())
            self._last_quote[symbol] = quote
            process.paper.on_quote(quote)  # the venue's own market: it moves whatever our feed does
            self.checker.observe_bid(now_ns, self.step, symbol, quote.bid)
            stream = self._live_stream()
            if stream is not None and stream.sink is not None and now_ns >= self._stalled_until_ns:
                stream.sink.on_quote(quote)
        if self._user_stream is not None:
            self._user_stream.release(now_ns)  # order events held back by the venue's stream
        crash = False
        while schedule.crashes and schedule.crashes[0] <= now_ns:
            schedule.crashes.pop(0)
            crash = True
        return crash

    def _books(self, process: _Process) -> list[BookView]:
        engine = process.paper.engine
        return [book_view(engine, symbol, self.config.params_for(symbol)) for symbol in self.config.symbols]

    def _check(self, process: _Process) -> None:
        process.paper.engine.flush()
        now_ns = self.clock.monotonic_ns()
        revision = process.paper.engine.revision
        if revision != self._revision:
            self._revision = revision
            self.checker.observe_books(now_ns, self.step, self._books(process))
        self.checker.tick(now_ns, self.step)

    def _hourly(self, process: _Process) -> None:
        self.rss_mb_by_hour.append(round(_rss_mb(), 1))
        self.state_bytes_by_hour.append(process.paper.engine.state_bytes)
        self.checker.inboxes(self.clock.monotonic_ns(), self.step, process.scheduler.peak_depths())

    def run(self) -> dict[str, Any]:
        wall_start = time.perf_counter()
        next_hour_ns = self.start_ns + _SECONDS_PER_HOUR * NS_PER_S
        try:
            self._start_process()
            self.checker.restarted(self.start_ns, 0, threads=threading.active_count(), rss_mb=_rss_mb())
            while True:
                process = self._process
                assert process is not None
                instant = self._next_instant()
                if instant >= self.end_ns:
                    break
                with process.scheduler.turn(timeout_s=_IDLE_TIMEOUT_S):
                    self.clock.advance_to_ns(instant)
                    crash = self._deliver(self.clock.monotonic_ns(), process)
                self._wait_idle()
                self.step += 1
                self._check(process)
                if self.clock.monotonic_ns() >= next_hour_ns:
                    next_hour_ns += _SECONDS_PER_HOUR * NS_PER_S
                    self._hourly(process)
                if crash:
                    self._crash_and_restart()
                    self._revision = -1
            self.clock.advance_to_ns(self.end_ns)
            if self._process is not None:
                self._check(self._process)
                if len(self.rss_mb_by_hour) < math.ceil(self.hours - 1e-9):
                    self._hourly(self._process)
            self.checker.finish(self.clock.monotonic_ns(), self.step)
        except SchedulerStalled as exc:
            self.checker.stalled(self.clock.monotonic_ns(), self.step, str(exc))
        finally:
            self._stop_process()
            if self._tmp is not None:
                self._tmp.cleanup()
        return self.report(wall_s=time.perf_counter() - wall_start)

    # -- the report --------------------------------------------------------------------------------------

    def report(self, *, wall_s: float) -> dict[str, Any]:
        totals = self._totals
        checker = self.checker
        return {
            "seed": self.seed,
            "simulated_hours": self.hours,
            "wall_s": round(wall_s, 3),
            "counters": {
                "quotes": totals["quotes"],
                "signals": totals["signals"],
                "orders": totals["orders_submitted"],
                "fills": totals["orders_filled"],
                "exits": totals["exits_armed"],
                "closes": self._closes,
            },
            "faults_injected": dict(sorted(self._faults.items())),
            "crashes_injected": self.crashes_injected,
            "process_restarts": self.process_restarts,
            "violations": [v.as_dict() for v in checker.violations],
            "max_unprotected_s": round(checker.max_unprotected_s, 3),
            "unprotected_in_retry_after_s": round(checker.unprotected_in_retry_after_s, 3),
            "duplicate_intents": checker.duplicate_intents,
            "oversells": checker.oversells,
            "max_inbox_depth": max([checker.max_inbox_depth, *self.peaks.values()]),
            "market_regimes": self._model.regimes_seen(),
            "rss_mb_by_hour": self.rss_mb_by_hour,
            "state_bytes_by_hour": self.state_bytes_by_hour,
            "replay": (
                f"autohedge simulate --config {self._config_path} --hours {self.hours:g} --seed {self.seed}"
            ),
        }


def _rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / (1024 * 1024)
