"""`autohedge run` with the LLM strategy against a local OpenAI-compatible fake, on the paper exchange."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.process import Run, run_for, write_config
from tests.fakes.openai_server import FakeOpenAIServer, Reply, signal_json

pytestmark = pytest.mark.e2e


def run(config: Path, tmp_path: Path, seconds: int) -> Run:
    """No keys in the environment: the model is the local fake or a replay file."""
    return run_for(
        config, tmp_path, seconds, env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": ""}, timeout_s=120
    )


def llm_config(tmp_path: Path, **changes: object) -> Path:
    """The LLM strategy on BTC/USDT alone, asking at most once a second."""
    return write_config(
        tmp_path,
        **{
            "strategy": "llm",
            "symbols": ["BTC/USDT"],
            "symbol_overrides": {},
            "synthetic.symbols": {},
            "llm.min_interval_per_symbol_s": 1,
            **changes,
        },
    )


def test_llm_strategy_model_approved_entry_is_filled_and_protected(tmp_path: Path) -> None:
    record = tmp_path / "llm.jsonl"
    with FakeOpenAIServer() as fake:
        fake.set_default(Reply(content=signal_json("buy", 0.9, reasoning="dip worth buying")))
        config = llm_config(
            tmp_path,
            **{"llm.base_url": fake.base_url, "llm.model": "local-test", "llm.record_file": str(record)},
        )
        out = run(config, tmp_path, 6)
        assert fake.requests, "the model was never asked"
    counters = out.summary["counters"]
    assert counters["orders_filled"] >= 1 and counters["exits_armed"] >= 1
    assert out.summary["positions"] and all(p["protected"] for p in out.summary["positions"])
    assert len(record.read_text(encoding="utf-8").splitlines()) >= 1


def test_llm_replay_file_trades_without_any_server(tmp_path: Path) -> None:
    replay = tmp_path / "replay.jsonl"
    replay.write_text(
        "".join(
            json.dumps(
                {
                    "key": "k",
                    "request": {},
                    "response": {
                        "content": signal_json("buy", 0.95),
                        "prompt_tokens": 10,
                        "completion_tokens": 5,
                    },
                }
            )
            + "\n"
            for _ in range(3)
        ),
        encoding="utf-8",
    )
    config = llm_config(tmp_path, **{"llm.base_url": "http://127.0.0.1:9/v1", "llm.replay_file": str(replay)})
    out = run(config, tmp_path, 5)
    assert out.summary["counters"]["orders_filled"] >= 1
