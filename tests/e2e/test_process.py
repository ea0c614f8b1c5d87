"""The real process: `autohedge run` as a subprocess on the paper exchange (loopback only, no keys)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from autohedge.core.actor_names import EXECUTOR, MONITOR, feed_name, strategy_name
from tests.e2e.process import autohedge, run_for, write_config

pytestmark = pytest.mark.e2e


def test_default_config_trades_within_30_seconds(tmp_path: Path) -> None:
    data = run_for(write_config(tmp_path), tmp_path, 30).summary
    counters = data["counters"]
    assert counters["quotes"] > 300
    assert (
        counters["orders_submitted"] >= 1 and counters["orders_filled"] >= 1 and counters["exits_armed"] >= 1
    )
    assert all(p["protected"] for p in data["positions"])
    assert data["kill_switch"] is False and data["parked_symbols"] == []
    assert set(data["actors"]) >= {
        EXECUTOR,
        MONITOR,
        feed_name("synthetic"),
        strategy_name("BTC/USDT"),
        strategy_name("ETH/USDT"),
    }


def test_sigterm_stops_the_tree_cleanly(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    proc = subprocess.Popen(
        autohedge("run", "--config", str(write_config(tmp_path)), "--summary-json", str(summary)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait on the process's own word that it trades, not on a timer
        if "strategies_started" in line:
            break
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    assert proc.returncode == 0
    assert time.monotonic() - started < 10
    assert json.loads(summary.read_text(encoding="utf-8"))["actors"]


def test_kill_9_with_state_file_every_position_protected_within_a_second(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"
    config = write_config(
        tmp_path,
        **{
            "paper.state_file": str(state),
            "executor.cancel_entries_on_stop": False,
            "defaults.take_profit_pct": 5,
            "defaults.stop_loss_pct": 5,
        },
    )
    proc = subprocess.Popen(
        autohedge("run", "--config", str(config)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # run until an exit has been armed after a fill
        if "exit_armed" in line:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    held = {k: v for k, v in json.loads(state.read_text(encoding="utf-8"))["balances"].items() if k != "USDT"}
    assert held, "the first run should hold a position when it is killed"

    summary = tmp_path / "summary.json"
    second = subprocess.Popen(
        autohedge("run", "--config", str(config), "--duration", "1", "--summary-json", str(summary)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 0, out[-3000:]
    data = json.loads(summary.read_text(encoding="utf-8"))
    assert data["positions"], out[-3000:]
    assert all(p["protected"] and p["exit_order_ids"] for p in data["positions"])
    assert "reconciled" in out
