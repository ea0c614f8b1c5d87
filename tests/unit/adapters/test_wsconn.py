"""WsConnection's shutdown: ``stop`` never waits on the venue and leaves no reader thread behind."""

from __future__ import annotations

import threading
import time

from autohedge.adapters.wsconn import WsConnection
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
