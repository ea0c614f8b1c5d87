"""Running the real ``autohedge`` process in end-to-end tests: config files, the command, drills."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.fakes.venue_server import FakeVenue

__all__ = [
    "REPO",
    "Run",
    "autohedge",
    "clean_env",
    "run_for",
    "run_watching",
    "run_with_venue_drills",
    "venue_config",
    "write_config",
]

REPO = Path(__file__).resolve().parents[2]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def write_config(tmp_path: Path, **changes: object) -> Path:
    """The repository's ``config.yaml`` with the API off and ``changes`` (dotted key paths) applied."""
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    config["api"]["enabled"] = False
    for dotted, value in changes.items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    _assert_loopback_only(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def venue_config(
    tmp_path: Path, venue: str, symbols: list[str], endpoints: Mapping[str, object], **changes: object
) -> Path:
    """``write_config`` trading ``symbols`` on ``venue`` at ``endpoints`` (its market data too), stale
    feeds noticed after 5 s and quick, unjittered restarts; then ``changes``."""
    return write_config(
        tmp_path,
        **{
            "exchange.venue": venue,
            "exchange.market_data": venue,
            "symbols": symbols,
            "symbol_overrides": {},
            "synthetic.symbols": {},
            f"venues.{venue}": dict(endpoints),
            "feed.stale_after_s": 5,
            "supervisor.min_backoff_s": 0.2,
            "supervisor.random_factor": 0,
            **changes,
        },
    )


def clean_env(keys: Mapping[str, str]) -> dict[str, str]:
    """This environment without any ``AUTOHEDGE_`` variable, plus ``keys``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AUTOHEDGE_")}, **keys}


def _assert_loopback_only(config: dict[str, Any]) -> None:
    """Every endpoint of a venue the process will use is on this machine: a test never reaches out,
    not even for a name lookup (a venue's missing ``user_ws_url`` would fall back to its public URL)."""
    exchange = config["exchange"]
    required = {exchange["market_data"]: {"rest_url", "ws_url"}}
    required.setdefault(exchange["venue"], set()).update({"rest_url", "ws_url", "user_ws_url"})
    for venue, keys in required.items():
        if venue in ("paper", "synthetic", "replay"):
            continue
        endpoints: dict[str, Any] = config.get("venues", {}).get(venue, {})
        for key in keys | {k for k, v in endpoints.items() if k.endswith("_url") and v}:
            host = urlsplit(str(endpoints.get(key, ""))).hostname
            assert host in LOOPBACK_HOSTS, f"venues.{venue}.{key} must point at a local fake, got {host!r}"


def autohedge(*args: str) -> list[str]:
    return [sys.executable, "-m", "autohedge.cli", *args]


@dataclass(frozen=True)
class Run:
    output: str
    """What the process wrote (its log), for failure messages and log assertions."""
    summary: dict[str, Any]
    """The ``--summary-json`` document."""


def _run_command(config: Path, seconds: float, summary: Path) -> list[str]:
    return autohedge(
        "run", "--config", str(config), "--duration", str(seconds), "--summary-json", str(summary)
    )


def run_for(
    config: Path,
    tmp_path: Path,
    seconds: float,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 90,
) -> Run:
    """``autohedge run`` for ``seconds``; it must exit 0 and leave a summary."""
    summary = tmp_path / "summary.json"
    result = subprocess.run(
        _run_command(config, seconds, summary),
        cwd=tmp_path,
        env=None if env is None else dict(env),
        check=False,  # the exit code is asserted with the output attached
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return Run(output=result.stderr, summary=json.loads(summary.read_text(encoding="utf-8")))


def run_watching(
    config: Path, tmp_path: Path, seconds: float, env: Mapping[str, str], on_line: Callable[[str], None]
) -> Run:
    """``autohedge run`` for ``seconds``, handing each line it logs to ``on_line`` as it comes (drills are
    driven by the process's own log); it must exit 0 and leave a summary."""
    summary = tmp_path / "summary.json"
    proc = subprocess.Popen(
        _run_command(config, seconds, summary),
        cwd=tmp_path,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    log: list[str] = []
    for line in proc.stdout:
        log.append(line)
        on_line(line)
    proc.wait(timeout=30)
    output = "".join(log)
    assert proc.returncode == 0, output[-4000:]
    return Run(output=output, summary=json.loads(summary.read_text(encoding="utf-8")))


def run_with_venue_drills(fake: FakeVenue, config: Path, tmp_path: Path, env: Mapping[str, str]) -> Run:
    """``autohedge run`` for 12 s against ``fake``, with two drills driven by the process's own log: the
    response to the first entry after start-up is lost, and every stream is dropped once an exit is armed.
    """
    done: set[str] = set()

    def drill(line: str) -> None:
        if "lost" not in done and "strategies_started" in line:
            fake.faults.lose_next_order_response = True  # the first entry's response will be lost
            done.add("lost")
        if "dropped" not in done and "exit_armed" in line:
            fake.drop_clients()
            done.add("dropped")

    return run_watching(config, tmp_path, 12, env, drill)
