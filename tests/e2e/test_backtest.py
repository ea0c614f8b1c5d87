"""record -> backtest -> report: live public quotes from the local Binance fake into a replay file,
the same strategies on them under a simulated clock, the same report byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from autohedge.adapters.marketdata.replay import parse_replay_line
from autohedge.cli import main
from tests.e2e.market import Market
from tests.e2e.process import REPO
from tests.fakes.binance import FakeBinance

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


def _synthetic_replay(path: Path, quotes: int) -> None:
    """A replay file with a trending, mean-reverting walk: deterministic, enough to trade on."""
    from autohedge.adapters.marketdata.synthetic import SyntheticQuotes
    from autohedge.core.config import SyntheticConfig, SyntheticSymbol
    from autohedge.record import quote_line

    source = SyntheticQuotes(
        SyntheticConfig(
            seed=5,
            symbols={"BTC/USDT": SyntheticSymbol(start_price=Decimal(60000), volatility_bps=Decimal(4))},
        ),
        ["BTC/USDT"],
    )
    start_ns = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
    lines = [
        quote_line(source.next_quote("BTC/USDT", ts_init=start_ns + i * 20_000_000)) for i in range(quotes)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


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

    assert (
        main(
            [
                "backtest",
                "--config",
                str(config),
                "--replay",
                str(replay),
                "--report-dir",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "backtest",
                "--config",
                str(config),
                "--replay",
                str(replay),
                "--report-dir",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )

    for name in ("report.json", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    document = json.loads((tmp_path / "a" / "report.json").read_text(encoding="utf-8"))
    assert document["overall"]["closed_trades"] >= 1, document["overall"]
    assert document["period"]["start"].startswith("2026-01-01T00:00")
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 2 and "<script" not in html and "http" not in html.split("<svg")[0]
    assert "backtest: 1500 quotes" in capsys.readouterr().out


def test_report_reads_the_backtest_journal_as_json_text_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = tmp_path / "quotes.jsonl"
    _synthetic_replay(replay, 600)
    assert (
        main(
            [
                "backtest",
                "--config",
                str(_config(tmp_path)),
                "--replay",
                str(replay),
                "--report-dir",
                str(tmp_path / "bt"),
            ]
        )
        == 0
    )
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

    backtest = json.loads((tmp_path / "bt" / "report.json").read_text(encoding="utf-8"))
    assert document["overall"] == backtest["overall"] and document["trades"] == backtest["trades"]
    assert "BTC/USDT" in text and "ALL" in text and (tmp_path / "r" / "report.html").is_file()
    assert main(["report", "--journal", str(journal), "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err
    assert main(["report", "--journal", str(tmp_path / "missing.sqlite")]) == 2
