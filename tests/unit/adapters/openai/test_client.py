"""The real openai client against the local fake server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.openai.client import OpenAIChatClient
from core.config import LlmConfig
from core.errors import LlmRateLimited, LlmRefused, LlmServerError, LlmTimeout, LlmUnavailable
from core.strategy.llm import SIGNAL_JSON_SCHEMA
from tests.fakes.openai_server import FakeOpenAIServer, Reply, signal_json

MESSAGES = [{"role": "user", "content": "decide"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def client(fake: FakeOpenAIServer, timeout_s: float = 5.0) -> OpenAIChatClient:
    return OpenAIChatClient(LlmConfig(base_url=fake.base_url, model="test-model", timeout_s=timeout_s), api_key=None)


def test_client_structured_request_returns_content_and_usage(fake: FakeOpenAIServer) -> None:
    fake.script(Reply(content=signal_json("hold", 0.5), prompt_tokens=11, completion_tokens=7))
    completion = client(fake).complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)
    assert '"hold"' in completion.content and (completion.prompt_tokens, completion.completion_tokens) == (11, 7)
    sent = fake.requests[0]
    assert sent["model"] == "test-model"
    assert sent["response_format"]["json_schema"]["schema"] == SIGNAL_JSON_SCHEMA
    assert sent["response_format"]["json_schema"]["strict"] is True


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(status=429), LlmRateLimited),
        (Reply(status=500), LlmServerError),
        (Reply(status=503), LlmServerError),
        (Reply(status=401), LlmUnavailable),
        (Reply(refusal="I cannot help with trading"), LlmRefused),
    ],
)
def test_client_failure_is_a_typed_error(fake: FakeOpenAIServer, reply: Reply, error: type[Exception]) -> None:
    fake.script(reply)
    with pytest.raises(error):
        client(fake).complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)


def test_client_slow_server_times_out(fake: FakeOpenAIServer) -> None:
    fake.script(Reply(content=signal_json(), delay_s=1.0))
    with pytest.raises(LlmTimeout):
        client(fake, timeout_s=0.2).complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)


def test_client_unreachable_server_is_unavailable() -> None:
    unreachable = OpenAIChatClient(LlmConfig(base_url="http://127.0.0.1:9/v1", timeout_s=2), api_key=None)
    with pytest.raises(LlmUnavailable):
        unreachable.complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)


def test_client_malformed_content_through_the_gateway_is_a_counted_no_trade(fake: FakeOpenAIServer) -> None:
    import threading

    from adapters.openai.gateway import LlmGateway
    from core.clock import ManualClock
    from core.strategy.llm import LlmOutcome, LlmThrottle

    fake.script(Reply(content="BUY NOW!!!"))
    config = LlmConfig(base_url=fake.base_url, min_interval_per_symbol_s=0)
    gateway = LlmGateway(OpenAIChatClient(config, api_key=None), max_concurrent=1,
                         throttle=LlmThrottle(config, ManualClock()), clock=ManualClock())
    outcomes: list[LlmOutcome] = []
    done = threading.Event()
    gateway.submit("BTC/USDT", MESSAGES, lambda o: (outcomes.append(o), done.set()))
    assert done.wait(timeout=5)
    stats = gateway.stats()
    gateway.close()
    assert outcomes[0].reply is None and outcomes[0].error_kind == "invalid_reply"
    assert stats["error_invalid_reply"] == 1 and stats["tokens"] == 120
