"""Binance user-stream events against the ledger's re-base when our clock is off the venue's.

The ledger tells a fill (or a pushed balance) the re-base's balances already hold from one they lack by
comparing the event's time with the re-base's clock reading (``core.ledger``, ``read_account``). Binance
dates its events (``T``, ``u``) on its own clock; the re-base reads ours. The engine signs with the
measured offset (``ServerClock``) and so runs on a clock that is off by seconds: the events must come
dated on our clock, or a fill within the offset of a re-base is taken for one inside it (or the reverse).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from autohedge.adapters.binance.auth import HmacSigner
from autohedge.adapters.binance.rest import ServerClock
from autohedge.adapters.binance.user_ws import BinanceUserStream
from autohedge.core.clock import ManualClock
from autohedge.core.ledger import AccountLedger, read_account
from autohedge.core.messages import AccountBalances, Balance, OrderUpdate
from tests.unit.adapters.binance.vectors import API_KEY, SECRET

NS_PER_MS = 1_000_000
D = Decimal


class _Sink:
    def __init__(self) -> None:
        self.events: list[OrderUpdate | AccountBalances] = []

    def on_connected(self) -> None: ...
    def on_disconnected(self, error: str) -> None: ...
    def on_malformed(self, raw: str, error: str) -> None:
        raise AssertionError(error)

    def on_heartbeat(self) -> None: ...

    def on_order_update(self, update: OrderUpdate) -> None:
        self.events.append(update)

    def on_balances(self, update: AccountBalances) -> None:
        self.events.append(update)


def _stream(clock: ManualClock, server_clock: ServerClock, sink: _Sink) -> BinanceUserStream:
    stream = BinanceUserStream(
        url="ws://127.0.0.1:9/unused",
        api_key=SecretStr(API_KEY),
        signer=HmacSigner(SecretStr(SECRET)),
        clock=clock,
        symbols={"ETHUSDT": "ETH/USDT"},
        server_clock=server_clock,
    )
    stream._sink = sink  # the reader thread's state once started; frames are handed in directly
    return stream


def _fill_frames(venue_ms: int) -> list[dict[str, Any]]:
    """A 1 ETH buy at 100 filled at ``venue_ms`` (the venue's clock), and the balances it leaves."""
    report = {
        "e": "executionReport", "E": venue_ms, "s": "ETHUSDT", "c": "ah-e-1", "S": "BUY", "o": "LIMIT",
        "f": "GTC", "q": "1.00000000", "p": "100.00000000", "g": -1, "C": "", "x": "TRADE", "X": "FILLED",
        "r": "NONE", "i": 77, "l": "1.00000000", "z": "1.00000000", "L": "100.00000000", "n": "0",
        "N": None, "T": venue_ms, "t": 501, "Z": "100.00000000",
    }  # fmt: skip
    position = {
        "e": "outboundAccountPosition", "E": venue_ms, "u": venue_ms,
        "B": [{"a": "ETH", "f": "1.00000000", "l": "0"}, {"a": "USDT", "f": "900.00000000", "l": "0"}],
    }  # fmt: skip
    return [{"subscriptionId": 0, "event": report}, {"subscriptionId": 0, "event": position}]


def _rebase_then_fill(offset_ms: int, fill_after_read_ms: int) -> AccountLedger:
    """The venue's clock ``offset_ms`` off ours (measured); the account is read (no ETH yet); the fill
    happens ``fill_after_read_ms`` after the read on the venue, and its events reach the ledger."""
    clock = ManualClock()
    server_clock = ServerClock(clock, lambda: clock.wall_ns() // NS_PER_MS + offset_ms)
    server_clock.sync()
    sink = _Sink()
    stream = _stream(clock, server_clock, sink)
    ledger = AccountLedger()
    read_at_venue_ms = server_clock.timestamp_ms()
    ledger.rebase_from(
        read_account(
            wall_ns=clock.wall_ns,
            open_orders=lambda: (),
            balances=lambda: {"USDT": Balance(asset="USDT", free=D(1000), locked=D(0))},
        )
    )
    ledger.set_live(True)
    clock.advance(1.0)
    for frame in _fill_frames(read_at_venue_ms + fill_after_read_ms):
        stream._on_message(None, json.dumps(frame))  # type: ignore[arg-type]
    for event in sink.events:
        if isinstance(event, OrderUpdate):
            ledger.apply(event)
        else:
            ledger.apply_balances(event)
    return ledger


def test_user_stream_fill_after_the_rebase_counts_when_our_clock_is_ahead_of_the_venue() -> None:
    # Our clock 2 s ahead: the fill 0.5 s after the read is dated 1.5 s before our reading on the venue's
    # clock. Taken for one the balances hold, it and its balance push were both dropped: the ledger, live,
    # showed no ETH bought and 1000 USDT free (an entry sized from it oversizes; the exit finds nothing).
    ledger = _rebase_then_fill(offset_ms=-2000, fill_after_read_ms=500)

    assert ledger.position("ETH/USDT") == D(1)
    assert ledger.free("USDT") == D(900)
