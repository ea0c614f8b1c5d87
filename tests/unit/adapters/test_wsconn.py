"""WsConnection's shutdown: ``stop`` never waits on the venue and leaves no reader thread behind; the
frames it sends take their mask keys from a shared pool of random bytes."""

from __future__ import annotations

import os
import threading
import time

import pytest
import websocket

from autohedge.adapters.wsconn import MaskKeys, WsConnection, masked_text_frame, whole_frame
from tests.fakes.silent_ws import SilentWsServer

NAME = "wsconn test"
THREAD_NAME = "wsconn-test"


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def connection(url: str, ended: list[str], opened: threading.Event | None = None) -> WsConnection:
    return WsConnection(
        url,
        name=NAME,
        on_message=lambda _connection, _raw: None,
        on_ended=ended.append,
        on_open=(lambda _connection: opened.set()) if opened is not None else None,
    )


def test_stop_returns_at_once_from_a_venue_that_never_answers_the_close() -> None:
    ended: list[str] = []
    opened = threading.Event()
    with SilentWsServer() as server:
        conn = connection(server.url, ended, opened)
        conn.start()
        assert opened.wait(5)
        started = time.monotonic()
        conn.stop()
        elapsed_s = time.monotonic() - started
        assert readers() == []  # the join returned because the reader ended, not on its timeout
    # websocket-client's own close waits 3 s for the venue's close frame: stop must not
    assert elapsed_s < 2.0
    assert ended == []  # a stop is not a disconnect


def test_stop_while_connecting_ends_the_reader_once_it_connects() -> None:
    ended: list[str] = []
    with SilentWsServer() as server:
        conn = connection(server.url, ended)
        conn.start()
        conn.stop()
        assert readers() == []
    assert ended == []


def test_end_from_a_callback_reports_the_reason_without_waiting_for_the_venue() -> None:
    ended: list[str] = []
    done = threading.Event()

    def on_ended(reason: str) -> None:
        ended.append(reason)
        done.set()

    with SilentWsServer() as server:
        conn = WsConnection(
            server.url,
            name=NAME,
            on_message=lambda _connection, _raw: None,
            on_ended=on_ended,
            on_open=lambda c: c.end("refused by the venue"),
        )
        started = time.monotonic()
        conn.start()
        assert done.wait(5)
        elapsed_s = time.monotonic() - started
        conn.stop()
    assert ended == ["refused by the venue"] and elapsed_s < 2.0


def test_mask_keys_are_cut_from_one_random_read_and_never_served_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[int] = []
    real_urandom = os.urandom

    def counted(length: int) -> bytes:
        reads.append(length)
        return real_urandom(length)

    monkeypatch.setattr(os, "urandom", counted)
    keys = MaskKeys(pool_bytes=40)
    served = [keys(4) for _ in range(10)]
    assert reads == [40] and all(len(key) == 4 for key in served)
    assert b"".join(served) != bytes(40)  # the pool's bytes, not zeros
    keys(4)  # the pool is spent: read again
    assert reads == [40, 40]
    assert len(keys(64)) == 64 and reads[-1] == 64  # a key longer than the pool gets a read of its own


def test_a_burst_of_frames_reads_no_random_bytes_per_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """websocket-client's default reads ``os.urandom(4)`` per frame, letting go of the interpreter lock
    each time; the frames of ``send_many`` and ``send`` take their keys from the shared pool."""
    reads: list[int] = []
    real_urandom = os.urandom

    def counted(length: int) -> bytes:
        reads.append(length)
        return real_urandom(length)

    opened = threading.Event()
    with SilentWsServer() as server:
        conn = connection(server.url, [], opened)
        conn.start()
        assert opened.wait(5)
        monkeypatch.setattr(os, "urandom", counted)
        try:
            conn.send_many([f"order {i}" for i in range(10)])
            conn.send("one more")
        finally:
            monkeypatch.undo()
            conn.stop()
    assert 4 not in reads and len(reads) <= 1  # at most one refill of the pool for all eleven frames


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 125, 126, 127, 393, 65535, 65536, 70001])
def test_a_text_frame_is_byte_for_byte_websocket_clients(length: int) -> None:
    """The burst's own encoder against the library's (same key): every length form (7, 16 and 64 bits)
    and payloads that are not a multiple of the key's 4 bytes."""
    payload = bytes((i * 7 + 13) % 256 for i in range(length))
    key = bytes([0x9A, 0x01, 0xFF, 0x3C])
    frame = websocket.ABNF.create_frame(payload, websocket.ABNF.OPCODE_TEXT)
    frame.get_mask_key = lambda _: key
    assert masked_text_frame(payload, key) == frame.format()


@pytest.mark.parametrize("payload", [b"x" * 5, b"y" * 300, b"z" * 70_000])  # 7-, 16-, 64-bit lengths
def test_a_frame_is_whole_only_once_every_byte_of_it_is_here(payload: bytes) -> None:
    frame = websocket.ABNF(1, 0, 0, 0, websocket.ABNF.OPCODE_TEXT, 0, payload).format()
    for cut in [*range(min(len(frame), 16)), len(frame) - 1]:
        assert whole_frame(frame[:cut], 0) is None  # a cut-off extended length is never taken for whole
    # The payload's start and the frame's end, whatever follows it.
    assert whole_frame(frame + b"\x81", 0) == (len(frame) - len(payload), len(frame))
