"""record -> backtest -> report: live public quotes from the local Binance fake into a replay file,
the same strategies on them under a simulated clock, the same report byte for byte."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from autohedge.adapters.marketdata.replay import parse_replay_line
from autohedge.cli import main
from tests.e2e.market import Market
from tests.e2e.process import REPO
from tests.fakes.binance import FakeBinance
from tests.fakes.openai_server import FakeOpenAIServer, Reply, signal_json

pytestmark = pytest.mark.e2e


def _config(tmp_path: Path, **changes: object) -> Path:
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    config.update(
        {
            "symbols": ["BTC/USDT"],
            "symbol_overrides": {},
            "synthetic": {"symbols": {}},
            "api": {"enabled": False},
            "defaults": {**config["defaults"], "take_profit_pct": 0.05, "stop_loss_pct": 0.05},
            **changes,
        }
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


START_PRICES = {"BTC/USDT": Decimal(60000), "ETH/USDT": Decimal(3000)}


def _synthetic_replay(path: Path, quotes: int, symbols: tuple[str, ...] = ("BTC/USDT",)) -> None:
    """A replay file with a trending, mean-reverting walk: deterministic, enough to trade on. With
    several symbols, each 20 ms tick holds one quote of each."""
    from autohedge.adapters.marketdata.synthetic import SyntheticQuotes
    from autohedge.core.config import SyntheticConfig, SyntheticSymbol
    from autohedge.record import quote_line

    source = SyntheticQuotes(
        SyntheticConfig(
            seed=5,
            symbols={
                s: SyntheticSymbol(start_price=START_PRICES[s], volatility_bps=Decimal(4)) for s in symbols
            },
        ),
        list(symbols),
    )
    start_ns = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
    lines = [
        quote_line(source.next_quote(symbol, ts_init=start_ns + i * 20_000_000))
        for i in range(quotes // len(symbols))
        for symbol in symbols
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _sawtooth_replay(path: Path, cycles: int, symbols: tuple[str, ...]) -> None:
    """Each cycle: a flat market, a 3 bps dip (a buy that fills), then a 20 bps drop on which the
    held lot's stop and a new entry signal both fire, then a climb back. One quote of each symbol per
    20 ms tick."""
    from autohedge.core.messages import Quote
    from autohedge.record import quote_line

    offsets_bps = [0] * 25 + [-3] * 15 + [-20] * 15 + [-20 + 20 * i // 25 for i in range(25)]
    start_ns = 1_767_225_600 * 10**9
    lines = []
    for tick, offset in enumerate(offsets_bps * cycles):
        for symbol in symbols:
            mid = START_PRICES[symbol] * (1 + Decimal(offset) / 10_000)
            half_spread = mid / 20_000  # a 1 bps spread
            quote = Quote(
                venue="replay",
                symbol=symbol,
                bid=(mid - half_spread).quantize(Decimal("0.01")),
                ask=(mid + half_spread).quantize(Decimal("0.01")),
                bid_size=Decimal(1),
                ask_size=Decimal(1),
                ts_event=start_ns + tick * 20_000_000,
                ts_init=start_ns + tick * 20_000_000,
            )
            lines.append(quote_line(quote))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _backtest(config: Path, replay: Path, report_dir: Path) -> None:
    """``autohedge backtest`` in this process; it must exit 0."""
    args = ["backtest", "--config", str(config), "--replay", str(replay), "--report-dir", str(report_dir)]
    assert main(args) == 0


def _journal_rows(journal: Path) -> dict[str, list[tuple[object, ...]]]:
    """The orders (with their client ids, in the order they were sent) and the fills, as written."""
    with contextlib.closing(sqlite3.connect(journal)) as db:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in ("orders", "fills")
        }


def test_record_writes_the_fake_venues_public_quotes_in_the_replay_format(tmp_path: Path) -> None:
    with FakeBinance(symbols=["BTC/USDT"]) as fake, Market(fake.push_quote, "BTC/USDT", seed=3):
        config = _config(
            tmp_path,
            exchange={"venue": "paper", "market_data": "binance"},
            venues={"binance": {"rest_url": fake.rest_url, "ws_url": fake.ws_url}},
        )
        out = tmp_path / "quotes.jsonl"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "autohedge.cli",
                "record",
                "--config",
                str(config),
                "--out",
                str(out),
                "--duration",
                "3",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 20 and f"recorded {len(lines)} quotes" in result.stdout
    quotes = [parse_replay_line(line, ts_init=0) for line in lines]
    assert {q.symbol for q in quotes} == {"BTC/USDT"} and all(q.ask >= q.bid > 0 for q in quotes)
    assert [q.ts_event for q in quotes] == sorted(q.ts_event for q in quotes)


def test_backtest_twice_gives_the_same_report_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = tmp_path / "quotes.jsonl"
    _synthetic_replay(replay, 1500)
    config = _config(tmp_path)

    _backtest(config, replay, tmp_path / "a")
    _backtest(config, replay, tmp_path / "b")

    for name in ("report.json", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    document = json.loads((tmp_path / "a" / "report.json").read_text(encoding="utf-8"))
    assert document["overall"]["closed_trades"] >= 1, document["overall"]
    assert document["period"]["start"].startswith("2026-01-01T00:00")
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 2 and "<script" not in html and "http" not in html.split("<svg")[0]
    assert "backtest: 1500 quotes" in capsys.readouterr().out


TWO_SYMBOLS = ("BTC/USDT", "ETH/USDT")


def _assert_same_bytes(tmp_path: Path) -> dict[str, Any]:
    for name in ("report.json", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    rows = _journal_rows(tmp_path / "a" / "journal.sqlite")
    assert rows == _journal_rows(tmp_path / "b" / "journal.sqlite")
    document: dict[str, Any] = json.loads((tmp_path / "a" / "report.json").read_text(encoding="utf-8"))
    return document


def test_backtest_with_guarded_stops_twice_gives_the_same_report_and_journal(tmp_path: Path) -> None:
    # No OCO: the monitor guards every stop on quotes, so on one quote the monitor's stop sale and
    # the executor's next entry both reach the paper exchange; their order must not vary.
    replay = tmp_path / "quotes.jsonl"
    _sawtooth_replay(replay, 10, TWO_SYMBOLS)
    paper = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))["paper"]
    config = _config(tmp_path, symbols=list(TWO_SYMBOLS), paper={**paper, "oco": False})

    _backtest(config, replay, tmp_path / "a")
    _backtest(config, replay, tmp_path / "b")

    document = _assert_same_bytes(tmp_path)
    closed = {trade["reason"] for trade in document["trades"]}
    assert "stop_loss" in closed and len(document["symbols"]) == 2, closed


def test_backtest_with_the_llm_strategy_twice_gives_the_same_report_and_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model answers on the gateway's terms, not the tree's: its answers must land at the same
    # point of the replay, in the same order, whatever its latency. Exits wide enough that the
    # model's sell answers close positions too (the monitor closing on a signal).
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    replay = tmp_path / "quotes.jsonl"
    _synthetic_replay(replay, 800, TWO_SYMBOLS)
    defaults = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))["defaults"]
    answers = [signal_json("buy", 0.9), signal_json("buy", 0.9), signal_json("sell", 0.9)]
    asked = []
    for report_dir in ("a", "b"):
        with FakeOpenAIServer() as fake:
            fake.script(*(Reply(content=answers[i % len(answers)]) for i in range(200)))
            config = _config(
                tmp_path,
                symbols=list(TWO_SYMBOLS),
                strategy="llm",
                defaults={**defaults, "take_profit_pct": 1, "stop_loss_pct": 1},
                llm={"base_url": fake.base_url, "model": "local-test", "min_interval_per_symbol_s": 1},
            )
            _backtest(config, replay, tmp_path / report_dir)
            asked.append([request["messages"] for request in fake.requests])
    assert asked[0] == asked[1] and len(asked[0]) >= 10, len(asked[0])

    document = _assert_same_bytes(tmp_path)
    closed = [trade["reason"] for trade in document["trades"]]
    assert "llm_sell" in closed, closed


def test_report_reads_the_backtest_journal_as_json_text_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = tmp_path / "quotes.jsonl"
    _synthetic_replay(replay, 600)
    _backtest(_config(tmp_path), replay, tmp_path / "bt")
    journal = tmp_path / "bt" / "journal.sqlite"
    capsys.readouterr()

    assert main(["report", "--journal", str(journal), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "report",
                "--journal",
                str(journal),
                "--since",
                "2026-01-01T00:00:05",
                "--html",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out

    backtested = json.loads((tmp_path / "bt" / "report.json").read_text(encoding="utf-8"))
    assert document["overall"] == backtested["overall"] and document["trades"] == backtested["trades"]
    assert "BTC/USDT" in text and "ALL" in text and (tmp_path / "r" / "report.html").is_file()
    assert main(["report", "--journal", str(journal), "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err
    assert main(["report", "--journal", str(tmp_path / "missing.sqlite")]) == 2


def test_backtest_skips_a_replay_line_that_is_not_utf8_as_one_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One bad byte ended the backtest with a UnicodeDecodeError traceback; the replay stream skips the line.
    replay = tmp_path / "quotes.jsonl"
    _synthetic_replay(replay, 200)
    lines = replay.read_bytes().splitlines(keepends=True)
    replay.write_bytes(b"".join([*lines[:100], b'{"symbol": "BTC/USDT\xff"}\n', *lines[100:]]))

    _backtest(_config(tmp_path), replay, tmp_path / "a")

    assert "backtest: 200 quotes (1 lines skipped)" in capsys.readouterr().out


def test_backtest_into_the_folder_of_the_trade_journal_refuses_and_leaves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--report-dir state` deleted state/journal.sqlite, every run's trade history, to write its own.
    replay = tmp_path / "quotes.jsonl"
    _synthetic_replay(replay, 50)
    config = _config(tmp_path)
    trade_journal = tmp_path / "state" / "journal.sqlite"
    trade_journal.parent.mkdir()
    trade_journal.write_bytes(b"trade history")
    args = [
        "backtest",
        "--config",
        str(config),
        "--replay",
        str(replay),
        "--report-dir",
        str(tmp_path / "state"),
    ]

    assert main(args) == 2

    assert capsys.readouterr().err.startswith("config error: --report-dir:")
    assert trade_journal.read_bytes() == b"trade history"
