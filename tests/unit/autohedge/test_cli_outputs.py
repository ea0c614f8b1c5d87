from pathlib import Path

import pytest

from autohedge.cli import main

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config.yaml"


def _quiet_config(tmp_path: Path) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text("api: {enabled: false}\njournal: {enabled: false}\n", encoding="utf-8")
    return config


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["run", "--duration", "1", "--summary-json", "{missing}/s.json"], "--summary-json"),
        (["run", "--duration", "1", "--summary-json", "{tmp}"], "--summary-json"),
        (["simulate", "--hours", "0.01", "--report-json", "{missing}/r.json"], "--report-json"),
        (["backtest", "--replay", "{tmp}/q.jsonl", "--report-dir", "{config}"], "--report-dir"),
        (["report", "--journal", "{tmp}/j.sqlite", "--html", "{config}"], "--html"),
        (["simulate", "--hours", "0.01", "--work-dir", "{config}"], "--work-dir"),
        (["record", "--out", "{tmp}", "--duration", "1"], "--out"),
    ],
)
def test_cli_output_with_nowhere_to_go_exits_2_naming_the_option_before_running(
    argv: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The run (or the simulated day) went to its end, then its summary was lost to a traceback.
    config = _quiet_config(tmp_path)
    (tmp_path / "j.sqlite").write_bytes(b"")
    names = {"missing": str(tmp_path / "missing"), "tmp": str(tmp_path), "config": str(config)}
    code = main([*(arg.format(**names) for arg in argv), "--config", str(config)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"config error: {option}:") and "Traceback" not in err


@pytest.mark.parametrize("given", [True, False])
def test_report_on_a_file_that_is_not_a_journal_exits_2_naming_where_it_came_from(
    given: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # sqlite3.DatabaseError ("file is not a database") left as a traceback, exit 1.
    journal = tmp_path / "quotes.jsonl"
    journal.write_text('{"symbol": "BTC/USDT"}\n' * 100, encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(f"journal: {{path: {journal.name}}}\n", encoding="utf-8")
    argv = ["report", "--config", str(config), *(["--journal", str(journal)] if given else [])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: " + ("--journal" if given else "journal.path"))
    assert "not a trade journal" in err


def test_run_summary_json_into_an_existing_directory_is_written(tmp_path: Path) -> None:
    summary = tmp_path / "s.json"
    assert (
        main(
            [
                "run",
                "--config",
                str(_quiet_config(tmp_path)),
                "--duration",
                "0.5",
                "--summary-json",
                str(summary),
            ]
        )
        == 0
    )
    assert summary.read_text(encoding="utf-8").startswith("{")
