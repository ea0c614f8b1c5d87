"""Benchmark: how long a thread blocked on its inbox takes to run once told, after an idle spell.

    .venv/bin/python bench/wake.py [--rounds 300] [--idle-s 0.075 0.001]

An actor's thread waits on a ``queue.Queue`` (pykka's inbox). Here a consumer thread blocks on one, and
the main thread sleeps for the idle spell, puts a timestamp in and blocks at once (it lets go of the
interpreter lock, as a reader does in its next socket read). The figure is the time from the put until
the consumer runs, as medians and p90 in this one run, for each idle spell: after 75 ms (a trigger
every 75 ms on the wire bench) the machine may have handed the idle CPU back to its host.

This is the wake-up the reader and the strategy runner start early (the first quote, the first signal
of a tick), so that it runs while they decide the rest.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import threading
import time
from collections.abc import Sequence

_SETTLE_S = 0.002
"""How long the producer blocks after each put: far longer than any wake-up measured here."""


def wake_us(rounds: int, idle_s: float) -> list[float]:
    """Each round: ``idle_s`` of idling, then one put; the put-to-run time of every round, in us."""
    inbox: queue.Queue[int | None] = queue.Queue()
    woken_ns: list[int] = []

    def consume() -> None:
        while (sent_ns := inbox.get()) is not None:
            woken_ns.append(time.perf_counter_ns() - sent_ns)

    consumer = threading.Thread(target=consume, name="wake-consumer")
    consumer.start()
    try:
        for _ in range(rounds):
            time.sleep(idle_s)
            inbox.put(time.perf_counter_ns())
            time.sleep(_SETTLE_S)
    finally:
        inbox.put(None)
        consumer.join()
    if len(woken_ns) != rounds:
        raise RuntimeError(f"the consumer ran {len(woken_ns)} of {rounds} times")
    return [ns / 1e3 for ns in woken_ns]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=300, help="wake-ups measured per idle spell")
    parser.add_argument(
        "--idle-s", type=float, nargs="+", default=[0.075, 0.001], help="the idle spells before each put"
    )
    args = parser.parse_args(argv)
    print(f"thread wake-up on a queue.Queue, {args.rounds} rounds, python {sys.version.split()[0]}")
    for idle_s in args.idle_s:
        times = sorted(wake_us(args.rounds, idle_s))
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
        print(f"after {idle_s * 1e3:g} ms idle: median {statistics.median(times):.1f} us, p90 {p90:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
