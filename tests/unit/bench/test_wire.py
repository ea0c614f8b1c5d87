"""The wire benchmark leaves no process behind when a phase fails; a latency phase triggers the bursts it
was asked for."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import signal
import socket
import stat
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

import pytest

from bench import wire


class GonePipe:
    """A local process's end of its pipe: answers ``replies`` in turn, then reads as a process that died
    (EOFError); what the bench sends is kept."""

    def __init__(self, *replies: object) -> None:
        self._replies = list(replies)
        self.sent: list[object] = []

    def send(self, message: object) -> None:
        self.sent.append(message)

    def recv(self) -> object:
        if not self._replies:
            raise EOFError
        return self._replies.pop(0)


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[wire.EngineProcess]]:
    """Every engine process a phase starts (any still running at the end is killed, and fails the test)."""
    started: list[wire.EngineProcess] = []
    start = wire.EngineProcess.start

    def recorded(self: wire.EngineProcess) -> object:
        started.append(self)
        return start(self)

    monkeypatch.setattr(wire.EngineProcess, "start", recorded)
    yield started
    for engine in started:
        if engine.proc is not None and engine.proc.poll() is None:
            engine.proc.kill()
            engine.proc.wait()


def bench_without_servers(tmp_path: Path, source: GonePipe, venue: GonePipe) -> wire.Bench:
    """A bench whose engine is a process that runs until stopped, and whose local servers are pipes."""
    interpreter = tmp_path / "engine-python"
    interpreter.write_text("#!/bin/sh\nexec sleep 600\n", encoding="utf-8")
    interpreter.chmod(interpreter.stat().st_mode | stat.S_IXUSR)
    bench = object.__new__(wire.Bench)
    bench.args = argparse.Namespace(
        seconds=1.0,
        trigger_every_s=0.2,
        bursts=wire.BURSTS,
        engine_python=interpreter,
        order_entry="ws",
        pipelined_entries="on",
        shared_runner="on",
        switch_interval_ms=None,
        resting_entry_reads="off",
        stages=False,
        keep_logs=True,
    )
    bench.ctx = mp.get_context("spawn")
    bench.workdir = tmp_path
    bench.source_conn = cast(Connection, source)
    bench.venue_conn = cast(Connection, venue)
    bench.ws_base = bench.user_ws_url = bench.stream_url = "ws://127.0.0.1:9"
    bench.rest_url = "http://127.0.0.1:9"  # the config refuses a REST URL of another scheme
    return bench


def test_an_intake_phase_that_fails_stops_its_engine(
    tmp_path: Path, engines: list[wire.EngineProcess]
) -> None:
    source = GonePipe()  # the source dies as the engine starts
    bench = bench_without_servers(tmp_path, source, GonePipe())

    with pytest.raises(EOFError):
        bench.intake(firing=False)

    (engine,) = engines
    assert engine.proc is not None and engine.proc.poll() is not None
    assert source.sent[-1] == "gone"


def test_a_latency_phase_that_fails_stops_its_engine(
    tmp_path: Path, engines: list[wire.EngineProcess]
) -> None:
    bench = bench_without_servers(tmp_path, GonePipe(), GonePipe({"arrivals": [], "order_reads": 0}))

    with pytest.raises(EOFError):
        bench.latency("engine", 1000.0)

    (engine,) = engines
    assert engine.proc is not None and engine.proc.poll() is not None


def test_closing_the_bench_terminates_a_server_that_does_not_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "STOP_TIMEOUT_S", 0.1)
    bench = bench_without_servers(tmp_path, GonePipe(), GonePipe())
    ctx = mp.get_context("spawn")
    # Servers waiting for a word that never comes (a failed phase's "gone"): they never end by themselves.
    bench.source = ctx.Process(target=signal.pause, daemon=True)
    bench.venue = ctx.Process(target=signal.pause, daemon=True)
    bench.source.start()
    bench.venue.start()

    bench.close()

    assert not bench.source.is_alive() and not bench.venue.is_alive()


def test_a_paced_phase_writes_the_bursts_asked_for_one_symbol_then_ten_in_turn() -> None:
    ours, theirs = socket.socketpair()
    reader = threading.Thread(target=wire._drain, args=(theirs,), daemon=True)  # the engine's side
    with ours, theirs:
        reader.start()
        result = wire.paced(ours, rate=1000.0, bursts=3, warmup_s=0.0, every_s=0.05)
        ours.shutdown(socket.SHUT_RDWR)
        reader.join(5)

    sizes = [len(trigger["symbols"]) for trigger in result["triggers"]]
    assert sizes == [1, wire.GROUP] * 3
