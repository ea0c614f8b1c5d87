"""The journal, the run summary and the status page address in the real process (subprocesses on the
paper exchange with synthetic quotes; loopback only, no keys)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from autohedge.adapters.journal.sqlite import JournalReader
from tests.actors.harness import wait_for
from tests.e2e.process import autohedge, write_config

pytestmark = pytest.mark.e2e

EVENT_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \| (\w+)\s*\| (?:\[(\S+)\] )?"
    r"(order_placed|order_filled|exit_armed|position_closed): (.*)$"
)
BUSY = {
    "synthetic.quotes_per_second": 50,
    "defaults.take_profit_pct": 0.05,
    "defaults.stop_loss_pct": 0.05,
    "symbol_overrides": {},
    "rate_limit_ms": 100,
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOHEDGE_API_TOKEN", "AUTOHEDGE_NOTIFY_URLS")}
    return {**env, "TZ": "UTC", **extra}


class _Lines:
    """Reads a process's output on a thread; tests wait on what it has seen."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    def find(self, pattern: str) -> re.Match[str] | None:
        compiled = re.compile(pattern)
        return next((m for m in map(compiled.search, list(self.lines)) if m), None)

    def join(self) -> str:
        self._thread.join(timeout=30)
        return "\n".join(self.lines)


def test_run_without_a_token_prints_the_page_address_with_a_generated_one_and_a_pnl_summary(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, **BUSY, **{"api.enabled": True, "api.port": 0})
    summary = tmp_path / "summary.json"
    proc = subprocess.Popen(
        autohedge("run", "--config", str(config), "--duration", "8", "--summary-json", str(summary)),
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    out = _Lines(proc.stdout)
    try:
        wait_for(lambda: out.find(r"status page: (http://127\.0\.0\.1:\d+)/#token=(\S+)") is not None, 30)
        match = out.find(r"status page: (http://127\.0\.0\.1:\d+)/#token=(\S+)")
        assert match is not None
        url, token = match.group(1), match.group(2)
        assert httpx.get(f"{url}/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert httpx.get(f"{url}/pnl", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    text = out.join()
    assert re.search(
        r"^trades \d+  win rate [\d.]+%  realized P&L -?[\d.]+ \(after fees\)", text, re.MULTILINE
    ), text
    pnl = json.loads(summary.read_text(encoding="utf-8"))["pnl"]
    assert set(pnl) >= {"trades", "win_rate", "realized_pnl", "fees", "unrealized_pnl", "open_positions"}
    for position in pnl["open_positions"]:
        assert position["protected"] and len(position["entry_price"].split(".")[1]) == 2  # the paper tick
    assert (tmp_path / "state" / "journal.sqlite").is_file()


def test_run_with_a_configured_token_never_prints_it(tmp_path: Path) -> None:
    token = "configured-secret-7f3a"
    config = write_config(tmp_path, **{"api.enabled": True, "api.port": 0})
    proc = subprocess.Popen(
        autohedge("run", "--config", str(config), "--duration", "4"),
        cwd=tmp_path,
        env=_env(AUTOHEDGE_API_TOKEN=token),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = _Lines(proc.stdout)
    try:
        wait_for(lambda: out.find(r"status page: (http://127\.0\.0\.1:\d+)/ \(token: ") is not None, 30)
        match = out.find(r"status page: (http://127\.0\.0\.1:\d+)/")
        assert match is not None
        answer = httpx.get(f"{match.group(1)}/status", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    text = out.join()
    assert token not in text and "#token=" not in text
    assert "AUTOHEDGE_API_TOKEN" in text


def test_journal_after_kill_9_is_consistent_and_lost_at_most_the_last_second(tmp_path: Path) -> None:
    config = write_config(tmp_path, **BUSY)
    journal = tmp_path / "state" / "journal.sqlite"
    proc = subprocess.Popen(
        autohedge("run", "--config", str(config), "--duration", "120"),
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = _Lines(proc.stderr)
    try:
        wait_for(journal.exists, 30, "the journal file")
        wait_for(lambda: _fills(journal) >= 4, 60, "four fills in the journal")
        wait_for(lambda: _span_s(journal) >= 2.5, 60, "events spanning 2.5 s in the journal")
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    text = log.join()

    conn = sqlite3.connect(journal)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    orphans = (
        "SELECT COUNT(*) FROM fills f LEFT JOIN orders o USING (client_order_id) "
        "WHERE o.client_order_id IS NULL"
    )
    assert conn.execute(orphans).fetchone()[0] == 0
    journaled = {
        (kind, symbol, body) for kind, symbol, body in conn.execute("SELECT kind, symbol, text FROM events")
    }
    conn.close()
    logged_before = [
        (m.group(4), m.group(3) or "", m.group(5))
        for m in map(EVENT_LINE.match, text.splitlines())
        if m
        and datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
        < killed_at - 1.0
    ]
    assert logged_before, text[-2000:]
    missing = [event for event in logged_before if event not in journaled]
    assert missing == [], missing[:5]
    reader = JournalReader(journal)
    assert len(reader.fills()) >= 4 and reader.orders()


def _fills(journal: Path) -> int:
    try:
        return JournalReader(journal).count("fills")
    except (sqlite3.Error, RuntimeError):
        return 0  # still being created and migrated


def _span_s(journal: Path) -> float:
    conn = sqlite3.connect(journal)
    try:
        low, high = conn.execute("SELECT MIN(ts_ns), MAX(ts_ns) FROM events").fetchone()
    finally:
        conn.close()
    return 0.0 if low is None else (high - low) / 1e9


def test_three_fresh_paper_runs_on_one_journal_report_only_what_the_last_account_holds(
    tmp_path: Path,
) -> None:
    # No paper state file: every run is a fresh account. Each run's start-up closes the earlier
    # runs' holdings in the books (reason reconciled), so the report's open positions are the last
    # run's, at most what its account held when it stopped.
    # Exits far away: every run stops holding what it bought (the case the report got wrong).
    config = write_config(tmp_path, **{**BUSY, "defaults.take_profit_pct": 20, "defaults.stop_loss_pct": 20})
    summaries = [tmp_path / f"summary{i}.json" for i in range(3)]

    def autohedge_ok(*args: str) -> str:
        done = subprocess.run(
            autohedge(*args),
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    for summary in summaries:
        autohedge_ok("run", "--config", str(config), "--duration", "4", "--summary-json", str(summary))
    document = json.loads(autohedge_ok("report", "--json"))

    last_held = {
        p["symbol"]: Decimal(p["qty"])
        for p in json.loads(summaries[-1].read_text(encoding="utf-8"))["pnl"]["open_positions"]
    }
    reader = JournalReader(tmp_path / "state" / "journal.sqlite")
    lot_steps = {symbol: lot for symbol, (_, lot) in reader.symbol_steps().items()}
    for position in document["open_positions"]:
        # Below a lot step is the fee dust the account really keeps (the monitor does not track it).
        dust = lot_steps[position["symbol"]]
        assert Decimal(position["qty"]) <= last_held.get(position["symbol"], Decimal(0)) + dust, (
            position,
            last_held,
        )
    assert reader.count("accounts") == 3
    earlier_open = [
        p for s in summaries[:-1] for p in json.loads(s.read_text(encoding="utf-8"))["pnl"]["open_positions"]
    ]
    assert earlier_open and last_held  # else this test would not test anything
    # What the earlier accounts held is shown as closed by reconciliation, with no P&L invented.
    assert {w["symbol"] for w in document["reconciled"]} >= {p["symbol"] for p in earlier_open}
    assert all(w["reason"] == "reconciled" for w in document["reconciled"])
    assert {p.symbol for p in reader.positions(open_only=True)} <= set(last_held)
