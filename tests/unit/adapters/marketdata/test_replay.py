import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from autohedge.adapters.marketdata.replay import ReplayStream, parse_replay_line
from autohedge.core.clock import ManualClock
from autohedge.core.errors import MalformedMessage
from autohedge.core.messages import Quote

LINE = (
    '{"symbol": "BTC/USDT", "bid": "60000.1", "ask": 60000.5, "bid_size": "0.5", "ask_size": "0.7", '
    '"ts_event": 1700000000000000000}'
)


def test_replay_parse_line_decimal_from_strings_and_numbers() -> None:
    q = parse_replay_line(LINE, ts_init=7)
    assert q.bid == Decimal("60000.1") and q.ask == Decimal("60000.5") and q.ts_init == 7


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "object"),
        ('{"symbol": "BTC/USDT", "bid": "1"}', "missing"),
        ('{"symbol": "BTC/USDT", "bid": "x", "ask": "1", "ts_event": 1}', "bid"),
        ('{"symbol": "BTC/USDT", "bid": "2", "ask": "1", "ts_event": 1}', "valid market"),
        ('{"symbol": "BTCUSDT", "bid": "1", "ask": "2", "ts_event": 1}', "BASE/QUOTE"),
        ('{"symbol": "BTC/USDT", "bid": "1", "ask": "2", "ts_event": 1.5}', "ts_event"),
    ],
)
def test_replay_parse_line_malformed_names_the_problem(line: str, problem: str) -> None:
    with pytest.raises(MalformedMessage, match=problem):
        parse_replay_line(line, ts_init=0)


class Sink:
    def __init__(self) -> None:
        self.quotes: list[Quote] = []
        self.malformed: list[str] = []
        self.done = threading.Event()

    def on_quote(self, quote: Quote) -> None:
        self.quotes.append(quote)
        if len(self.quotes) == 2:
            self.done.set()

    def on_quotes(self, quotes: Sequence[Quote]) -> None:
        for quote in quotes:
            self.on_quote(quote)

    def on_malformed(self, raw: str | bytes, error: str) -> None:
        self.malformed.append(error)

    def on_disconnected(self, error: str) -> None:
        raise AssertionError(error)


def test_replay_stream_skips_malformed_and_untraded_lines(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        "\n".join(
            [
                LINE,
                "garbage",
                LINE.replace("BTC/USDT", "ETH/USDT"),
                LINE.replace("1700000000000000000", "1700000000000000001"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    stream = ReplayStream(ManualClock(), path, symbols=["BTC/USDT"], speed=1_000_000, loop=False)
    sink = Sink()
    stream.start(["BTC/USDT"], sink)
    assert sink.done.wait(timeout=5)
    stream.stop()
    assert [q.symbol for q in sink.quotes] == ["BTC/USDT", "BTC/USDT"]
    assert len(sink.malformed) == 1


class EndingSink(Sink):
    """Also done when the stream ends itself (a disconnect the feed would restart it for)."""

    def __init__(self) -> None:
        super().__init__()
        self.disconnects: list[str] = []

    def on_disconnected(self, error: str) -> None:
        self.disconnects.append(error)
        self.done.set()


def test_replay_stream_line_not_utf8_is_skipped_not_a_disconnect(tmp_path: Path) -> None:
    # A byte that is not UTF-8 used to end the whole stream (UnicodeDecodeError): the feed restarted it,
    # it replayed up to the same line and ended again, for ever.
    path = tmp_path / "q.jsonl"
    path.write_bytes(
        LINE.encode()
        + b"\n"
        + b'{"symbol": "BTC/USDT", "note": "caf\xe9\xff"}\n'
        + LINE.replace("1700000000000000000", "1700000000000000001").encode()
        + b"\n"
    )
    stream = ReplayStream(ManualClock(), path, symbols=["BTC/USDT"], speed=1_000_000, loop=False)
    sink = EndingSink()
    stream.start(["BTC/USDT"], sink)
    assert sink.done.wait(timeout=5)
    stream.stop()
    assert sink.disconnects == []
    assert len(sink.quotes) == 2 and len(sink.malformed) == 1


def test_replay_parse_line_integer_past_the_digit_limit_is_malformed() -> None:
    # json raises a plain ValueError past 4300 digits: it ended the stream (restarted, for ever).
    with pytest.raises(MalformedMessage):
        parse_replay_line(LINE.replace('"0.5"', "1" * 5000), ts_init=0)
