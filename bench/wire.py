"""Wire-level benchmark: the real process against a local Binance websocket source and a local venue.

    .venv/bin/python bench/wire.py [--seconds 6] [--json bench-wire.json]

Everything runs on 127.0.0.1, each part in its own process so none competes for the engine's GIL:

* the SOURCE serves Binance ``bookTicker`` frames on a combined stream for 50 symbols (a hand-rolled
  websocket server writing pre-encoded frames), either as fast as the reader takes them (flood) or at
  a paced background rate with trigger frames that make the HFT rule fire (``t_sent`` stamped just
  before the trigger frames are written);
* the VENUE is the local Binance fake (REST, and the WebSocket API where the build has one) whose
  order routes (REST's, and the WebSocket API's ``order.place`` and ``orderList.place.oco``) stamp each
  order with when its bytes reached the venue: the kernel's receive stamp of the socket read that
  brought them (``SO_TIMESTAMPNS``; where there is none, when that read returned). Ten frames written
  together arrive together, however long the fake then takes to serve them one by one, and a venue
  process waiting for a CPU (the engine's, on this one machine) does not delay its stamp: a real venue
  runs on its own. Both count as orders at the venue;
* the ENGINE is ``python -m autohedge.cli run`` with a generated config, exactly as a user runs it;
* the RAW FLOOR is a minimal client in its own process: websocket-client, ``json.loads``, a kept-alive
  ``requests`` POST of a signed order.

Measured in one run: the raw websocket-client receive ceiling; the engine's sustained intake in dry
run (paper venue on Binance market data) with no signals and with the strategy firing on every symbol;
its CPU seconds per 1,000 quotes and peak RSS (VmHWM); tick-to-order at the wire (trigger frame sent
-> order received by the venue), p50/p99, at 1,000 and 10,000 background frames/s, one symbol alone
and 10 symbols triggered by the same write, for the engine and the raw floor. Timestamps are
``CLOCK_MONOTONIC`` (``time.monotonic_ns``), which every process on the machine shares.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import hmac
import http.server
import io
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N_SYMBOLS = 50
GROUP = 10
API_KEY = "fake-binance-key"
API_SECRET = "fake-binance-secret"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SIOCOUTQ = getattr(termios, "TIOCOUTQ", 0x5411)
CALM = (("100.00000000", "100.02000000"), ("99.99000000", "100.01000000"))
DIP = ("99.50000000", "99.52000000")
"""Ask 24 bps under the recent mean mid (min_edge_bps 10): the rule fires."""
TRIGGER_ASK = Decimal("99.6")
"""The raw floor's rule: an ask under this is a trigger (the same frames make the engine fire)."""
BURSTS = 200
"""Triggers of each kind per latency phase (``--bursts``)."""
STOP_TIMEOUT_S = 5.0
"""How long a local server or client process is given to end by itself before it is terminated."""


def symbols() -> list[str]:
    return [f"C{i:02d}/USDT" for i in range(N_SYMBOLS)]


def venue_symbol(symbol: str) -> str:
    return symbol.replace("/", "")


# -- websocket source (its own process) -------------------------------------------------------------


def ws_frame(payload: bytes) -> bytes:
    """A server-to-client text frame (unmasked)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return bytes((0x81, 126)) + struct.pack("!H", size) + payload
    return bytes((0x81, 127)) + struct.pack("!Q", size) + payload


def book_ticker(symbol: str, update_id: int, bid: str, ask: str) -> bytes:
    vs = venue_symbol(symbol)
    data = {"u": update_id, "s": vs, "b": bid, "B": "1.00000000", "a": ask, "A": "1.00000000"}
    return ws_frame(json.dumps({"stream": f"{vs.lower()}@bookTicker", "data": data}).encode())


def accept_websocket(listener: socket.socket) -> socket.socket:
    sock, _ = listener.accept()
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("client left during the handshake")
        request += chunk
    key = b""
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Whatever the client sends (a close at its end) is read and dropped so it never blocks.
    threading.Thread(target=_drain, args=(sock,), daemon=True).start()
    return sock


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(65536):
            pass
    except OSError:
        return


def outq_bytes(sock: socket.socket) -> int:
    """Bytes written by the source and not yet taken by the peer (Linux SIOCOUTQ)."""
    raw = fcntl.ioctl(sock.fileno(), SIOCOUTQ, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])


def flood(sock: socket.socket, seconds: float, firing: bool, conn: Connection) -> dict[str, float]:
    """Frames as fast as the reader takes them; the rate is counted over the steady second half,
    whose start is announced on ``conn`` (the bench reads the process's CPU time then)."""
    syms = symbols()
    rounds = []
    for r in range(4):
        prices = DIP if firing and r % 2 else CALM[r % 2]
        rounds.append(b"".join(book_ticker(s, r, *prices) for s in syms))
    sent = 0
    start = time.monotonic()
    mark_at, mark_sent, mark_t = start + seconds / 2, -1, 0.0
    r = 0
    while True:
        now = time.monotonic()
        if mark_sent < 0 and now >= mark_at:
            mark_sent, mark_t = sent, now
            conn.send(("mark",))
        if now - start >= seconds:
            break
        sock.sendall(rounds[r & 3])
        sent += N_SYMBOLS
        r += 1
    return {
        "frames": float(sent),
        "steady_per_s": (sent - mark_sent) / (now - mark_t),
        "steady_s": now - mark_t,
    }


def paced(sock: socket.socket, rate: float, bursts: int, warmup_s: float, every_s: float) -> dict[str, Any]:
    """Background frames at ``rate``/s over all symbols (written every millisecond); after a warm-up,
    a trigger every ``every_s``: alternately one symbol alone and ``GROUP`` symbols in one write,
    ``bursts`` of each, then one more spacing for the last orders to arrive; fewer when a busy machine
    makes the phase last twice as long as planned."""
    syms = symbols()
    calm = [[book_ticker(s, r, *CALM[r]) for s in syms] for r in range(2)]
    dip = [book_ticker(s, 9, *DIP) for s in syms]
    triggers: list[dict[str, Any]] = []
    start = time.monotonic()
    next_trigger = start + warmup_s
    # Twice the planned length at most: a reader that falls behind blocks the background writes, and the
    # phase must end all the same (with fewer bursts, as the table's order count shows).
    deadline = next_trigger + 2 * (2 * bursts + 1) * every_s
    sent, k, n_trigger = 0, 0, 0
    tick_s = 0.001
    lag_max_s = 0.0
    while True:
        now = time.monotonic()
        elapsed = now - start
        if (n_trigger == 2 * bursts and now >= next_trigger) or now >= deadline:
            break  # the last burst's orders had a spacing to arrive (or the machine was too busy for all)
        due = int(elapsed * rate)
        if due > sent:
            lag_max_s = max(lag_max_s, (due - sent) / rate)
            n = due - sent
            batch = b"".join(calm[(k + i) // N_SYMBOLS & 1][(k + i) % N_SYMBOLS] for i in range(n))
            k += n
            sent = due
            sock.sendall(batch)
        if now >= next_trigger:
            if n_trigger % 2 == 0:
                chosen = [syms[(n_trigger * 7) % N_SYMBOLS]]
            else:
                first = (n_trigger * 11) % N_SYMBOLS
                chosen = [syms[(first + j) % N_SYMBOLS] for j in range(GROUP)]
            frames = b"".join(dip[syms.index(s)] for s in chosen)
            queued = outq_bytes(sock)
            t_sent = time.monotonic_ns()
            sock.sendall(frames)
            triggers.append({"t_sent_ns": t_sent, "symbols": chosen, "outq_bytes": queued})
            n_trigger += 1
            # From now: a late trigger (a busy machine) never follows the one before it closer than that.
            next_trigger = now + every_s
        time.sleep(max(0.0, tick_s - (time.monotonic() - now)))
    frame_bytes = len(calm[0][0])
    return {"triggers": triggers, "frames": sent, "lag_max_s": lag_max_s, "frame_bytes": frame_bytes}


def source_main(conn: Connection) -> None:
    """Source process: one client at a time; commands from the bench over ``conn``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(60)  # a client that never comes (an engine that failed to start) ends the phase
    conn.send(listener.getsockname()[1])
    while True:
        command = conn.recv()
        if command[0] == "quit":
            return
        try:
            sock = accept_websocket(listener)
        except OSError as exc:
            conn.send({"error": f"no client: {exc}"})
            conn.recv()
            continue
        try:
            if command[0] == "flood":
                result: dict[str, Any] = flood(sock, command[1], command[2], conn)
            else:
                result = paced(sock, *command[1:])
        except OSError as exc:
            result = {"error": str(exc)}
        conn.send(result)
        conn.recv()  # the bench says when the client may go
        with contextlib.suppress(OSError):  # already gone
            sock.shutdown(socket.SHUT_RDWR)  # wakes the drain thread too, so the peer sees the end
        sock.close()


# -- venue (its own process) --------------------------------------------------------------------------


def _quiet_handle_error(self: Any, request: Any, client_address: Any) -> None:
    """The venue process's HTTP server: a connection reset by a departing client is not reported."""


def venue_main(conn: Connection) -> None:
    """Venue process: the Binance fake, its order routes stamping arrival before any other work."""
    from tests.fakes import binance as fake_binance
    from tests.fakes.venue_server import KernelStampedSocket

    # The bench measures the wire path, not the venue's limits: the fake advertises and enforces
    # limits no run of this bench reaches (real Binance allows 50 orders per 10 s; the bench sends more).
    fake_binance.REQUEST_WEIGHT_PER_MINUTE = 10**9
    fake_binance.ORDERS_PER_10S = 10**9
    fake_binance.ORDERS_PER_DAY = 10**9
    # A client that ends with its connection open (the raw floor is terminated) is no error here.
    http.server.ThreadingHTTPServer.handle_error = _quiet_handle_error  # type: ignore[method-assign]
    arrivals: list[tuple[int, str]] = []
    lock = threading.Lock()
    for key in (("POST", "/api/v3/order"), ("POST", "/api/v3/orderList/oco")):
        handler, signed, weight = fake_binance.ROUTES[key]

        def stamped(self: Any, params: dict[str, str], _handler: Any = handler) -> None:
            arrived = getattr(self, "arrived_ns", None) or time.monotonic_ns()
            with lock:
                arrivals.append((arrived, params.get("symbol", "")))
            _handler(self, params)

        fake_binance.ROUTES[key] = (stamped, signed, weight)
    original_setup = fake_binance._Handler.setup
    original_handle = fake_binance._Handler._handle

    def setup(self: Any) -> None:
        # Requests are read through a socket that keeps when their bytes reached the venue.
        original_setup(self)
        self.stamped = KernelStampedSocket(self.connection)
        self.rfile = io.BufferedReader(socket.SocketIO(self.stamped, "rb"))

    def handle(self: Any, method: str) -> None:
        # The request line and headers are parsed: the order arrived with the read that brought them.
        self.arrived_ns = self.stamped.read_ns or time.monotonic_ns()
        original_handle(self, method)

    fake_binance._Handler.setup = setup  # type: ignore[method-assign]
    fake_binance._Handler._handle = handle  # type: ignore[method-assign]
    balances = {"USDT": Decimal(10) ** 12}
    with fake_binance.FakeBinance(symbols=symbols(), balances=balances) as fake:
        for s in symbols():
            fake.push_quote(s, Decimal(CALM[0][0]), Decimal(CALM[0][1]))
        conn.send({"rest_url": fake.rest_url, "user_ws_url": getattr(fake, "user_ws_url", "")})
        reads_before = 0
        while True:
            command = conn.recv()
            if command == "quit":
                return
            with lock:
                taken = list(arrivals)
                arrivals.clear()
            take_ws = getattr(fake.user, "take_arrivals", None)  # builds with WebSocket API order entry
            # REST reads of orders: one order (an entry looked up, or one a listing no longer shows) or a
            # listing of the open ones (a sweep over resting entries).
            reads = sum(
                1
                for path in ("/api/v3/order", "/api/v3/openOrders")
                for method, _, _ in fake.requests(path)
                if method == "GET"
            )
            conn.send(
                {
                    "arrivals": sorted(taken + (take_ws() if take_ws is not None else [])),
                    "order_reads": reads - reads_before,
                }
            )
            reads_before = reads


# -- raw floor client (its own process) ----------------------------------------------------------------


def raw_ceiling_main(url: str, out: Connection) -> None:
    """A bare websocket-client receive loop: frames/s over the steady second half of the flood."""
    import websocket

    ws = websocket.create_connection(url, skip_utf8_validation=True)
    received = 0
    stamps: list[tuple[float, int]] = []
    try:
        while True:
            ws.recv()
            received += 1
            if received % 5000 == 0:
                stamps.append((time.monotonic(), received))
    except (websocket.WebSocketException, OSError):  # the source closed: the measurement is over
        out.send(stamps)


def raw_client_main(url: str, rest_url: str, out: Connection) -> None:
    """The minimal trading client: decode each frame, POST a signed order when the ask dips."""
    import requests
    import websocket

    session = requests.Session()
    session.headers["X-MBX-APIKEY"] = API_KEY
    ws = websocket.create_connection(url, skip_utf8_validation=True)
    n = 0
    try:
        while True:
            frame = json.loads(ws.recv())
            data = frame["data"]
            if Decimal(data["a"]) < TRIGGER_ASK:
                n += 1
                query = urlencode(
                    {
                        "symbol": data["s"],
                        "side": "BUY",
                        "type": "LIMIT",
                        "timeInForce": "GTC",
                        "quantity": "0.1",
                        "price": data["a"],
                        "newClientOrderId": f"raw{os.getpid()}x{n}",
                        "timestamp": int(time.time() * 1000),
                    }
                )
                sig = hmac.new(API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
                session.post(f"{rest_url}/api/v3/order?{query}&signature={sig}", timeout=5)
    except (websocket.WebSocketException, OSError):  # the source closed (requests' errors are OSErrors)
        out.send(n)


# -- the engine under test ------------------------------------------------------------------------------


def engine_config(
    *,
    venue: str,
    ws_url: str,
    rest_url: str,
    firing: bool,
    user_ws_url: str,
    order_entry: str = "ws",
    pipelined: bool = True,
    shared_runner: bool = True,
    switch_interval_ms: float | None = None,
    resting_entry_reads: bool = True,
) -> dict[str, Any]:
    from autohedge.core import config as engine_config_module
    from autohedge.core.config import VenueEndpoints

    endpoints: dict[str, Any] = {"rest_url": rest_url, "ws_url": ws_url}
    if user_ws_url and "user_ws_url" in VenueEndpoints.model_fields:  # builds with a private stream
        endpoints["user_ws_url"] = user_ws_url
    binance_endpoints = getattr(engine_config_module, "BinanceEndpoints", None)
    if binance_endpoints is not None and "order_entry" in binance_endpoints.model_fields:
        endpoints["order_entry"] = order_entry  # builds with WebSocket API order entry
    executor: dict[str, Any] = {
        "order_poll_interval_s": 60,
        "entry_timeout_s": 600,
        "cancel_entries_on_stop": False,
        "max_open_entries_per_symbol": 100_000,
    }
    if "pipelined_entries" in engine_config_module.ExecutorConfig.model_fields:  # builds that pipeline
        executor["pipelined_entries"] = pipelined
    hft: dict[str, Any] = {"min_edge_bps": 10, "max_spread_bps": 50, "lookback_periods": 20}
    if "shared_runner" in engine_config_module.HftConfig.model_fields:  # builds with the strategy runner
        hft["shared_runner"] = shared_runner
    monitor: dict[str, Any] = {}
    user_stream: dict[str, Any] = {}
    if not resting_entry_reads:
        # The bench's venue never trades at the price its source's trigger shows, so its entries rest
        # (up to 2,200 by a phase's end; 50 at most with the default one per symbol). They are read by
        # REST (on the order reader, a symbol's open orders where that weighs less than reading each):
        # whenever the look for unreported fills meets a symbol's dip (it looks traded), and in the safety
        # poll a minute after the user stream connects (reached when a busy machine stretches a phase).
        # Neither happens within a phase here.
        monitor["max_unprotected_s"] = 3600  # the look every 30 minutes
        user_stream["safety_poll_interval_s"] = 3600
    process: dict[str, Any] = {}
    if switch_interval_ms is not None and "switch_interval_ms" in engine_config_module.AppConfig.model_fields:
        process["switch_interval_ms"] = switch_interval_ms  # builds that set the interpreter's
    return process | {
        "exchange": {"venue": venue, "market_data": "binance"},
        "symbols": symbols(),
        "strategy": "hft",
        "defaults": {
            "take_profit_pct": 5,
            "stop_loss_pct": 5,
            "max_position_size": 10**9,
            "order_amount": 10,
        },
        "rate_limit_ms": 250 if firing else 1,
        "hft": hft,
        "executor": executor,
        "feed": {"stale_after_s": 30},
        "monitor": monitor,
        "user_stream": user_stream,
        "paper": {"balances": {"USDT": 10**12}},
        "venues": {"binance": endpoints},
        "api": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "log_level": "WARNING",
    }


@dataclass
class EngineProcess:
    config: dict[str, Any]
    workdir: Path
    python: Path
    proc: subprocess.Popen[bytes] | None = None
    entry: tuple[str, ...] = ("-m", "autohedge.cli")
    """What the interpreter runs: the engine's command line, or ``bench/stages.py`` (the same with timers
    inside; a script, so the interpreter's own ``autohedge`` runs, whichever revision that is)."""
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / "engine.log"

    def start(self) -> psutil.Process:
        path = self.workdir / "config.yaml"
        path.write_text(yaml.safe_dump(self.config), encoding="utf-8")
        env = dict(os.environ)
        env.update(AUTOHEDGE_BINANCE_API_KEY=API_KEY, AUTOHEDGE_BINANCE_API_SECRET=API_SECRET)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.python), *self.entry, "run", "--config", str(path)],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return psutil.Process(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @contextlib.contextmanager
    def running(self) -> Iterator[psutil.Process]:
        """The engine process for the length of the block, stopped on the way out whatever raised (a
        phase that failed must not leave an engine behind)."""
        try:
            yield self.start()
        finally:
            self.stop()


def end_process(process: mp.process.BaseProcess | None) -> None:
    """Let a local server or client process end within ``STOP_TIMEOUT_S``, else terminate it."""
    if process is None or process.pid is None:
        return
    process.join(STOP_TIMEOUT_S)
    if process.is_alive():
        process.terminate()
        process.join(STOP_TIMEOUT_S)


def terminate_process(process: mp.process.BaseProcess) -> None:
    """End a local client process that runs until it is stopped (if it was started at all)."""
    if process.pid is None:
        return
    process.terminate()
    process.join(STOP_TIMEOUT_S)


def tell(conn: Connection, message: object) -> None:
    """Send ``message`` to a local process unless it is gone already (its pipe broken)."""
    with contextlib.suppress(OSError):
        conn.send(message)


def peak_rss_mib(process: psutil.Process) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        ctx = mp.get_context("spawn")
        self.ctx = ctx
        self.workdir = Path(tempfile.mkdtemp(prefix="autohedge-wire-"))
        self.source_conn, source_end = ctx.Pipe()
        self.venue_conn, venue_end = ctx.Pipe()
        self.source = ctx.Process(target=source_main, args=(source_end,), daemon=True)
        self.venue = ctx.Process(target=venue_main, args=(venue_end,), daemon=True)
        try:
            self.source.start()
            port = self.source_conn.recv()
            self.venue.start()
            urls = self.venue_conn.recv()
        except BaseException:
            self.close()  # the server that did start must not outlive a bench that never ran
            raise
        streams = "/".join(f"{venue_symbol(s).lower()}@bookTicker" for s in symbols())
        self.ws_base = f"ws://127.0.0.1:{port}"
        self.stream_url = f"{self.ws_base}/stream?streams={streams}"
        self.rest_url: str = urls["rest_url"]
        self.user_ws_url: str = urls["user_ws_url"]

    def close(self) -> None:
        """Stop the local servers (terminated when they do not end by themselves: a phase that failed
        may have left one waiting for a word that never comes)."""
        tell(self.source_conn, ("quit",))
        tell(self.venue_conn, "quit")
        end_process(self.source)
        end_process(self.venue)
        if self.args.keep_logs:
            progress(f"engine configs and logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def arrivals(self) -> tuple[list[tuple[int, str]], int]:
        """The orders the venue received since the last call (arrival time, venue symbol), and how many
        times an order was read by REST."""
        self.venue_conn.send("take")
        result: dict[str, Any] = self.venue_conn.recv()
        return result["arrivals"], result["order_reads"]

    # -- phases -----------------------------------------------------------------------------------

    def raw_ceiling(self) -> float:
        self.source_conn.send(("flood", self.args.seconds * 2, False))
        mine, theirs = self.ctx.Pipe()
        client = self.ctx.Process(target=raw_ceiling_main, args=(self.stream_url, theirs), daemon=True)
        try:
            try:
                client.start()
                self.source_conn.recv()  # the steady half begins
                result = self.source_conn.recv()
            finally:
                tell(self.source_conn, "gone")  # the source closes the stream: the client reports and ends
            stamps: list[tuple[float, int]] = mine.recv()
        finally:
            end_process(client)
        if "error" in result or len(stamps) < 2:
            raise RuntimeError(f"raw ceiling: {result}")
        # The client's own count over the second half of what it received.
        mid = stamps[-1][0] - (stamps[-1][0] - stamps[0][0]) / 2
        (t0, n0), (t1, n1) = next(s for s in stamps if s[0] >= mid), stamps[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else float(result["steady_per_s"])

    def intake(self, firing: bool, api: bool = True) -> dict[str, float]:
        config = engine_config(
            venue="paper",
            ws_url=self.ws_base,
            rest_url=self.rest_url,
            firing=firing,
            user_ws_url="",
            shared_runner=self.args.shared_runner == "on",
            switch_interval_ms=self.args.switch_interval_ms,
        )
        config["api"]["enabled"] = api
        engine = EngineProcess(
            config,
            self._phase_dir(("intake-firing" if firing else "intake-calm") + ("" if api else "-no-api")),
            self.args.engine_python,
        )
        self.source_conn.send(("flood", self.args.seconds * 2, firing))
        try:
            with engine.running() as process:
                mark = self.source_conn.recv()  # the steady half of the flood begins
                cpu_start = sum(process.cpu_times()[:2])
                result = mark if "error" in mark else self.source_conn.recv()
                cpu_end = sum(process.cpu_times()[:2])
                rss = peak_rss_mib(process)
        finally:
            tell(self.source_conn, "gone")
        if "error" in result:
            raise RuntimeError(f"intake: {result['error']} (see {engine.log})")
        rate = result["steady_per_s"]
        window_s = result["steady_s"]
        cpu_s = cpu_end - cpu_start
        return {
            "quotes_per_s": rate,
            "cpu_s_per_1000_quotes": cpu_s / (rate * window_s / 1000) if rate else float("nan"),
            "cpu_share": cpu_s / window_s,
            "peak_rss_mib": rss,
        }

    def latency(self, who: str, rate: float) -> dict[str, Any]:
        warmup_s, every_s = 4.0, self.args.trigger_every_s
        self.source_conn.send(("paced", rate, self.args.bursts, warmup_s, every_s))
        self.arrivals()
        stages: Path | None = None
        with contextlib.ExitStack() as running:
            running.callback(tell, self.source_conn, "gone")
            process: psutil.Process | None = None
            if who == "engine":
                config = engine_config(
                    venue="binance",
                    ws_url=self.ws_base,
                    rest_url=self.rest_url,
                    firing=False,
                    user_ws_url=self.user_ws_url,
                    order_entry=self.args.order_entry,
                    pipelined=self.args.pipelined_entries == "on",
                    shared_runner=self.args.shared_runner == "on",
                    switch_interval_ms=self.args.switch_interval_ms,
                    resting_entry_reads=self.args.resting_entry_reads == "on",
                )
                workdir = self._phase_dir(f"latency-{int(rate)}")
                engine = EngineProcess(config, workdir, self.args.engine_python)
                if self.args.stages:
                    from bench.stages import STAGES_FILE

                    engine.entry, stages = (str(ROOT / "bench" / "stages.py"),), workdir / STAGES_FILE
                process = running.enter_context(engine.running())
            else:
                _, theirs = self.ctx.Pipe()
                client = self.ctx.Process(
                    target=raw_client_main, args=(self.stream_url, self.rest_url, theirs), daemon=True
                )
                # The raw client loops until its connection ends: it is terminated, not waited for.
                running.callback(terminate_process, client)
                client.start()
            result = self.source_conn.recv()
            rss = peak_rss_mib(process) if process is not None else float("nan")
        if "error" in result:
            raise RuntimeError(f"latency {who}: {result['error']}")
        arrivals, order_reads = self.arrivals()
        window_ns = int(self.args.trigger_every_s * 1e9)
        measured = self._match(result, arrivals, rate, window_ns) | {
            "peak_rss_mib": rss,
            "order_reads": order_reads,
        }
        if stages is not None:  # written by the engine on its way out
            measured["stages"] = json.loads(stages.read_text(encoding="utf-8")) if stages.exists() else {}
        return measured

    def _match(
        self, result: dict[str, Any], arrivals: list[tuple[int, str]], rate: float, window_ns: int
    ) -> dict[str, Any]:
        """Each trigger's symbols -> the first order arrival for that symbol after the trigger, within
        the trigger spacing (a symbol may be triggered again after that). A trigger without an order
        is counted as missing: the process decided on a newer quote of that symbol (conflation)
        before it saw the trigger."""
        pending: dict[str, list[int]] = {}
        for t, vs in sorted(arrivals):
            pending.setdefault(vs, []).append(t)
        single: list[float] = []
        group_last: list[float] = []
        group_all: list[float] = []
        group_first: list[float] = []
        missing = 0
        queued_ms: list[float] = []
        for trig in result["triggers"]:
            t_sent = trig["t_sent_ns"]
            queued_ms.append(trig["outq_bytes"] / result["frame_bytes"] / rate * 1000)
            lat: list[float] = []
            for s in trig["symbols"]:
                times = pending.get(venue_symbol(s), [])
                while times and times[0] < t_sent:
                    times.pop(0)
                if times and times[0] - t_sent <= window_ns:
                    lat.append((times.pop(0) - t_sent) / 1e6)
                else:
                    missing += 1  # no order for this trigger (a later one must not be taken for it)
            if not lat:
                continue
            if len(trig["symbols"]) == 1:
                single += lat
            else:
                group_all += lat
                group_last.append(max(lat))
                group_first.append(min(lat))
        # How far apart the venue read a burst's first and last orders (they leave in one write).
        spread = [last - first for first, last in zip(group_first, group_last, strict=True)]
        return {
            "single_p50_ms": percentile(single, 0.5),
            "single_p99_ms": percentile(single, 0.99),
            "group_p50_ms": percentile(group_all, 0.5),
            "group_last_p50_ms": percentile(group_last, 0.5),
            "group_last_p99_ms": percentile(group_last, 0.99),
            "group_last_max_ms": max(group_last) if group_last else float("nan"),
            "group_first_p50_ms": percentile(group_first, 0.5),
            "group_spread_p99_ms": percentile(spread, 0.99),
            "orders": len(single) + len(group_all),
            "missing": missing,
            "queued_ms_max": max(queued_ms) if queued_ms else 0.0,
            "source_lag_max_ms": result["lag_max_s"] * 1000,
        }

    def _phase_dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per intake phase")
    parser.add_argument(
        "--rates", type=str, default="1000,10000", help="background frames/s ('': intake and memory only)"
    )
    parser.add_argument(
        "--trigger-every-s",
        type=float,
        default=0.075,
        help="seconds between triggers (1 symbol, then 10): longer than the slowest burst's orders take",
    )
    parser.add_argument(
        "--bursts",
        type=int,
        default=BURSTS,
        help="triggers of each kind (1 symbol, 10 symbols) per latency phase: with 200 the p99 is the "
        "second slowest, not the slowest (30 made the p99 their maximum)",
    )
    parser.add_argument(
        "--engine-python",
        type=Path,
        default=Path(sys.executable),
        help="the interpreter of the environment whose autohedge runs (to measure another revision)",
    )
    parser.add_argument(
        "--order-entry",
        choices=("ws", "rest"),
        default="ws",
        help="how the engine sends orders (venues.binance.order_entry; builds that have the setting)",
    )
    parser.add_argument(
        "--pipelined-entries",
        choices=("on", "off"),
        default="on",
        help="executor.pipelined_entries: a tick's entries in one write on the order session, or each "
        "by an order sender (builds that have the setting)",
    )
    parser.add_argument(
        "--shared-runner",
        choices=("on", "off"),
        default="on",
        help="hft.shared_runner: every symbol's rule decided on one strategy runner thread per feed batch, "
        "or one strategy actor per symbol (builds that have the setting)",
    )
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=None,
        help="switch_interval_ms: the engine's interpreter switch interval (default: the build's own; "
        "builds that have the setting)",
    )
    parser.add_argument(
        "--resting-entry-reads",
        choices=("on", "off"),
        default="off",
        help="latency phases: the executor's REST reads of resting entries (the look for unreported fills, "
        "the safety poll); off: none within a phase, since the local venue never trades at the trigger "
        "price and thousands of entries rest",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="latency phases: run the engine through bench/stages.py, which times each entry's decision "
        "(a tick's first apart from the further ones) and each write of a tick's entries inside the "
        "engine; their p50s join the table and the JSON (the timers cost a little: compare them within "
        "such a run)",
    )
    parser.add_argument(
        "--phases",
        type=str,
        default="ceiling,intake,latency",
        help="which phases run (comma-separated: ceiling, intake, latency); the table shows what ran",
    )
    parser.add_argument("--json", type=Path, default=Path("bench-wire.json"))
    parser.add_argument("--keep-logs", action="store_true", help="keep each engine's config and log")
    args = parser.parse_args(argv)
    phases = set(args.phases.split(","))
    unknown = phases - {"ceiling", "intake", "latency"}
    if unknown:
        parser.error(f"--phases: unknown phase(s) {', '.join(sorted(unknown))}")
    bench = Bench(args)  # stops what it started when it cannot start
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "cores": psutil.cpu_count(),
        "order_entry": args.order_entry,
    }
    try:
        results["load_avg_start"] = os.getloadavg()
        if "ceiling" in phases:
            progress("raw websocket-client ceiling")
            results["raw_ceiling_frames_per_s"] = bench.raw_ceiling()
        if "intake" in phases:
            progress("engine intake, no signals")
            results["intake_calm"] = bench.intake(firing=False)
            progress("engine intake, strategy firing")
            results["intake_firing"] = bench.intake(firing=True)
            progress("engine intake, no signals, control API off (memory without the web stack)")
            results["intake_calm_no_api"] = bench.intake(firing=False, api=False)
        rates = [float(r) for r in args.rates.split(",") if r.strip()] if "latency" in phases else []
        for rate in rates:  # --rates '': intake and memory only
            progress(f"tick-to-order at {rate:,.0f} background frames/s: raw floor, then the engine")
            results[f"latency_{int(rate)}"] = {
                "raw": bench.latency("raw", rate),
                "engine": bench.latency("engine", rate),
            }
        results["load_avg_end"] = os.getloadavg()
    finally:
        bench.close()
    print_table(results, args)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def intake_rows(results: dict[str, Any], ceiling: float) -> list[tuple[str, str, str]]:
    """The intake phase's rows (shares of the ceiling are nan when the ceiling was not measured)."""
    calm, firing = results["intake_calm"], results["intake_firing"]
    return [
        (
            "intake, no signals (quotes/s)",
            f"{calm['quotes_per_s']:,.0f}",
            f"{calm['quotes_per_s'] / ceiling:.0%} of ceiling (>=50%)",
        ),
        (
            "intake, strategy firing (quotes/s)",
            f"{firing['quotes_per_s']:,.0f}",
            f"{firing['quotes_per_s'] / ceiling:.0%} of ceiling (>=35%)",
        ),
        ("CPU s per 1,000 quotes, no signals", f"{calm['cpu_s_per_1000_quotes']:.3f}", ""),
        ("CPU s per 1,000 quotes, firing", f"{firing['cpu_s_per_1000_quotes']:.3f}", ""),
        (
            "peak RSS (MiB), no signals / firing",
            f"{calm['peak_rss_mib']:.1f} / {firing['peak_rss_mib']:.1f}",
            "<=60",
        ),
        (
            "peak RSS (MiB), no signals, API off",
            f"{results['intake_calm_no_api']['peak_rss_mib']:.1f}",
            f"intake {results['intake_calm_no_api']['quotes_per_s']:,.0f}/s",
        ),
    ]


def stage_rows(rate: str, stages: dict[str, dict[str, float]] | None) -> list[tuple[str, str, str]]:
    """The engine's stage times of one latency phase (``--stages``), as thread CPU p50s in us."""
    if not stages:
        return []

    def cpu(stage: str) -> float:
        return stages[stage]["cpu_p50_us"] if stage in stages else float("nan")

    one, ten = cpu("write_1"), cpu(f"write_{GROUP}")
    return [
        (
            f"@{rate}/s decide us CPU: first / further",
            f"{cpu('decision_first'):.0f} / {cpu('decision_further'):.0f}",
            "p50 per entry, in the engine",
        ),
        (
            f"@{rate}/s write us CPU: 1 / {GROUP} entries",
            f"{one:.0f} / {ten:.0f}",
            f"{(ten - one) / (GROUP - 1):.0f} per further entry",
        ),
    ]


def print_table(results: dict[str, Any], args: argparse.Namespace) -> None:
    ceiling = results.get("raw_ceiling_frames_per_s", float("nan"))
    load = f"{results['load_avg_start'][0]:.2f} -> {results['load_avg_end'][0]:.2f}"
    switch = "default" if args.switch_interval_ms is None else f"{args.switch_interval_ms:g} ms"
    print(
        f"wire bench: {N_SYMBOLS} symbols, {args.seconds:.0f}s windows, {args.bursts} bursts of each kind "
        f"every {args.trigger_every_s:g}s, python {results['python']}, "
        f"{results['cores']} cores, load {load}, engine orders by {args.order_entry}, "
        f"pipelined entries {args.pipelined_entries}, shared runner {args.shared_runner}, "
        f"switch interval {switch}, resting entry reads {args.resting_entry_reads}"
    )
    print(f"{'measure':<44}{'value':>14}{'target':>22}")
    rows: list[tuple[str, str, str]] = []
    if "raw_ceiling_frames_per_s" in results:
        rows.append(("raw websocket-client ceiling (frames/s)", f"{ceiling:,.0f}", ""))
    if "intake_calm" in results:
        rows += intake_rows(results, ceiling)
    for key in sorted(k for k in results if k.startswith("latency_")):
        raw, eng = results[key]["raw"], results[key]["engine"]
        rate = key.split("_")[1]
        rows += [
            (
                f"@{rate}/s tick-to-order p50 ms engine/raw",
                f"{eng['single_p50_ms']:.2f} / {raw['single_p50_ms']:.2f}",
                f"{eng['single_p50_ms'] / raw['single_p50_ms']:.2f}x (<=1.5x)",
            ),
            (
                f"@{rate}/s tick-to-order p99 ms engine/raw",
                f"{eng['single_p99_ms']:.2f} / {raw['single_p99_ms']:.2f}",
                f"{eng['single_p99_ms'] / raw['single_p99_ms']:.2f}x (<=2x)",
            ),
            (
                f"@{rate}/s 10 together: last p99 ms eng/raw",
                f"{eng['group_last_p99_ms']:.2f} / {raw['group_last_p99_ms']:.2f}",
                f"{eng['group_last_p99_ms'] / eng['single_p99_ms']:.2f}x 1-sym p99 (<=2x)",
            ),
            (
                f"@{rate}/s 10 together: last p50 ms eng/raw",
                f"{eng['group_last_p50_ms']:.2f} / {raw['group_last_p50_ms']:.2f}",
                f"{eng['group_last_p50_ms'] / eng['single_p50_ms']:.2f}x 1-sym p50",
            ),
            (
                f"@{rate}/s frames queued at trigger (ms) eng",
                f"{eng['queued_ms_max']:.1f}",
                f"orders {eng['orders']}, missing {eng['missing']}, REST reads {eng.get('order_reads', 0)}",
            ),
        ]
        rows += stage_rows(rate, eng.get("stages"))
    for name, value, target in rows:
        print(f"{name:<44}{value:>14}  {target}")


if __name__ == "__main__":
    sys.exit(main())
