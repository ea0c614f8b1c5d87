"""Where a burst's time goes inside the engine: the engine with timers around two of its stages.

    .venv/bin/python bench/stages.py run --config config.yaml

is ``.venv/bin/python -m autohedge.cli run --config config.yaml`` with the wall time and the thread's CPU time
(``time.thread_time_ns``) taken around

* each entry the executor decides (``ExecutorActor.on_signal``), the tick's first decision apart from
  the further ones: what one symbol pays against what each further symbol of a tick adds;
* each write of a tick's entries on the order session (``BinanceExchange.pipe_orders``), by the number
  of entries written together.

When the engine returns it writes ``stages.json`` (per stage: calls, wall and CPU p50 in us) to the
working directory. The wire bench runs its latency phases' engine this way with ``--stages``. The
timers cost a few microseconds a call, so compare stages within a ``--stages`` run, not its
tick-to-order with a run without them.
"""

from __future__ import annotations

import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["STAGES_FILE", "StageTimes", "install", "main"]

STAGES_FILE = "stages.json"


class StageTimes:
    """Samples of (wall ns, thread CPU ns) by stage, taken on whichever thread runs the timed call."""

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[int, int]]] = {}

    def wrap(self, owner: type, name: str, stage: Callable[..., str | None]) -> None:
        """Replace ``owner.name`` by the same call timed under ``stage(*args)`` (None: not timed)."""
        original = getattr(owner, name)
        samples = self.samples

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            key = stage(*args, **kwargs)
            wall_ns, cpu_ns = time.perf_counter_ns(), time.thread_time_ns()
            try:
                return original(*args, **kwargs)
            finally:
                if key is not None:
                    sample = (time.perf_counter_ns() - wall_ns, time.thread_time_ns() - cpu_ns)
                    samples.setdefault(key, []).append(sample)

        setattr(owner, name, timed)

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            key: {
                "calls": len(samples),
                "wall_p50_us": statistics.median(wall for wall, _ in samples) / 1000,
                "cpu_p50_us": statistics.median(cpu for _, cpu in samples) / 1000,
            }
            for key, samples in sorted(self.samples.items())
        }


def install(times: StageTimes, executor: type, exchange: type) -> None:
    """Time the decisions of ``executor`` (the executor actor's class) and the writes of ``exchange``
    (the Binance adapter's). A tick's first decision is the first ``on_signal`` of the first
    ``on_tick_signals`` message of a tick (a lone symbol's, or the one sent ahead of the rest); a signal
    decided outside a tick's message (a strategy actor's own) is ``decision_alone``."""
    tick = {"open": False, "first": False, "left": 0}

    def tick_signals(_actor: object, message: Any) -> None:  # times nothing: marks a tick's decisions
        tick["first"], tick["open"] = not tick["open"], message.more
        tick["left"] = len(message.signals)  # the message's handler decides each of them in turn

    def decision(*_: object) -> str:
        if not tick["left"]:
            return "decision_alone"
        tick["left"] -= 1
        stage = "decision_first" if tick["first"] else "decision_further"
        tick["first"] = False
        return stage

    def write(_exchange: object, requests: Any, *_: object) -> str:
        return f"write_{len(requests)}"

    times.wrap(executor, "on_tick_signals", tick_signals)
    times.wrap(executor, "on_signal", decision)
    times.wrap(exchange, "pipe_orders", write)


def main(argv: list[str] | None = None) -> int:
    from autohedge import cli
    from autohedge.actors.executor import ExecutorActor
    from autohedge.adapters.binance.adapter import BinanceExchange

    times = StageTimes()
    install(times, ExecutorActor, BinanceExchange)
    try:
        return cli.main(argv)
    finally:
        Path(STAGES_FILE).write_text(json.dumps(times.summary(), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
