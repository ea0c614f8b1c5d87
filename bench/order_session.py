"""Benchmark: the Binance order session's work for a burst of pipelined orders, in this process.

    .venv/bin/python bench/order_session.py [--rounds 300] [--pause-s 0.075]

``BinanceOrderSession.pipeline`` on ten signed ``order.place`` requests, its connection a stub whose
write builds the masked frames as ``WsConnection.send_many`` does and sends nothing (no socket). What it
measures is the interpreter's work per burst (the budget's admission, each request's frame, signature,
encoding and mask), as medians in this one run:

1. warm: bursts back to back;
2. after a pause: each burst ``--pause-s`` after the last, as on the wire bench (a trigger every 75 ms),
   where the machine has handed the idle CPU back and the first pass runs on cold caches;
3. one order per call after a pause: the first call, the second and the tenth (how quickly the path
   warms up again).

To measure another revision, run this file with that revision's environment (its ``autohedge`` is the
one imported): ``../other-checkout/.venv/bin/python bench/order_session.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

from pydantic import SecretStr

from autohedge.adapters.binance.auth import HmacSigner
from autohedge.adapters.binance.rest import ServerClock
from autohedge.adapters.binance.wire import BINANCE_ORDER, BinanceOrder
from autohedge.adapters.binance.ws_api import ORDER_PLACE, BinanceOrderSession
from autohedge.adapters.wsconn import _masked_frame
from autohedge.core.clock import RealClock
from autohedge.core.errors import VenueError
from autohedge.core.order_session import OrderSessionState
from autohedge.core.ratelimit import RequestBudget

BURST = 10
PARAMS = [
    ("symbol", "BTCUSDT"),
    ("side", "BUY"),
    ("type", "LIMIT"),
    ("timeInForce", "GTC"),
    ("quantity", "0.00123"),
    ("price", "43210.12"),
    ("newClientOrderId", "ah1-e1a2b3c4d5-0"),
    ("newOrderRespType", "FULL"),
]


class _Unsent:
    """A connection that builds the frames as ``WsConnection.send_many`` does and writes nothing."""

    def send_many(self, texts: Sequence[str | bytes]) -> None:
        b"".join(_masked_frame(text) for text in texts)


def _ignore(_: BinanceOrder | None, __: VenueError | None) -> None:
    """Answers never come: the stub writes nothing."""


def session() -> BinanceOrderSession:
    clock = RealClock()
    unlimited = RequestBudget(clock, venue="binance", capacity=10**12, per_s=10**12)
    s = BinanceOrderSession(
        url="ws://127.0.0.1:9",  # never connected: the stub stands for the open connection
        api_key=SecretStr("k" * 64),
        signer=HmacSigner(SecretStr("s" * 64)),
        clock=clock,
        budget=unlimited,
        server_clock=ServerClock(clock, lambda: clock.wall_ns() // 1_000_000),
        recv_window_ms=5000,
        timeout_s=5.0,
    )
    s._state = OrderSessionState.UP
    s._connection = _Unsent()  # type: ignore[assignment]
    return s


def burst_us(s: BinanceOrderSession, orders: int) -> float:
    batch = [(list(PARAMS), _ignore) for _ in range(orders)]
    start_ns = time.perf_counter_ns()
    written = s.pipeline(ORDER_PLACE, batch, BINANCE_ORDER, priority=False)
    elapsed_us = (time.perf_counter_ns() - start_ns) / 1e3
    if written != orders:
        raise RuntimeError(f"the session wrote {written} of {orders} orders")
    s._pending.clear()
    return elapsed_us


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=300, help="bursts measured back to back")
    parser.add_argument("--paused", type=int, default=60, help="bursts measured after a pause each")
    parser.add_argument("--pause-s", type=float, default=0.075, help="the pause before each of those")
    args = parser.parse_args(argv)
    s = session()
    for _ in range(50):
        burst_us(s, BURST)
    warm = [burst_us(s, BURST) for _ in range(args.rounds)]
    paused = []
    for _ in range(args.paused):
        time.sleep(args.pause_s)
        paused.append(burst_us(s, BURST))
    calls: list[list[float]] = [[] for _ in range(BURST)]
    for _ in range(args.paused):
        time.sleep(args.pause_s)
        for i in range(BURST):
            calls[i].append(burst_us(s, 1))
    print(f"order session, {BURST} orders per burst, python {sys.version.split()[0]}")
    print(f"burst warm (median us)                  {statistics.median(warm):8.1f}")
    print(f"burst after a {args.pause_s * 1e3:.0f} ms pause (median us)     {statistics.median(paused):8.1f}")
    first, second, tenth = (statistics.median(calls[i]) for i in (0, 1, BURST - 1))
    print(
        f"one order after a pause, 1st / 2nd / 10th call (median us) {first:.1f} / {second:.1f} / {tenth:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
