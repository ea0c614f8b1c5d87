"""``autohedge`` command line: ``run``, ``simulate`` and ``check-config``.

Exit codes: 0 clean run (``simulate``: no violation), 2 bad configuration (one line naming the key
path) or a clashing installation (one line naming the other distribution), 1 anything else
(``simulate``: at least one violation).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from loguru import logger
from pydantic import SecretStr

from autohedge.core.clock import RealClock
from autohedge.core.config import AppConfig, Secrets, load_config
from autohedge.core.errors import AuthError, ConfigError, FatalVenueError, VenueError
from autohedge.install_check import installed_problem
from autohedge.logging import configure_logging

if TYPE_CHECKING:
    from autohedge.actors.supervisor import SupervisorView
    from autohedge.api.server import ApiServer
    from autohedge.app import Engine

__all__ = ["api_token", "main", "start_api"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autohedge", description="Supervised actor trading process.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="trade until SIGINT/SIGTERM or --duration")
    run.add_argument("--config", default="config.yaml", type=Path, help="config file (default: config.yaml)")
    run.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    run.add_argument("--summary-json", type=Path, default=None, help="write a JSON summary here at exit")
    sim = sub.add_parser("simulate", help="a simulated trading day with faults, checked against the promise")
    sim.add_argument("--config", default="config.yaml", type=Path, help="config file (default: config.yaml)")
    sim.add_argument("--hours", type=float, default=24.0, help="simulated hours (default: 24)")
    sim.add_argument("--seed", type=int, default=1, help="seed of the market, the faults and the crashes")
    sim.add_argument("--report-json", type=Path, default=None, help="write the report here")
    sim.add_argument("--work-dir", type=Path, default=None, help="keep the paper state and history here")
    sim.add_argument("--log-level", default="CRITICAL", help="log level during the simulation")
    check = sub.add_parser("check-config", help="validate a config file and exit (0 valid, 2 invalid)")
    check.add_argument("--config", default="config.yaml", type=Path)
    return parser


def _load(path: Path) -> AppConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    problem = installed_problem()
    if problem is not None:
        print(f"installation error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    if args.command == "check-config":
        print(
            f"{args.config}: ok ({config.exchange.venue.value}, {len(config.symbols)} symbols, strategy "
            f"{config.strategy})"
        )
        return EXIT_OK
    if args.command == "simulate":
        return _simulate(config, args)
    return _run(config, args.config.resolve().parent, args.duration, args.summary_json)


def _simulate(config: AppConfig, args: argparse.Namespace) -> int:
    from autohedge.sim.runner import Simulation  # heavy imports only when simulating

    if args.hours <= 0:
        print("config error: --hours: must be greater than 0", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(args.log_level)
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
    from autohedge.api.auth import LOOPBACK_HOSTS

    value = os.environ.get(config.api.token_env, "")
    token = SecretStr(value) if value else None
    if config.api.enabled and token is None and config.api.host not in LOOPBACK_HOSTS:
        raise ConfigError(
            "api.host",
            f"{config.api.host} is not loopback: set {config.api.token_env} to serve the API there",
        )
    return token


def start_api(engine: Engine, token: SecretStr | None) -> ApiServer:
    from autohedge.api.app import create_app
    from autohedge.api.server import ApiServer
    from autohedge.control import EngineController

    api = engine.config.api
    server = ApiServer(
        create_app(EngineController(engine), token=token, token_env=api.token_env),
        host=api.host,
        port=api.port,
    )
    server.start()
    note = "" if token is not None else f" (no token: set {api.token_env} to use the protected endpoints)"
    logger.info("control API and status page on {}{}", server.url, note)
    return server


def _run(config: AppConfig, base_dir: Path, duration_s: float | None, summary_path: Path | None) -> int:
    from autohedge.app import Engine, check_credentials  # heavy imports only when running

    configure_logging(config.log_level)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal {} received: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        token = api_token(config)
        secrets = Secrets()
        # Keys are checked with one signed call per venue before any actor exists: a missing or
        # rejected key is a configuration problem, never a crash loop.
        check_credentials(config, clock=RealClock(), secrets=secrets)
        engine = Engine(config, base_dir=base_dir, secrets=secrets)
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
        engine.stop()
        if summary_path is not None:
            summary_path.write_text(engine.summary(view, positions).to_json(), encoding="utf-8")
        logger.info("autohedge stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
