"""Replay: quotes from a JSONL file, paced by their ``ts_event`` gaps (scaled by ``speed``).

One quote per line::

    {"symbol": "BTC/USDT", "bid": "60000.1", "ask": "60000.5", "bid_size": "0.5", "ask_size": "0.7",
     "ts_event": 1700000000000000000}

Numbers may be strings or JSON numbers (parsed straight to Decimal). A malformed line is reported to
the sink (counted) and skipped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from loguru import logger

from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import MalformedMessage
from autohedge.core.messages import Quote
from autohedge.core.ports import QuoteSink

__all__ = ["ReplayStream", "parse_replay_line"]

VENUE = "replay"


def _decimal(raw: object, field: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise MalformedMessage(f"{field} must be a decimal string or number, got {raw!r}")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise MalformedMessage(f"{field} is not a decimal: {raw!r}") from None
    if not value.is_finite():
        raise MalformedMessage(f"{field} is not finite: {raw!r}")
    return value


def parse_replay_line(line: str, *, ts_init: int) -> Quote:
    """One JSONL line -> Quote. Raises MalformedMessage naming what is wrong."""
    try:
        raw = json.loads(line, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise MalformedMessage(f"not JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # an integer past 4300 digits, nesting past the stack
        raise MalformedMessage(f"not JSON we can read: {str(exc)[:100]}") from None
    if not isinstance(raw, dict):
        raise MalformedMessage("a quote line must be a JSON object")
    missing = [k for k in ("symbol", "bid", "ask", "ts_event") if k not in raw]
    if missing:
        raise MalformedMessage(f"missing {', '.join(missing)}")
    bid, ask = _decimal(raw["bid"], "bid"), _decimal(raw["ask"], "ask")
    if bid <= 0 or ask < bid:
        raise MalformedMessage(f"bid {bid} / ask {ask} is not a valid market")
    ts_event = raw["ts_event"]
    if isinstance(ts_event, bool) or not isinstance(ts_event, int):
        raise MalformedMessage("ts_event must be integer nanoseconds")
    symbol = raw["symbol"]
    if not isinstance(symbol, str):
        raise MalformedMessage(f"symbol must be a string, not {symbol!r}")
    try:
        return Quote(
            venue=VENUE,
            symbol=symbol,
            bid=bid,
            ask=ask,
            bid_size=_decimal(raw.get("bid_size", "0"), "bid_size"),
            ask_size=_decimal(raw.get("ask_size", "0"), "ask_size"),
            ts_event=ts_event,
            ts_init=ts_init,
        )
    except ValueError as exc:  # e.g. a symbol not of the BASE/QUOTE form
        raise MalformedMessage(str(exc)) from None


class ReplayStream:
    """MarketStream over a replay file; one daemon reader thread."""

    venue = VENUE

    def __init__(
        self, clock: Clock, path: Path, *, symbols: Sequence[str], speed: float = 1.0, loop: bool = True
    ) -> None:
        self._clock = clock
        self._path = path
        self._symbols = set(symbols)
        self._speed = speed
        self._loop = loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sink: QuoteSink | None = None

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        self._symbols = set(symbols)
        self._sink = sink
        self._thread = threading.Thread(target=self._run, name="replay-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Reader thread."""
        assert self._sink is not None
        try:
            while not self._stop.is_set():
                self._play_once(self._sink)
                if not self._loop:
                    return
        except Exception as exc:  # noqa: BLE001 - any failure, the sink's included, must reach the sink
            logger.exception("replay stream failed")
            self._sink.on_disconnected(f"{type(exc).__name__}: {exc}")

    def _play_once(self, sink: QuoteSink) -> None:
        previous_ts: int | None = None
        with open(self._path, "rb") as handle:  # decoded line by line: one bad byte is one bad line
            for raw_line in handle:
                if self._stop.is_set():
                    return
                try:
                    line = raw_line.decode("utf-8").strip()
                except UnicodeDecodeError as exc:
                    sink.on_malformed(raw_line, f"not UTF-8: {exc.reason}")
                    continue
                if not line:
                    continue
                try:
                    quote = parse_replay_line(line, ts_init=self._clock.wall_ns())
                except MalformedMessage as exc:
                    sink.on_malformed(line, str(exc))
                    continue
                if quote.symbol not in self._symbols:
                    continue
                if (
                    previous_ts is not None
                    and quote.ts_event > previous_ts
                    and self._stop.wait((quote.ts_event - previous_ts) / NS_PER_S / self._speed)
                ):
                    return
                previous_ts = quote.ts_event
                sink.on_quote(quote)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
