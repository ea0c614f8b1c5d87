"""``autohedge`` command line: ``run``, ``simulate``, ``check-config``, ``report``, ``backtest``,
``record``.

Exit codes: 0 clean run (``simulate``: no violation), 2 bad configuration (one line naming the key
path) or a clashing installation (one line naming the other distribution), 1 anything else
(``simulate``: at least one violation).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

from loguru import logger
from pydantic import SecretStr

from autohedge.core.clock import NS_PER_S, RealClock
from autohedge.core.config import LOOPBACK_HOSTS, AppConfig, Secrets, load_config
from autohedge.core.errors import AuthError, ConfigError, FatalVenueError, RateLimited, VenueError
from autohedge.install_check import installed_problem
from autohedge.logging import configure_logging
from autohedge.memory import limit_malloc_arenas

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from autohedge.actors.supervisor import SupervisorView
    from autohedge.api.server import ApiServer
    from autohedge.app import Engine

__all__ = ["api_token", "journal_path", "main", "run_token", "start_api", "status_page_address"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


def _positive_seconds(text: str) -> float:
    """An argparse type: a finite number greater than 0 (``inf`` started the run, then the wait for it
    raised OverflowError; ``nan`` and negative numbers ran for no time at all)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number greater than 0")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autohedge", description="Supervised actor trading process.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="trade until SIGINT/SIGTERM or --duration")
    run.add_argument("--config", default="config.yaml", type=Path, help="config file (default: config.yaml)")
    run.add_argument("--duration", type=_positive_seconds, default=None, help="stop after this many seconds")
    run.add_argument("--summary-json", type=Path, default=None, help="write a JSON summary here at exit")
    sim = sub.add_parser("simulate", help="a simulated trading day with faults, checked against the promise")
    sim.add_argument("--config", default="config.yaml", type=Path, help="config file (default: config.yaml)")
    sim.add_argument("--hours", type=_positive_seconds, default=24.0, help="simulated hours (default: 24)")
    sim.add_argument("--seed", type=int, default=1, help="seed of the market, the faults and the crashes")
    sim.add_argument("--report-json", type=Path, default=None, help="write the report here")
    sim.add_argument("--work-dir", type=Path, default=None, help="keep the paper state and history here")
    sim.add_argument(
        "--log-level",
        default="CRITICAL",
        type=str.upper,
        choices=LOG_LEVELS,
        help="log level during the simulation (default: CRITICAL)",
    )
    check = sub.add_parser("check-config", help="validate a config file and exit (0 valid, 2 invalid)")
    check.add_argument("--config", default="config.yaml", type=Path)
    report = sub.add_parser("report", help="P&L report from the trade journal")
    report.add_argument("--config", default="config.yaml", type=Path, help="to find journal.path")
    report.add_argument("--journal", type=Path, default=None, help="journal file (default: journal.path)")
    report.add_argument("--since", default=None, help="only fills at or after this ISO time (UTC if no zone)")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--html", type=Path, default=None, help="write report.html (and report.json) here")
    backtest = sub.add_parser("backtest", help="replay recorded quotes through the strategies (paper)")
    backtest.add_argument("--config", default="config.yaml", type=Path)
    backtest.add_argument("--replay", type=Path, required=True, help="JSONL quotes (autohedge record)")
    backtest.add_argument("--report-dir", type=Path, default=Path("backtest"), help="default: backtest/")
    record = sub.add_parser("record", help="record the configured venue's public quotes as JSONL")
    record.add_argument("--config", default="config.yaml", type=Path)
    record.add_argument("--out", type=Path, required=True)
    record.add_argument(
        "--duration", type=_positive_seconds, default=None, help="stop after this many seconds"
    )
    return parser


def _load(path: Path) -> AppConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return None


def _check_outputs(args: argparse.Namespace) -> None:
    """Before anything runs: what is written at the end has somewhere to go (a run's summary and a
    simulated day's report were lost to a traceback once the whole run was over)."""
    for option in ("summary_json", "report_json", "out"):
        path: Path | None = getattr(args, option, None)
        name = "--" + option.replace("_", "-")
        if path is not None and path.is_dir():
            raise ConfigError(name, f"{path} is a directory, not a file")
        if option != "out" and path is not None and not path.parent.is_dir():  # record makes its folder
            raise ConfigError(name, f"no directory {path.parent} to write {path.name} into")
    for option in ("html", "report_dir", "work_dir"):
        folder: Path | None = getattr(args, option, None)
        name = "--" + option.replace("_", "-")
        if folder is not None and folder.exists() and not folder.is_dir():
            raise ConfigError(name, f"{folder} is a file, not a directory")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    problem = installed_problem()
    if problem is not None:
        print(f"installation error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        _check_outputs(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "report" and args.journal is not None:
        return _report(args.journal, args.since, as_json=args.json, html_dir=args.html, option="--journal")
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    base_dir = args.config.resolve().parent
    if args.command == "check-config":
        from autohedge.app import refuse_live_without_opt_in

        try:
            refuse_live_without_opt_in(config)  # a rule of the file alone: ok here, refused by run
        except ConfigError as exc:
            print(f"config error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        print(
            f"{args.config}: ok ({config.exchange.venue.value}, {len(config.symbols)} symbols, strategy "
            f"{config.strategy})"
        )
        return EXIT_OK
    if args.command == "simulate":
        return _simulate(config, args)
    if args.command == "report":
        return _report(
            journal_path(config, base_dir),
            args.since,
            as_json=args.json,
            html_dir=args.html,
            option="journal.path",
        )
    if args.command == "backtest":
        return _backtest(config, base_dir, args.replay, args.report_dir)
    if args.command == "record":
        return _record(config, base_dir, args.out, args.duration)
    return _run(config, base_dir, args.duration, args.summary_json)


def journal_path(config: AppConfig, base_dir: Path) -> Path:
    """``journal.path`` resolved against the config file's folder."""
    path = config.journal.path
    return path if path.is_absolute() else base_dir / path


def _since_ns(since: str | None) -> int:
    if since is None:
        return 0
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise ConfigError(
            "--since", f"{since!r} is not an ISO date or time (e.g. 2026-01-31T12:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * NS_PER_S)


def _report(journal: Path, since: str | None, *, as_json: bool, html_dir: Path | None, option: str) -> int:
    import sqlite3

    from autohedge.adapters.journal.sqlite import JournalReader
    from autohedge.core.pnl import compute_pnl
    from autohedge.reporting.document import report_document, report_table
    from autohedge.reporting.html import render_html

    try:
        since_ns = _since_ns(since)
        if not journal.is_file():
            raise ConfigError(option, f"no journal at {journal} (run or backtest first)")
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    reader = JournalReader(journal)
    try:
        fills, steps = reader.fills(since_ns), reader.symbol_steps()
        end_ns = reader.last_ts_ns()
    except sqlite3.DatabaseError as exc:
        # Any file given as the journal (a config, a replay) was a DatabaseError traceback.
        print(f"config error: {option}: {journal} is not a trade journal ({exc})", file=sys.stderr)
        return EXIT_CONFIG
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    dust = {symbol: lot for symbol, (_, lot) in steps.items()}
    report = compute_pnl(fills, dust=dust, start_ns=since_ns or None, end_ns=end_ns)
    document = report_document(report, steps)
    if html_dir is not None:
        html_dir.mkdir(parents=True, exist_ok=True)
        (html_dir / "report.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        (html_dir / "report.html").write_text(render_html(document), encoding="utf-8")
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        print(report_table(document))
        if html_dir is not None:
            print(f"written: {html_dir / 'report.html'}")
    return EXIT_OK


def _backtest(config: AppConfig, base_dir: Path, replay: Path, report_dir: Path) -> int:
    from autohedge.backtest import run_backtest

    configure_logging(
        "WARNING" if config.log_level in ("TRACE", "DEBUG", "INFO", "SUCCESS") else config.log_level,
        above_progress_bar=sys.stderr.isatty(),  # the bar is drawn on a terminal only
    )
    try:
        result = run_backtest(config, replay, report_dir, base_dir=base_dir)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    overall = result.document["overall"]
    print(
        f"backtest: {result.quotes} quotes ({result.skipped_lines} lines skipped); "
        f"{overall['closed_trades']} trades, win rate {overall['win_rate'] * 100:.1f}%, "
        f"realized P&L {overall['realized_pnl']} after fees {overall['fees']}"
    )
    written = ", ".join(str(report_dir / name) for name in ("report.json", "report.html", "journal.sqlite"))
    print(f"written: {written}")
    return EXIT_OK


def _record(config: AppConfig, base_dir: Path, out: Path, duration_s: float | None) -> int:
    from autohedge.record import record_quotes

    configure_logging(config.log_level)
    stop = _stop_on_signals()
    try:
        count = record_quotes(config, out, base_dir=base_dir, stop=stop, duration_s=duration_s)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (ConnectionError, OSError, FatalVenueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"recorded {count} quotes to {out}")
    return EXIT_OK


T = TypeVar("T")

START_UP_PATIENCE_S = 120.0
"""How long start-up waits out a venue's rate limit before giving up: the minute a budget counts in,
twice (another process of the same account may have spent it)."""


def _when_the_venue_allows(call: Callable[[], T], stop: threading.Event) -> T:
    """``call``, waited out and tried again while the venue (or its budget, shared with whatever sent
    just before) says wait, up to ``START_UP_PATIENCE_S``: a rate limit at start-up is the venue's state,
    not a reason to exit. A ban, or a wait past the patience, raises as before."""
    waited_s = 0.0
    while True:
        try:
            return call()
        except RateLimited as exc:
            if exc.banned or waited_s + exc.retry_after_s > START_UP_PATIENCE_S or stop.is_set():
                raise
            logger.warning("start-up waits {:.1f}s for the venue: {}", exc.retry_after_s, exc)
            if stop.wait(exc.retry_after_s):
                raise
            waited_s += exc.retry_after_s


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal {} received: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop


def _simulate(config: AppConfig, args: argparse.Namespace) -> int:
    from autohedge.sim.runner import Simulation  # heavy imports only when simulating

    if args.hours <= 0:
        print("config error: --hours: must be greater than 0", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(args.log_level)
    limit_malloc_arenas()  # the process as ``run`` sets it up (its memory is measured by the hour)
    try:
        simulation = Simulation(
            config, seed=args.seed, hours=args.hours, work_dir=args.work_dir, config_path=str(args.config)
        )
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    report = simulation.run()
    text = json.dumps(report, indent=2) + "\n"
    if args.report_json is not None:
        args.report_json.write_text(text, encoding="utf-8")
    violations = report["violations"]
    print(
        f"seed {report['seed']}: {report['simulated_hours']:g} simulated hours in {report['wall_s']:.1f}s, "
        f"{len(violations)} violations, {report['crashes_injected']} crashes, "
        f"max unprotected {report['max_unprotected_s']}s"
    )
    for violation in violations[:20]:
        print(
            f"  {violation['kind']} {violation['symbol']} at {violation['t_s']}s (step {violation['step']}): "
            f"{violation['explanation']}"
        )
    if violations:
        print(f"replay: {report['replay']}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def api_token(config: AppConfig) -> SecretStr | None:
    """The API token from the environment; refuses a non-loopback bind without one."""
    value = os.environ.get(config.api.token_env, "")
    token = SecretStr(value) if value else None
    if config.api.enabled and token is None and config.api.host not in LOOPBACK_HOSTS:
        raise ConfigError(
            "api.host",
            f"{config.api.host} is not loopback: set {config.api.token_env} to serve the API there",
        )
    return token


def run_token(config: AppConfig) -> tuple[SecretStr, bool]:
    """(token, generated): the configured API token, or a random one for this run when none is set
    (the status page then works on the first run, as notebook servers do)."""
    token = api_token(config)
    if token is not None:
        return token, False
    return SecretStr(secrets.token_urlsafe(24)), True


def status_page_address(url: str, token: SecretStr, *, generated: bool, token_env: str) -> str:
    """Where to open the status page. A generated token travels in the address's fragment (browsers
    never send it to the server); a configured token is never printed."""
    if generated:
        return f"{url}/#token={token.get_secret_value()}"
    return f"{url}/ (token: the value of {token_env})"


def start_api(engine: Engine, token: SecretStr | None) -> ApiServer:
    from autohedge.api.server import ApiServer, BuiltOnFirstRequest

    api = engine.config.api

    def build() -> ASGIApp:
        """On the server's thread, at the first request: a process nobody asks never pays the framework."""
        from autohedge.api.app import create_app
        from autohedge.control import EngineController

        return create_app(EngineController(engine), token=token, token_env=api.token_env)

    server = ApiServer(BuiltOnFirstRequest(build), host=api.host, port=api.port)
    server.start()
    logger.info("control API and status page on {}", server.url)
    return server


def _run(config: AppConfig, base_dir: Path, duration_s: float | None, summary_path: Path | None) -> int:
    from autohedge.app import Engine, build_exchange, check_credentials  # heavy imports only when running
    from autohedge.core.collection import CollectionPolicy
    from autohedge.reporting.document import run_summary, summary_table

    configure_logging(config.log_level)
    limit_malloc_arenas()  # before any actor thread allocates
    # How long a woken runner or executor may wait for the interpreter lock while the stream's reader
    # runs, against how often a burst being decided is cut (the config key's docstring).
    sys.setswitchinterval(config.switch_interval_ms / 1000)
    stop = _stop_on_signals()
    try:
        token, generated = run_token(config)
        secrets = Secrets()
        clock = RealClock()
        exchange = build_exchange(config, clock=clock, secrets=secrets, base_dir=base_dir)
        # Keys are checked with one signed call per venue before any actor exists: a missing or
        # rejected key is a configuration problem, never a crash loop.
        _when_the_venue_allows(
            lambda: check_credentials(config, clock=clock, secrets=secrets, exchange=exchange), stop
        )
        journal = journal_path(config, base_dir) if config.journal.enabled else None
        engine = _when_the_venue_allows(
            lambda: Engine(
                config,
                clock=clock,
                exchange=exchange,
                base_dir=base_dir,
                secrets=secrets,
                journal_path=journal,
                collection=CollectionPolicy(),
            ),
            stop,
        )
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AuthError as exc:
        print(f"credentials error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except FatalVenueError as exc:
        print(f"fatal: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except VenueError as exc:
        print(f"venue not usable at start-up: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    engine.start()
    server = None
    code = EXIT_OK
    try:
        if config.api.enabled:
            server = start_api(engine, token)
            address = status_page_address(
                server.url, token, generated=generated, token_env=config.api.token_env
            )
            print(f"status page: {address}", flush=True)
        stop.wait(timeout=duration_s)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        code = EXIT_CONFIG
    finally:
        if server is not None:
            server.stop()
        view: SupervisorView | None = None
        try:
            view = engine.view()
            positions = engine.positions()
        except Exception as exc:  # noqa: BLE001 - the tree must still be stopped and the run reported
            logger.error("could not read the final state: {}", exc)
            view, positions, code = None, [], EXIT_FAILURE
        steps = engine.symbol_steps()
        engine.stop()
        try:
            pnl = engine.run_pnl()
        except (RuntimeError, OSError) as exc:
            logger.error("could not read the journal for the run summary: {}", exc)
            pnl = None
        figures = run_summary(pnl, positions, steps)
        summary = engine.summary(view, positions).model_copy(update={"pnl": figures})
        print(summary_table(figures), flush=True)
        if summary_path is not None:
            summary_path.write_text(summary.to_json(), encoding="utf-8")
        logger.info("autohedge stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
