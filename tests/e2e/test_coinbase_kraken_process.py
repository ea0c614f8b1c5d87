"""`autohedge run` against the local Coinbase fake (JWT-signed REST) and the local Kraken fake (Pro tier
counters, HMAC-signed REST with increasing nonces): every fill protected by Coinbase's bracket where the
product accepts it (a take-profit close and a stop close journaled with their reasons), by a TP limit with
the SL guarded by the monitor where it refuses it and on Kraken; a holding adopted at start-up, a dropped
stream and a lost order response survived without a duplicate and without a restart; every fill protected
within 1 s (p99); rejected keys exit 2 naming the variable; a dry run on the venue's public quotes needs
no keys."""

from __future__ import annotations

import base64
import itertools
import re
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from loguru import logger

from autohedge.adapters.journal.sqlite import JournalReader
from autohedge.core.types import Side
from tests.e2e.market import Market
from tests.e2e.process import (
    autohedge,
    clean_env,
    run_for,
    run_watching,
    run_with_venue_drills,
    venue_config,
)
from tests.e2e.protection import p99, protection_delays_s
from tests.fakes import coinbase, kraken
from tests.fakes.coinbase import FakeCoinbase
from tests.fakes.kraken import FakeKraken
from tests.fakes.venue_server import endpoints_of

pytestmark = pytest.mark.e2e
STREAMS = ("feed:", "user_stream:")
FakeT = TypeVar("FakeT", FakeCoinbase, FakeKraken)


def _other_coinbase_secret() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )


def _kraken_pro_tier() -> FakeKraken:
    """Kraken's Pro tier counters, as the process is configured for: the drill trades (and re-arms
    exits) faster than the Starter tier's counters allow."""
    return FakeKraken(
        pairs=["BTC/USD"],
        rest_counter_max=20,
        rest_counter_decay_per_s=1.0,
        trading_counter_threshold=180,
        trading_counter_decay_per_s=3.75,
    )


@dataclass(frozen=True)
class Venue(Generic[FakeT]):
    name: str
    fake: Callable[[], FakeT]
    """A fake on the venue's default counters, trading BTC/USD."""
    drill_fake: Callable[[], FakeT]
    """The fake the end-to-end drill runs against."""
    settings: dict[str, object]
    """``venues.<name>`` settings beside the endpoints."""
    keys: dict[str, str]
    other_secret: Callable[[], str]
    """A well-formed secret of another key."""
    secret_marker: Callable[[str], str]
    """What of a rejected secret must never be printed."""
    rejected: Callable[[FakeT], int]
    """How many signed requests the fake refused."""
    bracket: bool
    """Whether BTC/USD is protected by the venue's bracket (an OCO list), not a TP limit + guarded SL."""

    @property
    def key_variable(self) -> str:
        return next(iter(self.keys))

    @property
    def secret_variable(self) -> str:
        return list(self.keys)[1]

    def config(self, tmp_path: Path, fake: FakeT, **changes: object) -> Path:
        endpoints = {**endpoints_of(fake), **self.settings}
        return venue_config(tmp_path, self.name, ["BTC/USD"], endpoints, **changes)


COINBASE = Venue[FakeCoinbase](
    name="coinbase",
    fake=lambda: FakeCoinbase(products=["BTC/USD"]),
    drill_fake=lambda: FakeCoinbase(products=["BTC/USD"]),
    settings={},
    keys={
        "AUTOHEDGE_COINBASE_API_KEY": coinbase.API_KEY,
        "AUTOHEDGE_COINBASE_API_SECRET": coinbase.API_SECRET,
    },
    other_secret=_other_coinbase_secret,
    secret_marker=lambda _secret: "BEGIN",
    rejected=lambda fake: fake.rejected_jwts,
    bracket=True,
)
KRAKEN = Venue[FakeKraken](
    name="kraken",
    fake=lambda: FakeKraken(pairs=["BTC/USD"]),
    drill_fake=_kraken_pro_tier,
    settings={"tier": "pro"},
    keys={"AUTOHEDGE_KRAKEN_API_KEY": kraken.API_KEY, "AUTOHEDGE_KRAKEN_API_SECRET": kraken.API_SECRET},
    other_secret=lambda: base64.b64encode(b"some other private key").decode(),
    secret_marker=lambda secret: secret,
    rejected=lambda fake: fake.rejected_signatures,
    bracket=False,
)
VENUES = pytest.mark.parametrize("venue", [COINBASE, KRAKEN], ids=lambda v: v.name)


@VENUES
def test_end_to_end_against_the_fake(tmp_path: Path, venue: Venue[Any]) -> None:
    with venue.drill_fake() as fake, Market(fake.push_quote, "BTC/USD", seed=11):
        fake.hold("BTC", Decimal("0.002"))  # a holding this process did not open
        run = run_with_venue_drills(fake, venue.config(tmp_path, fake), tmp_path, clean_env(venue.keys))
        orders = fake.engine.all_orders()

    delays = protection_delays_s(run.output)
    counters, actors = run.summary["counters"], run.summary["actors"]
    assert counters["quotes"] > 100 and counters["exits_armed"] >= 2, run.output[-3000:]
    assert max(Counter(o.client_order_id for o in orders).values()) == 1
    exits = [o for o in orders if o.side is Side.SELL]
    brackets = [o for o in exits if o.list_id is not None]  # the fake's engine holds a bracket as an OCO
    if venue.bracket:
        assert brackets and "OCO for" in run.output and "TP limit + guarded SL" not in run.output
    else:
        assert exits and not brackets and "TP limit + guarded SL" in run.output
    # Streams reconnect by restarting (the dropped-socket drill); nothing else may restart.
    assert all(a["restarts"] == 0 for name, a in actors.items() if not name.startswith(STREAMS)), actors
    assert actors[f"feed:{venue.name}"]["state"] == "running" and venue.rejected(fake) == 0
    logger.info("{} fill -> protected: n={} p99={:.3f}s", venue.name, len(delays), p99(delays))
    assert delays and p99(delays) <= 1.0, sorted(delays)


_ARMED = re.compile(r"\[BTC/USD\] exit_armed: OCO for \S+: TP (\S+) SL (\S+) ")
_CLOSED_BY = re.compile(r"closed by (\w+)")
_CENT = Decimal("0.01")
_WIDE = Decimal("1.002")
"""A pinned quote's spread (20 bps) is wider than the strategy trades at (10 bps)."""
_MID = Decimal(60000)
_HALF_SPREAD = Decimal("0.5")
_DIP_ASK = Decimal(59970)
"""5 bps below the flat mid: a buy signal (the strategy wants 2)."""
_FLAT_QUOTES = 40
"""Twice the strategy's window (20 quotes), then dipped quotes for the rest of the cycle."""
_CYCLE_QUOTES = 60


class BracketDrill:
    """BTC/USD's market, scripted from the process's own log: cycles of flat quotes at 60000 filling the
    strategy's window, then an ask 5 bps lower (an entry; BTC's position limit allows no second); once
    a bracket is armed, the bid is taken to the take profit (the first time) or just below
    the stop (the second time: above the limit the monitor's own guard acts at, so the venue's stop is
    what sells), too wide for the strategy to buy into, until the position is closed; then again."""

    def __init__(self, push: Callable[[str, Decimal, Decimal], None]) -> None:
        self._push = push
        self._lock = threading.Lock()
        self._pinned: Decimal | None = None
        self.closes: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-bracket-market", daemon=True)

    def _run(self) -> None:
        for step in itertools.count():
            if self._stop.wait(0.02):  # the market's own pace, not a test waiting
                return
            with self._lock:
                pinned = self._pinned
            if pinned is not None:
                self._push("BTC/USD", pinned, (pinned * _WIDE).quantize(_CENT))
            elif step % _CYCLE_QUOTES < _FLAT_QUOTES:
                self._push("BTC/USD", _MID - _HALF_SPREAD, _MID + _HALF_SPREAD)
            else:
                self._push("BTC/USD", _DIP_ASK - 2 * _HALF_SPREAD, _DIP_ASK)

    def on_line(self, line: str) -> None:
        armed = _ARMED.search(line)
        with self._lock:
            if armed is not None and len(self.closes) < 2:
                take_profit, stop = Decimal(armed.group(1)), Decimal(armed.group(2))
                if not self.closes:
                    self._pinned = take_profit + _CENT
                else:  # 0.1% below the stop: triggered, and well above the 0.5% the monitor guards at
                    self._pinned = (stop * Decimal("0.999")).quantize(_CENT)
            elif "[BTC/USD] position_closed:" in line:
                self.closes.append(line)
                self._pinned = None

    def __enter__(self) -> BracketDrill:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def test_coinbase_bracket_protects_where_accepted_and_tp_with_guarded_stop_elsewhere(tmp_path: Path) -> None:
    fake = FakeCoinbase(products=["BTC/USD", "ETH/USD"], bracket_refused=["ETH/USD"])
    with fake, BracketDrill(fake.push_quote) as drill:
        with Market(fake.push_quote, "ETH/USD", seed=8, start_price=Decimal(3000)):
            # One BTC entry at a time: a second entry filling while the drill takes the price through
            # the stop would race the monitor's own close.
            config = venue_config(
                tmp_path,
                "coinbase",
                ["BTC/USD", "ETH/USD"],
                endpoints_of(fake),
                symbol_overrides={"BTC/USD": {"max_position_size": 100, "order_amount": 100}},
            )
            run = run_watching(config, tmp_path, 14, clean_env(COINBASE.keys), drill.on_line)
        orders = fake.engine.all_orders()

    assert "coinbase BTC/USD: protected by the venue's bracket" in run.output, run.output[-3000:]
    assert "coinbase ETH/USD: bracket refused: TP limit + guarded SL" in run.output
    btc_exits = [o for o in orders if o.symbol == "BTC/USD" and o.side is Side.SELL and o.list_id]
    eth_exits = [o for o in orders if o.symbol == "ETH/USD" and o.side is Side.SELL]
    assert btc_exits and "[BTC/USD] exit_armed: TP limit" not in run.output
    assert eth_exits and all(o.list_id is None for o in eth_exits)
    assert "[ETH/USD] exit_armed: OCO" not in run.output and "[ETH/USD] exit_armed: TP limit" in run.output
    # The bracket's take profit, then its stop, closed the position, each with its own reason.
    by = [_CLOSED_BY.search(line) for line in drill.closes[:2]]
    btc_log = "\n".join(line for line in run.output.splitlines() if "[BTC/USD]" in line)
    assert [m.group(1) if m else "" for m in by] == ["take_profit", "stop_loss"], btc_log[-6000:]
    closed = [p for p in JournalReader(tmp_path / "state" / "journal.sqlite").positions() if p.closed_ns]
    reasons = [
        p.close_reason for p in sorted(closed, key=lambda p: p.closed_ns or 0) if p.symbol == "BTC/USD"
    ]
    assert reasons[:2] == ["take_profit", "stop_loss"], reasons
    assert max(Counter(o.client_order_id for o in orders).values()) == 1
    assert all(
        a["restarts"] == 0 for name, a in run.summary["actors"].items() if not name.startswith(STREAMS)
    )
    delays = protection_delays_s(run.output)
    logger.info("coinbase bracket fill -> protected: n={} p99={:.3f}s", len(delays), p99(delays))
    assert delays and p99(delays) <= 1.0, sorted(delays)


@VENUES
def test_rejected_keys_exit_2_naming_the_variable(tmp_path: Path, venue: Venue[Any]) -> None:
    other = venue.other_secret()
    with venue.fake() as fake:
        result = subprocess.run(
            autohedge("run", "--config", str(venue.config(tmp_path, fake)), "--duration", "5"),
            cwd=tmp_path,
            env=clean_env({**venue.keys, venue.secret_variable: other}),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,  # the exit code is the assertion
        )
        orders = fake.engine.all_orders()
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and venue.key_variable in lines[0], result.stderr
    assert venue.secret_marker(other) not in result.stdout + result.stderr and orders == ()


@VENUES
def test_dry_run_on_public_quotes_needs_no_keys(tmp_path: Path, venue: Venue[Any]) -> None:
    with venue.fake() as fake, Market(fake.push_quote, "BTC/USD", seed=5):
        config = venue.config(
            tmp_path, fake, **{"exchange.venue": "paper", "paper.balances": {"USD": "10000"}}
        )
        run = run_for(config, tmp_path, 6, env=clean_env({}))
    assert run.summary["counters"]["quotes"] > 50 and venue.rejected(fake) == 0
