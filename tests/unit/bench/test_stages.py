"""bench/stages.py: the engine's stages timed apart (a tick's first decision, the further ones, each write by
its size), and the wire bench's rows for them."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import stages, wire

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Tick:
    signals: tuple[str, ...]
    more: bool = False


class Executor:
    """The calls ``install`` times, as the executor makes them: a tick's message decides each signal."""

    def __init__(self) -> None:
        self.decided: list[str] = []

    def on_tick_signals(self, message: Tick) -> None:
        for signal in message.signals:
            self.on_signal(signal)

    def on_signal(self, signal: str) -> None:
        self.decided.append(signal)


class Exchange:
    def pipe_orders(self, requests: list[str], on_answer: object) -> int:
        return len(requests)


def test_a_timed_call_answers_and_raises_as_before_and_is_counted_under_its_stage() -> None:
    class Owner:
        def double(self, x: int) -> int:
            if x < 0:
                raise ValueError("negative")
            return 2 * x

    times = stages.StageTimes()
    times.wrap(Owner, "double", lambda _self, x: None if x == 0 else "doubling")
    owner = Owner()
    assert owner.double(3) == 6
    assert owner.double(0) == 0  # not timed
    with pytest.raises(ValueError, match="negative"):
        owner.double(-1)
    summary = times.summary()
    assert list(summary) == ["doubling"] and summary["doubling"]["calls"] == 2
    assert summary["doubling"]["wall_p50_us"] >= 0 and summary["doubling"]["cpu_p50_us"] >= 0


def test_a_ticks_first_decision_is_apart_from_the_further_ones_and_writes_by_their_size() -> None:
    times = stages.StageTimes()
    stages.install(times, Executor, Exchange)
    executor, exchange = Executor(), Exchange()
    executor.on_tick_signals(Tick(("BTC",)))  # a lone symbol: its tick's first
    executor.on_tick_signals(Tick(("ETH",), more=True))  # the first of three, sent ahead
    executor.on_tick_signals(Tick(("SOL", "XRP")))  # the two further ones, closing the tick
    executor.on_tick_signals(Tick(("ADA", "DOT")))  # a new tick of two at once: one first, one further
    assert exchange.pipe_orders(["a"], None) == 1
    assert exchange.pipe_orders(["a", "b", "c"], None) == 3
    executor.on_signal("BNB")  # a strategy actor's own signal, in no tick
    assert executor.decided == ["BTC", "ETH", "SOL", "XRP", "ADA", "DOT", "BNB"]
    calls = {stage: summary["calls"] for stage, summary in times.summary().items()}
    assert calls == {
        "decision_alone": 1,
        "decision_first": 3,
        "decision_further": 3,
        "write_1": 1,
        "write_3": 1,
    }


def test_the_engine_entry_writes_its_stages_on_the_way_out_whatever_the_exit(tmp_path: Path) -> None:
    script, config = ROOT / "bench" / "stages.py", tmp_path / "missing.yaml"
    done = subprocess.run(
        [sys.executable, str(script), "run", "--config", str(config)],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "config file not found" in done.stderr
    assert json.loads((tmp_path / stages.STAGES_FILE).read_text(encoding="utf-8")) == {}


def test_the_table_shows_cpu_per_decision_and_per_further_entry_written() -> None:
    summary = {
        "decision_first": {"calls": 400, "wall_p50_us": 260.0, "cpu_p50_us": 255.0},
        "decision_further": {"calls": 1800, "wall_p50_us": 51.0, "cpu_p50_us": 51.0},
        "write_1": {"calls": 200, "wall_p50_us": 290.0, "cpu_p50_us": 286.0},
        "write_10": {"calls": 200, "wall_p50_us": 790.0, "cpu_p50_us": 601.0},
    }
    rows = wire.stage_rows("1000", summary)
    assert rows == [
        ("@1000/s decide us CPU: first / further", "255 / 51", "p50 per entry, in the engine"),
        ("@1000/s write us CPU: 1 / 10 entries", "286 / 601", "35 per further entry"),
    ]
    assert wire.stage_rows("1000", None) == [] and wire.stage_rows("1000", {}) == []
