from pathlib import Path

import pytest

from autohedge.cli import main

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config.yaml"


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["run", "--duration", "inf"], "--duration"),
        (["run", "--duration", "nan"], "--duration"),
        (["run", "--duration", "-5"], "--duration"),
        (["record", "--out", "q.jsonl", "--duration", "inf"], "--duration"),
        (["simulate", "--hours", "nan"], "--hours"),
    ],
)
def test_cli_duration_not_a_finite_positive_number_exits_2_naming_the_option_before_starting(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `run --duration inf` started trading, then left with OverflowError (exit 1) from the wait;
    # `nan` and negative numbers ran for no time at all and exited 0.
    with pytest.raises(SystemExit) as info:
        main([*argv, "--config", str(REPO_CONFIG)])
    assert info.value.code == 2
    assert option in capsys.readouterr().err


def test_simulate_log_level_not_a_level_exits_2_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    # It was a ValueError traceback from the logger (exit 1); a lower-case level is taken as meant.
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--hours", "1", "--log-level", "LOUD", "--config", str(REPO_CONFIG)])
    assert info.value.code == 2
    assert "--log-level" in capsys.readouterr().err
    assert main(["simulate", "--hours", "0.001", "--log-level", "error", "--config", str(REPO_CONFIG)]) == 0
