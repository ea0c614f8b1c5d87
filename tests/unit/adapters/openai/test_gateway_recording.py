"""Gateway concurrency, newest-only requests, budget pause; recording and replay."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from pydantic import SecretStr

from autohedge.adapters.openai.client import LlmCompletion, OpenAIChatClient
from autohedge.adapters.openai.gateway import LlmGateway
from autohedge.adapters.openai.recording import RecordingClient, ReplayClient
from autohedge.core.clock import ManualClock
from autohedge.core.config import LlmConfig
from autohedge.core.errors import LlmRateLimited, LlmUnavailable
from autohedge.core.strategy.llm import SIGNAL_JSON_SCHEMA, LlmOutcome, LlmThrottle
from tests.fakes.openai_server import FakeOpenAIServer, signal_json


class GatedClient:
    """Blocks every call until released; counts concurrency."""

    def __init__(self, content: str = signal_json("hold", 0.5)) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.started = threading.Semaphore(0)
        self.content = content
        self.calls: list[list[dict[str, str]]] = []

    def complete(self, messages: list[dict[str, str]], *, schema: dict[str, Any]) -> LlmCompletion:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(messages)
        self.started.release()
        self.release.wait(timeout=10)
        with self.lock:
            self.active -= 1
        return LlmCompletion(self.content, 100, 20)

    def close(self) -> None:
        self.release.set()


class Collector:
    def __init__(self, expected: int) -> None:
        self.outcomes: list[LlmOutcome] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.expected = expected

    def __call__(self, outcome: LlmOutcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)
            if len(self.outcomes) >= self.expected:
                self.done.set()


def gateway(client: Any, clock: ManualClock, *, threaded: bool = True, **llm: Any) -> LlmGateway:
    config = LlmConfig(**{"min_interval_per_symbol_s": 0, "max_calls_per_minute": 1000, **llm})
    return LlmGateway(
        client,
        max_concurrent=config.max_concurrent,
        throttle=LlmThrottle(config, clock),
        clock=clock,
        threaded=threaded,
    )


def msgs(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_gateway_concurrency_is_bounded() -> None:
    client, clock = GatedClient(), ManualClock()
    gw = gateway(client, clock, max_concurrent=2)
    done = Collector(4)
    for symbol in ("A/USD", "B/USD", "C/USD", "D/USD"):
        gw.submit(symbol, msgs(symbol), done)
    assert client.started.acquire(timeout=5) and client.started.acquire(timeout=5)
    assert not client.started.acquire(timeout=0.05)  # the third waits for a free worker
    client.release.set()
    assert done.done.wait(timeout=5)
    gw.close()
    assert client.max_active == 2


def test_gateway_newest_pending_request_replaces_older_one() -> None:
    client, clock = GatedClient(), ManualClock()
    gw = gateway(client, clock, max_concurrent=1)
    done = Collector(2)
    gw.submit("A/USD", msgs("busy"), done)
    assert client.started.acquire(timeout=5)
    gw.submit("B/USD", msgs("old"), done)
    newest = gw.submit("B/USD", msgs("new"), done)
    client.release.set()
    assert done.done.wait(timeout=5)
    gw.close()
    assert [m[0]["content"] for m in client.calls] == ["busy", "new"]
    assert gw.stats()["dropped"] == 1 and done.outcomes[-1].request_id == newest


def test_gateway_pauses_when_the_token_budget_is_spent() -> None:
    client, clock = GatedClient(), ManualClock()
    client.release.set()
    gw = gateway(client, clock, daily_token_budget=200)
    done = Collector(2)
    assert gw.submit("A/USD", msgs("1"), done) is not None
    assert gw.submit("B/USD", msgs("2"), done) is not None
    assert done.done.wait(timeout=5)
    assert gw.paused and gw.submit("C/USD", msgs("3"), done) is None
    gw.close()


def test_gateway_per_symbol_interval_throttles() -> None:
    client, clock = GatedClient(), ManualClock()
    client.release.set()
    gw = gateway(client, clock, min_interval_per_symbol_s=30)
    done = Collector(1)
    assert gw.submit("A/USD", msgs("1"), done) is not None
    assert gw.submit("A/USD", msgs("2"), done) is None
    clock.advance(30)
    assert gw.submit("A/USD", msgs("3"), done) is not None
    gw.close()


def test_gateway_invalid_reply_is_a_counted_no_trade() -> None:
    client, clock = GatedClient(content="{not json"), ManualClock()
    client.release.set()
    gw = gateway(client, clock)
    done = Collector(1)
    gw.submit("A/USD", msgs("x"), done)
    assert done.done.wait(timeout=5)
    gw.close()
    assert done.outcomes[0].reply is None and done.outcomes[0].error_kind == "invalid_reply"
    assert gw.stats()["error_invalid_reply"] == 1


class Scripted:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def complete(self, messages: list[dict[str, str]], *, schema: dict[str, Any]) -> LlmCompletion:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return LlmCompletion(answer, 10, 5)

    def close(self) -> None:
        return None


def test_recording_then_replay_serves_the_same_answers_without_a_server(tmp_path: Path) -> None:
    path = tmp_path / "llm.jsonl"
    recorder = RecordingClient(Scripted(signal_json("buy"), LlmRateLimited("429")), path, ManualClock())
    first = recorder.complete(msgs("one"), schema=SIGNAL_JSON_SCHEMA)
    with pytest.raises(LlmRateLimited):
        recorder.complete(msgs("two"), schema=SIGNAL_JSON_SCHEMA)

    replay = ReplayClient(path)

    assert replay.complete(msgs("one"), schema=SIGNAL_JSON_SCHEMA) == first
    with pytest.raises(LlmRateLimited):
        replay.complete(msgs("two"), schema=SIGNAL_JSON_SCHEMA)


class Exploding:
    """A client with a bug: raises something that is not an LlmError, then answers normally."""

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages: list[dict[str, str]], *, schema: dict[str, Any]) -> LlmCompletion:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("client bug")
        return LlmCompletion(signal_json("buy"), 10, 5)

    def close(self) -> None:
        return None


def test_gateway_unexpected_client_exception_is_a_no_trade_and_the_worker_survives() -> None:
    gw = gateway(Exploding(), ManualClock(), max_concurrent=1)
    first, second = Collector(1), Collector(1)

    gw.submit("A/USD", msgs("1"), first)
    assert first.done.wait(timeout=5)
    gw.submit("B/USD", msgs("2"), second)
    assert second.done.wait(timeout=5)
    stats = gw.stats()
    gw.close()

    assert first.outcomes[0].reply is None and first.outcomes[0].error_kind == "error"
    assert second.outcomes[0].reply is not None and stats["error_error"] == 1


def test_gateway_answer_after_close_is_not_delivered() -> None:
    client, clock = GatedClient(), ManualClock()
    gw = gateway(client, clock, max_concurrent=1)
    done = Collector(1)
    gw.submit("A/USD", msgs("1"), done)
    assert client.started.acquire(timeout=5)

    closer = threading.Thread(target=gw.close)
    closer.start()
    deadline_s = time.monotonic() + 5
    while not gw.closed:
        assert time.monotonic() < deadline_s
    client.release.set()
    closer.join(timeout=5)

    assert not closer.is_alive() and done.outcomes == []


def test_gateway_resumes_with_one_log_line_on_the_next_utc_day() -> None:
    client, clock = GatedClient(), ManualClock()
    client.release.set()
    gw = gateway(client, clock, daily_token_budget=100)
    done = Collector(1)
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="INFO", format="{message}")
    try:
        gw.submit("A/USD", msgs("1"), done)
        assert done.done.wait(timeout=5)
        paused = [gw.submit("A/USD", msgs(str(n)), done) for n in range(3)]
        clock.advance(24 * 3600)
        resumed = gw.submit("A/USD", msgs("next day"), done)
    finally:
        logger.remove(sink)
        gw.close()

    assert paused == [None, None, None] and resumed is not None
    assert sum("llm_paused" in line for line in lines) == 1
    assert sum("llm_resumed" in line for line in lines) == 1


def test_replay_unknown_request_falls_back_to_file_order_then_runs_out(tmp_path: Path) -> None:
    path = tmp_path / "llm.jsonl"
    recorder = RecordingClient(Scripted(signal_json("buy"), signal_json("hold")), path, ManualClock())
    recorder.complete(msgs("one"), schema=SIGNAL_JSON_SCHEMA)
    recorder.complete(msgs("two"), schema=SIGNAL_JSON_SCHEMA)
    replay = ReplayClient(path)

    served = [replay.complete(msgs(f"other {n}"), schema=SIGNAL_JSON_SCHEMA).content for n in range(2)]

    assert served == [signal_json("buy"), signal_json("hold")]
    with pytest.raises(LlmUnavailable):
        replay.complete(msgs("three"), schema=SIGNAL_JSON_SCHEMA)


def test_recording_real_client_keeps_the_key_out_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "llm.jsonl"
    key = "sk-made-up-recording-key"
    with FakeOpenAIServer() as fake:
        inner = OpenAIChatClient(LlmConfig(base_url=fake.base_url), api_key=SecretStr(key))
        recorder = RecordingClient(inner, path, ManualClock())
        recorder.complete(msgs("one"), schema=SIGNAL_JSON_SCHEMA)
        recorder.close()
        sent = fake.authorizations

    record = json.loads(path.read_text(encoding="utf-8"))
    assert sent == [f"Bearer {key}"] and key not in path.read_text(encoding="utf-8")
    assert record["request"]["messages"] == msgs("one") and "response" in record


def test_replay_unreadable_file_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "llm.jsonl"
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(LlmUnavailable, match="replay file"):
        ReplayClient(path)


def test_driven_gateway_calls_nothing_until_run_pending_then_answers_in_submission_order() -> None:
    client = Scripted(signal_json("buy"), signal_json("sell"))
    gw = gateway(client, ManualClock(), threaded=False, max_concurrent=4)
    done = Collector(2)
    first = gw.submit("B/USD", msgs("b"), done)
    gw.submit("A/USD", msgs("a-old"), done)
    newest = gw.submit("A/USD", msgs("a"), done)
    assert client.answers and not done.outcomes  # no worker took anything

    made = gw.run_pending()

    assert made == 2 and [o.request_id for o in done.outcomes] == [first, newest]
    assert [o.reply.action for o in done.outcomes if o.reply] == ["buy", "sell"]
    assert gw.run_pending() == 0 and gw.stats()["dropped"] == 1
    gw.close()


def test_threaded_gateway_refuses_to_be_driven() -> None:
    gw = gateway(Scripted(), ManualClock())
    with pytest.raises(RuntimeError, match="threaded=False"):
        gw.run_pending()
    gw.close()
