"""The market reader's websocket: many frames served from one socket read, and whether more is here."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest
import websocket
from hypothesis import given, settings
from hypothesis import strategies as st

from autohedge.adapters.binance.ws import BinanceMarketStream, BufferedWebSocket
from autohedge.core.clock import ManualClock
from autohedge.core.messages import Quote
from tests.unit.adapters.binance.test_parse import symbols


def text_frame(payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes((0x81, len(payload))) + payload  # server to client: unmasked


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, BufferedWebSocket]]:
    server, client = socket.socketpair()
    ws = BufferedWebSocket(skip_utf8_validation=True)
    ws.sock = client
    ws.connected = True
    yield server, ws
    server.close()
    client.close()


def test_frames_already_read_are_served_from_the_buffer(
    pair: tuple[socket.socket, BufferedWebSocket],
) -> None:
    server, ws = pair
    server.sendall(text_frame(b'{"a":1}') + text_frame(b'{"a":2}'))

    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b'{"a":1}')
    assert ws.has_whole_frame()  # the second frame came with the first read
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b'{"a":2}')
    assert not ws.has_whole_frame()  # nothing left: the reader hands its batch over before reading on

    server.sendall(text_frame(b'{"a":3}'))
    assert not ws.has_whole_frame()  # still in the socket: the next read brings it
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b'{"a":3}')


def test_a_frame_split_across_reads_is_reassembled(pair: tuple[socket.socket, BufferedWebSocket]) -> None:
    server, ws = pair
    frame = text_frame(b'{"split":true}')
    server.sendall(frame[:5])
    server.sendall(frame[5:])
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b'{"split":true}')


def test_the_server_closing_the_socket_ends_the_reader(pair: tuple[socket.socket, BufferedWebSocket]) -> None:
    server, ws = pair
    server.shutdown(socket.SHUT_WR)
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.recv_data()


class _ChunkSocket:
    """A socket whose reads return the given chunks in turn, then end; writes are kept."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = list(chunks)
        self.sent: list[bytes] = []

    def recv(self, _bufsize: int) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        return len(data)

    def gettimeout(self) -> float | None:
        return None


def _messages(ws: BufferedWebSocket, recv_data: Callable[[], tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    messages: list[tuple[int, bytes]] = []
    while True:
        try:
            messages.append(recv_data())
        except websocket.WebSocketConnectionClosedException:
            return messages


def _reader(chunks: list[bytes]) -> tuple[BufferedWebSocket, _ChunkSocket]:
    ws = BufferedWebSocket(skip_utf8_validation=True)
    sock = _ChunkSocket(chunks)
    ws.sock = sock  # type: ignore[assignment]  # a stand-in with the three methods the reader uses
    ws.connected = True
    return ws, sock


_ABNF = websocket.ABNF
_frames = st.one_of(
    st.binary(max_size=300).map(lambda data: [_ABNF(1, 0, 0, 0, _ABNF.OPCODE_TEXT, 0, data)]),
    st.integers(min_value=65_536, max_value=65_600).map(  # a 64-bit length
        lambda size: [_ABNF(1, 0, 0, 0, _ABNF.OPCODE_TEXT, 0, b"x" * size)]
    ),
    st.binary(max_size=50).map(lambda data: [_ABNF(1, 0, 0, 0, _ABNF.OPCODE_BINARY, 0, data)]),
    st.binary(max_size=20).map(lambda data: [_ABNF(1, 0, 0, 0, _ABNF.OPCODE_PING, 0, data)]),
    st.tuples(st.binary(max_size=40), st.binary(max_size=40)).map(
        lambda parts: [
            _ABNF(0, 0, 0, 0, _ABNF.OPCODE_TEXT, 0, parts[0]),
            _ABNF(1, 0, 0, 0, _ABNF.OPCODE_CONT, 0, parts[1]),
        ]
    ),
)


@settings(max_examples=200, deadline=None)
@given(groups=st.lists(_frames, max_size=12), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_the_fast_path_reads_what_websocket_client_reads(groups: list[list[Any]], cuts: list[int]) -> None:
    """Whatever the frames and however the socket's reads cut them, the messages, and the pongs sent
    back, are websocket-client's own."""
    wire = b"".join(frame.format() for group in groups for frame in group)
    bounds = sorted({cut % (len(wire) + 1) for cut in cuts} | {0, len(wire)})
    chunks = [wire[a:b] for a, b in itertools.pairwise(bounds) if b > a]

    fast, fast_sock = _reader(chunks)
    library, library_sock = _reader(chunks)

    assert _messages(fast, fast.recv_data) == _messages(
        library, lambda: websocket.WebSocket.recv_data(library)
    )
    assert len(fast_sock.sent) == len(library_sock.sent)  # one pong per ping (masks differ)


def test_a_masked_frame_from_the_server_goes_to_websocket_client() -> None:
    """A server must not mask; the fast path leaves such a frame (and its verdict) to the library."""
    masked = _ABNF(1, 0, 0, 0, _ABNF.OPCODE_TEXT, 1, b'{"a":1}')
    masked.get_mask_key = lambda n: b"\x01\x02\x03\x04"
    ws, _ = _reader([masked.format() + text_frame(b"{}")])
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b'{"a":1}')  # unmasked by websocket-client
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b"{}")


class _BatchSink:
    """Keeps each hand-over of the market reader as one batch."""

    def __init__(self) -> None:
        self.batches: list[list[Decimal]] = []

    def on_quote(self, quote: Quote) -> None:
        self.on_quotes((quote,))

    def on_quotes(self, quotes: Sequence[Quote]) -> None:
        self.batches.append([quote.bid for quote in quotes])

    def on_malformed(self, raw: str | bytes, error: str) -> None:
        raise AssertionError(f"malformed: {error}")

    def on_disconnected(self, error: str) -> None:
        raise AssertionError(f"disconnected: {error}")


def _ticker(bid: int) -> bytes:
    data = {"u": bid, "s": "BNBUSDT", "b": f"{bid}", "B": "1", "a": f"{bid + 1}", "A": "1"}
    return text_frame(json.dumps({"stream": "bnbusdt@bookTicker", "data": data}).encode())


def test_a_reads_first_quote_is_handed_over_at_once_and_the_rest_together() -> None:
    """The first quote wakes the consumers while the rest is decoded; the rest goes as one batch before
    the next socket read (a frame cut off at the end of a read waits for that read), or before the
    reader ends at the server's close."""
    first_read = _ticker(1) + _ticker(2) + _ticker(3) + _ticker(4)[:9]
    second_read = _ticker(4)[9:] + _ticker(5) + _ABNF(1, 0, 0, 0, _ABNF.OPCODE_CLOSE, 0, b"").format()
    stream = BinanceMarketStream(ws_url="ws://127.0.0.1:1", symbol_map=symbols(), clock=ManualClock())
    sink = _BatchSink()
    stream._sink = sink
    ws, _ = _reader([first_read, second_read])

    stream._read(ws)

    assert sink.batches == [[1], [2, 3], [4], [5]]
