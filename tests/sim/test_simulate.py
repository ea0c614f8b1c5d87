"""``autohedge simulate``: repeatable, and its checker catches planted defects within a bounded time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from autohedge.cli import main
from autohedge.core.config import AppConfig, parse_config
from autohedge.sim.runner import ActorOverrides, Simulation
from tests.sim.doubles import ExitNeverPlaced, ExitSizedByOrderedQty, RaisesOnRateLimited, ResendsAfterUnknown

NO_FAULTS: dict[str, Any] = {
    "reject_rate": 0,
    "rate_limit_rate": 0,
    "ban_rate": 0,
    "outcome_unknown_rate": 0,
    "latency_ms": 0,
    "partial_fill_ratio": 0,
    "feed_disconnects_per_hour": 0,
    "feed_stalls_per_hour": 0,
    "handler_exception_rate": 0,
    "crashes_per_hour": 0,
}
REPORT_FIELDS = {
    "seed",
    "simulated_hours",
    "wall_s",
    "counters",
    "faults_injected",
    "crashes_injected",
    "process_restarts",
    "violations",
    "max_unprotected_s",
    "unprotected_in_retry_after_s",
    "duplicate_intents",
    "oversells",
    "max_inbox_depth",
    "market_regimes",
    "rss_mb_by_hour",
    "state_bytes_by_hour",
    "replay",
}


def raw_config(**simulate: Any) -> dict[str, Any]:
    return {
        "symbols": ["BTC/USDT", "ETH/USDT"],
        "defaults": {
            "take_profit_pct": 0.3,
            "stop_loss_pct": 0.3,
            "max_position_size": 1000,
            "order_amount": 100,
        },
        "hft": {"min_edge_bps": 2, "max_spread_bps": 10, "lookback_periods": 20},
        "api": {"enabled": False},
        "synthetic": {
            "symbols": {
                "BTC/USDT": {"start_price": 60000, "volatility_bps": 3, "spread_bps": 2},
                "ETH/USDT": {"start_price": 3000, "volatility_bps": 4, "spread_bps": 2},
            }
        },
        "simulate": simulate,
    }


def config(**simulate: Any) -> AppConfig:
    return parse_config(raw_config(**simulate))


def run(cfg: AppConfig, tmp_path: Path, *, hours: float, seed: int = 1, **overrides: Any) -> dict[str, Any]:
    return Simulation(
        cfg, seed=seed, hours=hours, work_dir=tmp_path, overrides=ActorOverrides(**overrides)
    ).run()


def kinds(report: dict[str, Any]) -> set[str]:
    return {v["kind"] for v in report["violations"]}


def machine_free(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("wall_s", "rss_mb_by_hour")}


def test_simulate_same_seed_same_report(tmp_path: Path) -> None:
    cfg = config(crashes_per_hour=60, feed_disconnects_per_hour=30, feed_stalls_per_hour=20)

    first = run(cfg, tmp_path / "a", hours=0.1, seed=5)
    second = run(cfg, tmp_path / "b", hours=0.1, seed=5)

    assert json.dumps(machine_free(first)) == json.dumps(machine_free(second))
    assert first["crashes_injected"] >= 1 and first["process_restarts"] == first["crashes_injected"]
    assert not kinds(first) & {"restart_growth", "stalled", "actor_crash"}
    assert first["counters"]["fills"] > 0


def test_simulate_without_faults_keeps_the_promise(tmp_path: Path) -> None:
    report = run(config(**NO_FAULTS), tmp_path, hours=0.1)

    assert report["violations"] == []
    assert report["counters"]["exits"] > 0 and report["max_unprotected_s"] <= 1.0


def test_simulate_planted_exit_never_placed_is_unprotected(tmp_path: Path) -> None:
    report = run(config(**NO_FAULTS), tmp_path, hours=0.05, monitor=ExitNeverPlaced)

    assert "unprotected" in kinds(report)


def test_simulate_planted_resend_after_unknown_outcome_is_a_duplicate_intent(tmp_path: Path) -> None:
    cfg = config(**{**NO_FAULTS, "outcome_unknown_rate": 0.5, "outcome_unknown_after_share": 1.0})

    report = run(cfg, tmp_path, hours=0.05, executor=ResendsAfterUnknown)

    assert "duplicate_intent" in kinds(report) and report["duplicate_intents"] > 0


def test_simulate_planted_exit_sized_by_ordered_qty_is_an_oversell(tmp_path: Path) -> None:
    report = run(config(**NO_FAULTS), tmp_path, hours=0.05, monitor=ExitSizedByOrderedQty)

    assert "oversell" in kinds(report) and report["oversells"] > 0


def test_simulate_planted_exception_on_rate_limited_is_a_pushback_crash(tmp_path: Path) -> None:
    cfg = config(**{**NO_FAULTS, "rate_limit_rate": 0.02})

    report = run(cfg, tmp_path, hours=0.05, executor=RaisesOnRateLimited)

    assert "pushback_crash" in kinds(report)


def test_simulate_cli_writes_the_report_and_exits_0_without_violations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw_config(**NO_FAULTS)))
    out = tmp_path / "report.json"

    code = main(
        ["simulate", "--config", str(path), "--hours", "0.02", "--seed", "3", "--report-json", str(out)]
    )

    report = json.loads(out.read_text())
    assert code == 0 and set(report) == REPORT_FIELDS
    assert report["seed"] == 3 and "0 violations" in capsys.readouterr().out


def test_simulate_cli_exits_1_and_prints_the_replay_command_on_a_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw_config(**{**NO_FAULTS, "max_inbox_depth": 1})))

    code = main(["simulate", "--config", str(path), "--hours", "0.02", "--seed", "3"])

    assert code == 1
    assert f"autohedge simulate --config {path} --hours 0.02 --seed 3" in capsys.readouterr().err


def test_simulate_cli_refuses_a_venue_other_than_paper_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    raw = raw_config()
    raw["exchange"] = {"venue": "binance", "market_data": "binance"}
    path.write_text(yaml.safe_dump(raw))

    code = main(["simulate", "--config", str(path), "--hours", "1"])

    assert code == 2 and "exchange.venue" in capsys.readouterr().err
