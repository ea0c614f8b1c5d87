"""The market reader's websocket: many frames served from one socket read, and whether more is here."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import websocket

from autohedge.adapters.binance.ws import BufferedWebSocket


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
    assert ws.has_buffered()  # the second frame came with the first read
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b'{"a":2}')
    assert not ws.has_buffered()  # nothing left: the reader hands its batch over now

    server.sendall(text_frame(b'{"a":3}'))
    assert ws.has_buffered()  # waiting in the socket counts too
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
